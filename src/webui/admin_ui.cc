// admin_ui.cc — see admin_ui.h. This file: the shared helpers, registration and the Threat
// Defense Connector Settings page; policies and monitor pages have their own files.
#include "webui/admin_ui.h"

#include <fmt/format.h>

#include <ctime>
#include <map>

#include "admin/layout.h"
#include "admin/text_codec.h"
#include "webui/admin_common.h"
#include "webui/admin_ui_internal.h"

namespace tidegate::webui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;

namespace ui {

std::string Esc(std::string_view text) { return admin::HtmlEscape(text); }

std::string Url(std::string_view text) { return admin::PercentEncode(text); }

namespace {
// The Web UI's staged changes, for the banner of every page (the gateway has one admin server).
const Staging* g_staging = nullptr;
}  // namespace

Response Page(const Request& request, int status, std::string title, std::string body,
              int refresh_seconds) {
  const std::string banner = g_staging != nullptr ? StagedBanner(*g_staging, request) : "";
  return Response::Html(status, admin::Layout(request, std::move(title), std::move(body),
                                              refresh_seconds, banner));
}

Response SectionPage(const UiContext& ui, const Request& request, int status, std::string title,
                     std::string body) {
  return Page(request, status, std::move(title),
              ClusterOptions(request, ui.ctx, SectionOfPage(request.path)) + body);
}

Response MessagePage(const Request& request, int status, std::string title,
                     std::string_view message) {
  return Page(request, status, std::move(title), Alert(message));
}

std::string Notice(std::string_view message) {
  if (message.empty()) return "";
  return fmt::format("<p class=\"notice\" role=\"status\">{}</p>", Esc(message));
}

std::string Alert(std::string_view message) {
  if (message.empty()) return "";
  return fmt::format("<p class=\"alert\" role=\"alert\">{}</p>", Esc(message));
}

std::string FieldError(std::string_view field_id, std::string_view message) {
  if (message.empty()) return "";
  return fmt::format("<span class=\"error\" id=\"{}-error\">{}</span>", Esc(field_id),
                     Esc(message));
}

std::vector<std::string> SplitPatterns(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  for (char c : text) {
    if (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

std::string Trim(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return std::string(text);
}

std::string Join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string LocalTime(base::SystemTime t, const char* format) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(t));
  std::tm tm{};
  localtime_r(&seconds, &tm);
  char buffer[96];
  const std::size_t n = std::strftime(buffer, sizeof buffer, format, &tm);
  return std::string(buffer, n);
}

namespace {
// Length of the well-formed UTF-8 sequence at s[0] (RFC 3629: no overlongs, no surrogates,
// at most U+10FFFF), or 0.
std::size_t Utf8Length(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xbf) return 0;
  }
  return n;
}
}  // namespace

std::string EscBytes(std::string_view bytes) {
  std::string text;
  text.reserve(bytes.size());
  while (!bytes.empty()) {
    const unsigned char c = static_cast<unsigned char>(bytes.front());
    const std::size_t n = Utf8Length(bytes);
    if (n == 0) {
      text += "\xEF\xBF\xBD";  // U+FFFD
      bytes.remove_prefix(1);
      continue;
    }
    if (n == 1 && (c < 0x20 || c == 0x7f) && c != '\t' && c != '\n') {
      if (c != '\r') text += fmt::format("\\x{:02X}", c);
    } else {
      text.append(bytes.substr(0, n));
    }
    bytes.remove_prefix(n);
  }
  return Esc(text);
}

}  // namespace ui

namespace {

using namespace ui;

struct TdcForm {
  bool enabled = false;
  std::string intake_address;
  std::map<std::string, std::string> errors;  // field id -> message
  std::string alert;                          // a failure not tied to a field
  std::string notice;
};

std::string TdcBody(const Request& req, const config::GatewayConfig& cfg, const TdcForm& f) {
  auto error = [&](const char* id) {
    auto it = f.errors.find(id);
    return it == f.errors.end() ? std::string() : FieldError(id, it->second);
  };
  std::string body = Notice(f.notice) + Alert(f.alert);
  body += fmt::format(
      "<form method=\"post\" action=\"/ui/tdc\" class=\"panel\">{}"
      "<div class=\"field\"><label for=\"enabled\">Enable Threat Defense Connector</label>"
      "<input type=\"checkbox\" id=\"enabled\" name=\"enabled\" value=\"on\"{}> {}</div>"
      "<div class=\"field\"><label for=\"intake_address\">Message Intake Address</label>"
      "<input type=\"text\" id=\"intake_address\" name=\"intake_address\" value=\"{}\" "
      "size=\"60\" spellcheck=\"false\"> {}</div>"
      "{}<div class=\"field\"><button type=\"submit\">Submit</button></div></form>",
      admin::CsrfField(req), f.enabled ? " checked" : "", error("enabled"), Esc(f.intake_address),
      error("intake_address"), CommentField(cfg));
  body += fmt::format(
      "<div class=\"panel\"><h2>Current settings</h2><table class=\"kv\">"
      "<tr><th>Threat Defense Connector</th><td>{}</td></tr>"
      "<tr><th>Message Intake Address</th><td>{}</td></tr>"
      "<tr><th>Service</th><td>{}</td></tr>"
      "<tr><th>Connections</th><td>{} to {}</td></tr></table>"
      "<p class=\"muted\">Per-policy settings: <a href=\"/ui/policies\">Incoming Mail "
      "Policies</a>.</p></div>",
      cfg.tdc.enabled ? "Enabled" : "Disabled",
      cfg.tdc.intake_address ? Esc(cfg.tdc.intake_address->str()) : "(not set)",
      Esc(cfg.tdc.service_name), cfg.tdc.min_connections, cfg.tdc.max_connections);
  return body;
}

constexpr const char* kTdcTitle = "Threat Defense Connector Settings";

Response TdcGet(const UiContext& ui, const Request& req) {
  auto cfg = UiConfig(ui, req);
  TdcForm f;
  f.enabled = cfg->tdc.enabled;
  if (cfg->tdc.intake_address) f.intake_address = cfg->tdc.intake_address->str();
  if (req.param("saved") == "1") {
    f.notice = "Your changes have been saved. Commit them (above) to put them in effect.";
  }
  return SectionPage(ui, req, 200, kTdcTitle, TdcBody(req, *cfg, f));
}

boost::asio::awaitable<Response> TdcPost(const UiContext& ui, const Request& req) {
  auto cfg = UiConfig(ui, req);
  TdcForm f;
  f.enabled = req.field("enabled") == "on";
  f.intake_address = Trim(req.field("intake_address"));
  const std::string current = cfg->tdc.intake_address ? cfg->tdc.intake_address->str() : "";
  auto editor = LoadEditor(ui, req);
  if (!editor) {
    f.alert = editor.error().message;
    co_return SectionPage(ui, req, 500, kTdcTitle, TdcBody(req, *cfg, f));
  }
  if (f.intake_address.empty()) {
    // The address cannot be removed, only replaced; it is needed only to enable.
    if (f.enabled) f.errors["intake_address"] = "A Message Intake Address is required.";
  } else if (f.intake_address != current) {
    if (base::Status s = editor->SetTdcIntakeAddress(f.intake_address); !s) {
      f.errors["intake_address"] = s.error().message;
    }
  }
  if (f.errors.empty()) {
    if (base::Status s = editor->SetTdcEnabled(f.enabled); !s) {
      f.errors["enabled"] = s.error().message;
    }
  }
  if (!f.errors.empty()) co_return SectionPage(ui, req, 400, kTdcTitle, TdcBody(req, *cfg, f));
  if (EditOutcome r = co_await StageEdit(ui, *editor, req); !r.ok()) {
    f.alert = r.message;
    co_return SectionPage(ui, req, r.http_status, kTdcTitle, TdcBody(req, *UiConfig(ui, req), f));
  }
  std::string what = fmt::format("tdcconfig {}", f.enabled ? "enable" : "disable");
  if (!f.intake_address.empty() && f.intake_address != current) {
    what += " intake_address " + f.intake_address;
  }
  ui.server->Audit(req, what);
  co_return Response::Redirect("/ui/tdc?saved=1", 303);
}

}  // namespace

void RegisterAdminUi(admin::Server& server, AdminContext context) {
  auto ui = std::make_shared<const UiContext>(UiContext{std::move(context), &server});
  ui::g_staging = ui->staging.get();
  RegisterStagingPages(server, ui);
  server.Page("GET", "/ui/tdc",
              [ui](Request& req) -> asio::awaitable<Response> { co_return TdcGet(*ui, req); });
  server.Page("POST", "/ui/tdc",
              [ui](Request& req) -> asio::awaitable<Response> { co_return co_await TdcPost(*ui, req); });
  RegisterPolicyPages(server, ui);
  RegisterMonitorPages(server, ui);
  RegisterQuarantinePages(server, ui);
  RegisterSecurityPages(server, ui);
  RegisterValidationPages(server, ui);
  RegisterClusterPages(server, ui);
}

}  // namespace tidegate::webui
