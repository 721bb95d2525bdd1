// admin_ui_scan.cc — a policy's Anti-Spam and Anti-Virus pages (CONTRACT §10), linked from the
// Anti-Spam and Anti-Virus columns of Mail Policies › Incoming Mail Policies: "Use Default
// Policy settings" (not on DEFAULT), "No", or "Yes" with the action for each verdict and the
// subject tag. "Yes" is offered only while the engine's global section exists. Saving goes
// through ConfigEditor::SetPolicyAntiSpam / SetPolicyAntiVirus and the live reload, like the
// policy's TDC page.
#include <fmt/format.h>

#include <array>

#include "admin/layout.h"
#include "webui/admin_common.h"
#include "webui/admin_ui_internal.h"

namespace tidegate::webui::ui {

using admin::Request;
using admin::Response;

namespace {

// What differs between the two pages.
struct ScanKind {
  bool spam;
  std::string_view title;         // "Anti-Spam"
  std::string_view engine;        // "rspamd"
  std::string_view section;       // "anti_spam"
  std::string_view service_href;  // the Security Services page
  std::array<std::string_view, 2> labels;
};

constexpr ScanKind kSpam{true,
                         "Anti-Spam",
                         "rspamd",
                         "anti_spam",
                         "/ui/security/antispam",
                         {"Positively identified spam", "Suspected spam"}};
constexpr ScanKind kVirus{false,
                          "Anti-Virus",
                          "clamd",
                          "anti_virus",
                          "/ui/security/antivirus",
                          {"Virus infected messages", "Unscannable messages"}};

struct ScanForm {
  std::string mode;  // default | off | on
  std::array<std::string, 2> actions;
  std::string subject_tag;
  std::string alert;
};

// The policy's own setting; DEFAULT without a key is on with the default actions when the
// engine is configured (GatewayConfig::AntiSpamFor), off otherwise.
ScanForm Current(const ScanKind& kind, const config::GatewayConfig& cfg, const config::Policy& p) {
  ScanForm f;
  const bool is_default = p.name == config::kDefaultPolicyName;
  if (kind.spam) {
    const config::AntiSpamSettings s = p.anti_spam.mode == config::PolicyScanMode::kDefault
                                           ? cfg.AntiSpamFor(p)
                                           : p.anti_spam.settings;
    f.mode = PolicyScanModeName(p.anti_spam.mode);
    f.actions = {config::ScanActionName(s.positive), config::ScanActionName(s.suspect)};
    f.subject_tag = s.subject_tag;
  } else {
    const config::AntiVirusSettings s = p.anti_virus.mode == config::PolicyScanMode::kDefault
                                            ? cfg.AntiVirusFor(p)
                                            : p.anti_virus.settings;
    f.mode = PolicyScanModeName(p.anti_virus.mode);
    f.actions = {config::ScanActionName(s.infected), config::ScanActionName(s.unscannable)};
    f.subject_tag = s.subject_tag;
  }
  if (is_default && f.mode == "default") {
    const bool configured = kind.spam ? cfg.anti_spam.has_value() : cfg.anti_virus.has_value();
    f.mode = configured ? "on" : "off";
  }
  return f;
}

std::string ActionSelect(std::string_view id, std::string_view label, std::string_view selected) {
  std::string out = fmt::format(
      "<div class=\"field\"><label for=\"{0}\">{1}</label><select id=\"{0}\" name=\"{0}\">", id,
      Esc(label));
  for (config::ScanAction a : {config::ScanAction::kDeliver, config::ScanAction::kTag,
                               config::ScanAction::kQuarantine, config::ScanAction::kDrop}) {
    const std::string_view name = config::ScanActionName(a);
    out += fmt::format("<option value=\"{0}\"{1}>{0}</option>", name,
                       name == selected ? " selected" : "");
  }
  return out + "</select></div>";
}

std::string Body(const Request& req, const ScanKind& kind, const config::GatewayConfig& cfg,
                 const config::Policy& p, const ScanForm& f, std::string_view url) {
  const bool is_default = p.name == config::kDefaultPolicyName;
  const bool configured = kind.spam ? cfg.anti_spam.has_value() : cfg.anti_virus.has_value();
  auto radio = [&](std::string_view value, const std::string& label_html) {
    return fmt::format(
        "<div class=\"field\"><input type=\"radio\" id=\"mode-{0}\" name=\"mode\" "
        "value=\"{0}\"{1}> <label class=\"choice\" for=\"mode-{0}\">{2}</label></div>",
        value, f.mode == value ? " checked" : "", label_html);
  };
  std::string body = Alert(f.alert);
  if (!configured) {
    body += fmt::format(
        "<p class=\"alert\" id=\"not-configured\">The {} engine is not configured (no global "
        "<code>{}</code> section; see <a href=\"{}\">Security Services</a>): this policy "
        "cannot scan with it.</p>",
        Esc(kind.title), kind.section, kind.service_href);
  }
  body += fmt::format("<form method=\"post\" action=\"{}\" class=\"panel\">{}", Esc(url),
                      admin::CsrfField(req));
  body += fmt::format("<p>Policy: <strong>{}</strong></p>", Esc(p.name));
  if (!is_default) {
    const config::Policy& d = cfg.DefaultPolicy();
    body += radio("default", fmt::format("Use Default Policy settings ({})",
                                         Esc(kind.spam ? PolicyAntiSpamDisplay(cfg, d)
                                                       : PolicyAntiVirusDisplay(cfg, d))));
  }
  body += radio("off", fmt::format("No: no {} scanning", Esc(kind.title)));
  if (configured) {
    body += radio("on", fmt::format("Yes: scan with {}, and", kind.engine));
    const auto [first, second] = ScanActionFields(kind.spam);
    body += "<div class=\"panel\" id=\"actions\">";
    body += ActionSelect(first, kind.labels[0], f.actions[0]);
    body += ActionSelect(second, kind.labels[1], f.actions[1]);
    body += fmt::format(
        "<div class=\"field\"><label for=\"subject_tag\">Subject tag</label>"
        "<input type=\"text\" id=\"subject_tag\" name=\"subject_tag\" value=\"{}\" "
        "maxlength=\"100\"></div>"
        "<p class=\"muted\">deliver: as is; tag: delivered with the subject tag and a verdict "
        "header; quarantine: held in the {} quarantine; drop: not delivered. The settings "
        "apply when Yes is chosen.</p></div>",
        EscBytes(f.subject_tag), kind.spam ? "Spam" : "Virus");
  }
  body += CommentField(cfg);
  body +=
      "<div class=\"field\"><button type=\"submit\">Submit</button> "
      "<a href=\"/ui/policies\">Cancel</a></div></form>";
  return body;
}

}  // namespace

boost::asio::awaitable<Response> ScanPage(const UiContext& ui, const Request& req, const config::Policy& p,
                  std::string_view kind_name) {
  const ScanKind& kind = kind_name == "antispam" ? kSpam : kVirus;
  auto cfg = UiConfig(ui, req);
  const std::string title = fmt::format("{}: {}", kind.title, p.name);
  const std::string url = PolicyUrl(p.name, kind_name);
  if (req.method == "GET")
    co_return SectionPage(ui, req, 200, title,
                          Body(req, kind, *cfg, p, Current(kind, *cfg, p), url));
  ScanForm f;
  f.mode = req.field("mode");
  const auto [first, second] = ScanActionFields(kind.spam);
  f.actions = {req.field(first), req.field(second)};
  f.subject_tag = Trim(req.field("subject_tag"));
  auto fail = [&](int status, std::string message) {
    f.alert = std::move(message);
    return SectionPage(ui, req, status, title, Body(req, kind, *cfg, p, f, url));
  };
  ScanFields fields{{"mode", f.mode}, {"subject_tag", f.subject_tag}};
  if (f.mode == "on") {
    fields[first] = f.actions[0];
    fields[second] = f.actions[1];
  }
  auto change = ParseScanChange(kind_name, fields);
  if (!change) co_return fail(400, change.error().message);
  auto editor = LoadEditor(ui, req);
  if (!editor) co_return fail(500, editor.error().message);
  if (base::Status s = ApplyScanChange(*editor, p.name, *change); !s) {
    co_return fail(400, s.error().message);
  }
  if (EditOutcome r = co_await StageEdit(ui, *editor, req); !r.ok()) co_return fail(r.http_status, r.message);
  ui.server->Audit(req, ScanAuditLine(p.name, *change));
  co_return Response::Redirect("/ui/policies?saved=1", 303);
}

}  // namespace tidegate::webui::ui
