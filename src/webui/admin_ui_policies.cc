// admin_ui_policies.cc — Mail Policies › Incoming Mail Policies (see admin_ui.h): the ordered
// table, add, edit, move, delete (with a confirm page) and each policy's Threat Defense
// Connector page. DEFAULT is always last: it has no patterns, and cannot be renamed, moved or
// deleted, so those controls are not offered for it (ConfigEditor refuses them anyway).
#include <fmt/format.h>

#include <map>

#include "admin/layout.h"
#include "webui/admin_common.h"
#include "webui/admin_ui_internal.h"

namespace tidegate::webui::ui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;

std::string PolicyUrl(std::string_view name, std::string_view action) {
  return fmt::format("/ui/policies/{}/{}", Url(name), action);
}

namespace {

constexpr const char* kTitle = "Incoming Mail Policies";

bool IsDefault(std::string_view name) { return name == config::kDefaultPolicyName; }

std::string PatternsCell(const std::vector<std::string>& patterns, std::string_view none) {
  if (patterns.empty()) return fmt::format("<span class=\"muted\">{}</span>", Esc(none));
  std::string out;
  for (const std::string& p : patterns) out += (out.empty() ? "" : "<br>") + Esc(p);
  return out;
}

std::string MoveButton(const Request& req, std::string_view name, std::string_view direction,
                       std::string_view label) {
  return fmt::format(
      "<form method=\"post\" action=\"{}\" class=\"inline\">{}"
      "<input type=\"hidden\" name=\"direction\" value=\"{}\">"
      "<button type=\"submit\" class=\"small\" title=\"Move {} {}\">{}</button></form>",
      Esc(PolicyUrl(name, "move")), admin::CsrfField(req), direction, Esc(name), direction, label);
}

std::string TableBody(const Request& req, const config::GatewayConfig& cfg) {
  std::string body;
  if (req.param("saved") == "1")
    body += Notice("Your changes have been saved. Commit them (above) to put them in effect.");
  body += fmt::format(
      "<p>Threat Defense Connector: <strong>{}</strong>, global Message Intake Address "
      "<strong>{}</strong> (<a href=\"/ui/tdc\">settings</a>). Policies are matched in order; "
      "the first policy that matches a recipient applies to it.</p>",
      cfg.tdc.enabled ? "Enabled" : "Disabled",
      cfg.tdc.intake_address ? Esc(cfg.tdc.intake_address->str()) : "(not set)");
  body +=
      "<table id=\"policies\"><thead><tr><th class=\"num\">Order</th><th>Policy Name</th>"
      "<th>Recipients</th><th>Senders</th><th>Anti-Spam</th><th>Anti-Virus</th>"
      "<th>Threat Defense Connector</th><th>Actions</th>"
      "</tr></thead><tbody>";
  const std::size_t n = cfg.policies.size();
  for (std::size_t i = 0; i < n; ++i) {
    const config::Policy& p = cfg.policies[i];
    const bool is_default = IsDefault(p.name);
    std::string name_cell = is_default ? Esc(p.name)
                                       : fmt::format("<a href=\"{}\">{}</a>",
                                                     Esc(PolicyUrl(p.name, "edit")), Esc(p.name));
    std::string actions;
    if (!is_default) {
      // The last movable place is just above DEFAULT.
      if (i > 0) actions += MoveButton(req, p.name, "up", "&#9650;");
      if (i + 2 < n) actions += MoveButton(req, p.name, "down", "&#9660;");
      actions += fmt::format(" <a href=\"{}\">Edit</a> <a href=\"{}\">Delete</a>",
                             Esc(PolicyUrl(p.name, "edit")), Esc(PolicyUrl(p.name, "delete")));
    }
    body += fmt::format(
        "<tr data-policy=\"{}\"><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td class=\"antispam\"><a href=\"{}\">{}</a></td>"
        "<td class=\"antivirus\"><a href=\"{}\">{}</a></td>"
        "<td class=\"tdc\"><a href=\"{}\">{}</a></td><td class=\"actions\">{}</td></tr>",
        Esc(p.name), i + 1, name_cell,
        PatternsCell(p.recipients, is_default ? "All recipients" : "Any"),
        PatternsCell(p.senders, is_default ? "All senders" : "Any"),
        Esc(PolicyUrl(p.name, "antispam")), Esc(PolicyAntiSpamDisplay(cfg, p)),
        Esc(PolicyUrl(p.name, "antivirus")), Esc(PolicyAntiVirusDisplay(cfg, p)),
        Esc(PolicyUrl(p.name, "tdc")), Esc(PolicyTdcDisplay(cfg, p)), actions);
  }
  body += "</tbody></table><p><a href=\"/ui/policies/add\">Add Policy...</a></p>";
  return body;
}

// ---- add / edit ---------------------------------------------------------------------------

struct PolicyForm {
  std::string name;
  std::string recipients;  // as typed
  std::string senders;
  std::size_t position = 0;  // add only: 0-based index
  std::map<std::string, std::string> errors;
  std::string alert;
};

// Which field an editor error is about, so that it can be shown beside that field.
std::string FieldOf(std::string_view message) {
  if (message.find("name") != std::string_view::npos ||
      message.find("DEFAULT") != std::string_view::npos) {
    return "name";
  }
  if (message.find("sender") != std::string_view::npos) return "senders";
  return "recipients";
}

std::string PolicyFormBody(const Request& req, const config::GatewayConfig& cfg,
                           const PolicyForm& f, std::string_view action, bool adding) {
  auto error = [&](const char* id) {
    auto it = f.errors.find(id);
    return it == f.errors.end() ? std::string() : FieldError(id, it->second);
  };
  std::string position;
  if (adding) {
    position =
        "<div class=\"field\"><label for=\"position\">Order</label>"
        "<select id=\"position\" name=\"position\">";
    // A new policy may go anywhere above DEFAULT (the last index).
    for (std::size_t i = 0; i < cfg.policies.size(); ++i) {
      position += fmt::format("<option value=\"{}\"{}>{}{}</option>", i + 1,
                              i == f.position ? " selected" : "", i + 1,
                              i + 1 == cfg.policies.size() ? " (above DEFAULT)" : "");
    }
    position += "</select></div>";
  }
  return Alert(f.alert) +
         fmt::format(
             "<form method=\"post\" action=\"{}\" class=\"panel\">{}"
             "<div class=\"field\"><label for=\"name\">Policy Name</label>"
             "<input type=\"text\" id=\"name\" name=\"name\" value=\"{}\" maxlength=\"64\"> {}"
             "</div>{}"
             "<div class=\"field\"><label for=\"recipients\">Recipients</label>"
             "<textarea id=\"recipients\" name=\"recipients\" rows=\"4\">{}</textarea> {}</div>"
             "<div class=\"field\"><label for=\"senders\">Senders</label>"
             "<textarea id=\"senders\" name=\"senders\" rows=\"3\">{}</textarea> {}</div>"
             "<p class=\"muted\">One pattern a line: <code>user@example.com</code>, "
             "<code>@example.com</code>, <code>@.example.com</code> (subdomains), "
             "<code>user@</code>. No senders: any sender.</p>{}"
             "<div class=\"field\"><button type=\"submit\">Submit</button> "
             "<a href=\"/ui/policies\">Cancel</a></div></form>",
             Esc(action), admin::CsrfField(req), Esc(f.name), error("name"), position,
             Esc(f.recipients), error("recipients"), Esc(f.senders), error("senders"),
             CommentField(cfg));
}

PolicyForm FormFromRequest(const Request& req) {
  PolicyForm f;
  f.name = Trim(req.field("name"));
  f.recipients = req.field("recipients");
  f.senders = req.field("senders");
  return f;
}

// Local checks that name the field; the editor validates everything again.
bool CheckForm(PolicyForm& f) {
  if (f.name.empty()) f.errors["name"] = "A policy name is required.";
  if (SplitPatterns(f.recipients).empty() && SplitPatterns(f.senders).empty()) {
    f.errors["recipients"] = "Give at least one recipient or sender pattern.";
  }
  return f.errors.empty();
}

Response AddGet(const UiContext& ui, const Request& req) {
  const auto shown = UiConfig(ui, req);  // the staged configuration, if any
  const config::GatewayConfig& cfg = *shown;
  PolicyForm f;
  f.position = cfg.policies.size() - 1;
  return SectionPage(ui, req, 200, "Add Incoming Mail Policy",
              PolicyFormBody(req, cfg, f, "/ui/policies/add", true));
}

boost::asio::awaitable<Response> AddPost(const UiContext& ui, const Request& req) {
  auto cfg = UiConfig(ui, req);
  PolicyForm f = FormFromRequest(req);
  auto position = ParseU64(req.field("position"));
  f.position = position && *position >= 1 && *position <= cfg->policies.size()
                   ? *position - 1
                   : cfg->policies.size() - 1;
  auto fail = [&](int status) {
    return SectionPage(ui, req, status, "Add Incoming Mail Policy",
                PolicyFormBody(req, *cfg, f, "/ui/policies/add", true));
  };
  if (!CheckForm(f)) co_return fail(400);
  auto editor = LoadEditor(ui, req);
  if (!editor) {
    f.alert = editor.error().message;
    co_return fail(500);
  }
  config::PolicySpec spec{.name = f.name,
                          .recipients = SplitPatterns(f.recipients),
                          .senders = SplitPatterns(f.senders),
                          .tdc = {}};
  if (base::Status s = editor->AddPolicy(spec, f.position); !s) {
    f.errors[FieldOf(s.error().message)] = s.error().message;
    co_return fail(400);
  }
  if (EditOutcome r = co_await StageEdit(ui, *editor, req); !r.ok()) {
    f.alert = r.message;
    co_return fail(r.http_status);
  }
  ui.server->Audit(req, fmt::format("policyconfig add {} at {}", f.name, f.position + 1));
  co_return Response::Redirect("/ui/policies?saved=1", 303);
}

boost::asio::awaitable<Response> EditPage(const UiContext& ui, const Request& req, const config::Policy& p) {
  auto cfg = UiConfig(ui, req);
  const std::string title = "Edit Incoming Mail Policy: " + p.name;
  const std::string action = PolicyUrl(p.name, "edit");
  PolicyForm f;
  if (req.method == "GET") {
    f.name = p.name;
    f.recipients = Join(p.recipients, "\n");
    f.senders = Join(p.senders, "\n");
    co_return SectionPage(ui, req, 200, title, PolicyFormBody(req, *cfg, f, action, false));
  }
  f = FormFromRequest(req);
  auto fail = [&](int status) {
    return SectionPage(ui, req, status, title, PolicyFormBody(req, *cfg, f, action, false));
  };
  if (!CheckForm(f)) co_return fail(400);
  auto editor = LoadEditor(ui, req);
  if (!editor) {
    f.alert = editor.error().message;
    co_return fail(500);
  }
  config::PolicySpec spec{.name = f.name,
                          .recipients = SplitPatterns(f.recipients),
                          .senders = SplitPatterns(f.senders),
                          .tdc = p.tdc};
  if (base::Status s = editor->UpdatePolicy(p.name, spec); !s) {
    f.errors[FieldOf(s.error().message)] = s.error().message;
    co_return fail(400);
  }
  if (EditOutcome r = co_await StageEdit(ui, *editor, req); !r.ok()) {
    f.alert = r.message;
    co_return fail(r.http_status);
  }
  ui.server->Audit(req, fmt::format("policyconfig edit {}{}", p.name,
                                    f.name != p.name ? " rename " + f.name : ""));
  co_return Response::Redirect("/ui/policies?saved=1", 303);
}

// ---- move / delete ----------------------------------------------------------------------

boost::asio::awaitable<Response> MovePost(const UiContext& ui, const Request& req, const config::Policy& p) {
  auto cfg = UiConfig(ui, req);
  std::size_t index = 0;
  while (cfg->policies[index].name != p.name) ++index;
  const std::string direction = req.field("direction");
  std::size_t target = index;
  if (direction == "up" && index > 0) target = index - 1;
  if (direction == "down" && index + 2 < cfg->policies.size()) target = index + 1;
  if (direction != "up" && direction != "down") {
    co_return MessagePage(req, 400, kTitle, "direction must be up or down");
  }
  if (target == index) co_return Response::Redirect("/ui/policies", 303);
  auto editor = LoadEditor(ui, req);
  if (!editor) co_return MessagePage(req, 500, kTitle, editor.error().message);
  if (base::Status s = editor->MovePolicy(p.name, target); !s) {
    co_return MessagePage(req, 400, kTitle, s.error().message);
  }
  if (EditOutcome r = co_await StageEdit(ui, *editor, req); !r.ok()) {
    co_return MessagePage(req, r.http_status, kTitle, r.message);
  }
  ui.server->Audit(req, fmt::format("policyconfig move {} to {}", p.name, target + 1));
  co_return Response::Redirect("/ui/policies?saved=1", 303);
}

boost::asio::awaitable<Response> DeletePage(const UiContext& ui, const Request& req, const config::Policy& p) {
  const std::string title = "Delete Incoming Mail Policy";
  if (IsDefault(p.name)) {
    co_return MessagePage(req, 400, title, "The DEFAULT policy cannot be deleted.");
  }
  if (req.method == "GET") {
    co_return SectionPage(ui, req, 200, title,
                fmt::format("<form method=\"post\" action=\"{}\" class=\"panel\">{}"
                            "<p>Delete the policy <strong>{}</strong>? Its recipients will be "
                            "handled by the policies below it.</p>"
                            "{}<button type=\"submit\">Delete</button> "
                            "<a href=\"/ui/policies\">Cancel</a></form>",
                            Esc(PolicyUrl(p.name, "delete")), admin::CsrfField(req), Esc(p.name),
                            CommentField(*UiConfig(ui, req))));
  }
  auto editor = LoadEditor(ui, req);
  if (!editor) co_return MessagePage(req, 500, title, editor.error().message);
  if (base::Status s = editor->DeletePolicy(p.name); !s) {
    co_return MessagePage(req, 400, title, s.error().message);
  }
  if (EditOutcome r = co_await StageEdit(ui, *editor, req); !r.ok()) {
    co_return MessagePage(req, r.http_status, title, r.message);
  }
  ui.server->Audit(req, "policyconfig delete " + p.name);
  co_return Response::Redirect("/ui/policies?saved=1", 303);
}

// ---- the policy's Threat Defense Connector page --------------------------------------------

struct TdcChoice {
  std::string mode;  // global | custom | off | default
  std::string intake_address;
  std::string error;  // beside the custom address
  std::string alert;
};

std::string TdcBody(const Request& req, const config::GatewayConfig& cfg, const config::Policy& p,
                    const TdcChoice& c) {
  const bool is_default = IsDefault(p.name);
  auto radio = [&](std::string_view value, std::string label_html, std::string extra = "") {
    return fmt::format(
        "<div class=\"field\"><input type=\"radio\" id=\"mode-{0}\" name=\"mode\" "
        "value=\"{0}\"{1}> <label class=\"choice\" for=\"mode-{0}\">{2}</label>{3}</div>",
        value, c.mode == value ? " checked" : "", label_html, extra);
  };
  std::string body = Alert(c.alert);
  if (!cfg.tdc.enabled) {
    body += Alert(
        "The Threat Defense Connector is disabled globally: no journal copies are made, "
        "whatever the policies say.");
  }
  body += fmt::format("<form method=\"post\" action=\"{}\" class=\"panel\">{}",
                      Esc(PolicyUrl(p.name, "tdc")), admin::CsrfField(req));
  body += fmt::format("<p>Policy: <strong>{}</strong></p>", Esc(p.name));
  body +=
      radio("global", fmt::format("Use Global Settings ({})",
                                  cfg.tdc.intake_address ? Esc(cfg.tdc.intake_address->str())
                                                         : "no global Message Intake Address set"));
  body += radio("custom", "Use custom Message Intake Address",
                fmt::format(" <input type=\"text\" id=\"intake_address\" name=\"intake_address\" "
                            "value=\"{}\" size=\"60\" spellcheck=\"false\" "
                            "aria-label=\"Custom Message Intake Address\"> {}",
                            Esc(c.intake_address), FieldError("intake_address", c.error)));
  body += radio("off", "No");
  if (!is_default) body += radio("default", "Use Default Policy settings");
  body += CommentField(cfg);
  body +=
      "<div class=\"field\"><button type=\"submit\">Submit</button> "
      "<a href=\"/ui/policies\">Cancel</a></div></form>";
  return body;
}

boost::asio::awaitable<Response> TdcPage(const UiContext& ui, const Request& req, const config::Policy& p) {
  auto cfg = UiConfig(ui, req);
  const std::string title = "Threat Defense Connector: " + p.name;
  TdcChoice c;
  if (req.method == "GET") {
    c.mode = PolicyTdcModeName(p.tdc.mode);
    if (p.tdc.intake_address) c.intake_address = p.tdc.intake_address->str();
    co_return SectionPage(ui, req, 200, title, TdcBody(req, *cfg, p, c));
  }
  c.mode = req.field("mode");
  c.intake_address = Trim(req.field("intake_address"));
  auto fail = [&](int status) {
    return SectionPage(ui, req, status, title, TdcBody(req, *cfg, p, c));
  };
  config::PolicyTdc tdc;
  if (c.mode == "global") {
    tdc.mode = config::PolicyTdcMode::kGlobal;
  } else if (c.mode == "off") {
    tdc.mode = config::PolicyTdcMode::kOff;
  } else if (c.mode == "default" && !IsDefault(p.name)) {
    tdc.mode = config::PolicyTdcMode::kDefault;
  } else if (c.mode == "custom") {
    tdc.mode = config::PolicyTdcMode::kCustom;
    auto address = mail::ParseMailbox(c.intake_address);
    if (c.intake_address.empty()) {
      c.error = "Enter the Message Intake Address.";
      co_return fail(400);
    }
    if (!address) {
      c.error = "Invalid address: " + address.error().message;
      co_return fail(400);
    }
    tdc.intake_address = *address;
  } else {
    c.alert = "Choose one of the settings.";
    co_return fail(400);
  }
  auto editor = LoadEditor(ui, req);
  if (!editor) {
    c.alert = editor.error().message;
    co_return fail(500);
  }
  if (base::Status s = editor->SetPolicyTdc(p.name, tdc); !s) {
    (tdc.mode == config::PolicyTdcMode::kCustom ? c.error : c.alert) = s.error().message;
    co_return fail(400);
  }
  if (EditOutcome r = co_await StageEdit(ui, *editor, req); !r.ok()) {
    c.alert = r.message;
    co_return fail(r.http_status);
  }
  ui.server->Audit(req, fmt::format("policyconfig tdc {} {}{}", p.name, c.mode,
                                    tdc.intake_address ? " " + tdc.intake_address->str() : ""));
  co_return Response::Redirect("/ui/policies?saved=1", 303);
}

// /ui/policies/<name>/<action>
boost::asio::awaitable<Response> PolicyAction(const UiContext& ui, const Request& req) {
  const std::string& rest = req.subpath;
  const auto slash = rest.rfind('/');
  if (slash == std::string::npos) {
    co_return MessagePage(req, 404, kTitle, "No such page.");
  }
  const std::string name = rest.substr(0, slash);
  const std::string action = rest.substr(slash + 1);
  auto cfg = UiConfig(ui, req);
  const config::Policy* p = cfg->FindPolicy(name);
  if (p == nullptr) co_return MessagePage(req, 404, kTitle, "No policy named " + name + ".");
  const bool post = req.method == "POST";
  if (action == "tdc") co_return co_await TdcPage(ui, req, *p);
  if (action == "antispam" || action == "antivirus") co_return co_await ScanPage(ui, req, *p, action);
  if (action == "delete") co_return co_await DeletePage(ui, req, *p);
  if (action == "edit") {
    if (IsDefault(p->name)) {
      co_return MessagePage(req, 400, kTitle,
                         "The DEFAULT policy applies to every recipient no other policy matches: "
                         "only its security settings can be changed.");
    }
    co_return co_await EditPage(ui, req, *p);
  }
  if (action == "move" && post) co_return co_await MovePost(ui, req, *p);
  co_return MessagePage(req, 404, kTitle, "No such page.");
}

}  // namespace

void RegisterPolicyPages(admin::Server& server, const UiPtr& ui) {
  server.Page("GET", "/ui/policies", [ui](Request& req) -> asio::awaitable<Response> {
    co_return SectionPage(*ui, req, 200, kTitle, TableBody(req, *UiConfig(*ui, req)));
  });
  server.Page("GET", "/ui/policies/add", [ui](Request& req) -> asio::awaitable<Response> {
    co_return AddGet(*ui, req);
  });
  server.Page("POST", "/ui/policies/add",
              [ui](Request& req) -> asio::awaitable<Response> { co_return co_await AddPost(*ui, req); });
  for (const char* method : {"GET", "POST"}) {
    server.Page(method, "/ui/policies/*", [ui](Request& req) -> asio::awaitable<Response> {
      co_return co_await PolicyAction(*ui, req);
    });
  }
}

}  // namespace tidegate::webui::ui
