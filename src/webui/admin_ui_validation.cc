// admin_ui_validation.cc — Security Services › Recipient Validation (CONTRACT §13): the
// `recipient_validation` settings (always_accept, cache TTL, harvest limit, LDAP, call-ahead) as
// one form, saved through ConfigEditor::SetRecipientValidation and the live reload like the other
// settings pages; and the lookup test ("would this address be accepted, and why"), which runs
// CheckRecipient (recipient_check.h) without blocking the io thread and shows the verdict, the
// method that answered and its reason.
//
// The LDAP bind password is never shown or set here: the page edits only the name of the
// password file, whose content the operator writes on the gateway (mode 0600).
#include <fmt/format.h>

#include "admin/layout.h"
#include "base/units.h"
#include "config/editor.h"
#include "webui/admin_common.h"
#include "webui/admin_ui_internal.h"
#include "webui/recipient_check.h"

namespace tidegate::webui::ui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;

namespace {

constexpr const char* kTitle = "Recipient Validation";
constexpr const char* kPath = "/ui/recipient-validation";

std::string DurationText(config::Duration d) {
  return base::FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(d));
}

std::string DomainsText(const std::vector<config::DomainPattern>& domains) {
  std::vector<std::string> names;
  for (const auto& d : domains) names.push_back(d.str());
  return Join(names, ", ");
}

// The form's fields as text, so that a refused submission is shown again as typed.
struct Form {
  std::string always_accept, cache_ttl, max_invalid;
  bool ldap = false, starttls = false, call_ahead = false;
  std::string ldap_uri, ldap_base, ldap_bind_dn, ldap_password_file, ldap_filter, ldap_domains,
      ldap_timeout, ldap_on_failure;
  std::string call_ahead_domains, call_ahead_timeout, call_ahead_on_failure;
};

Form Current(const config::RecipientValidation& rv) {
  Form f;
  f.always_accept = Join(rv.always_accept, ", ");
  f.cache_ttl = DurationText(rv.cache_ttl);
  f.max_invalid = std::to_string(rv.max_invalid_recipients_per_hour);
  const config::LdapValidation l = rv.ldap.value_or(config::LdapValidation{});
  f.ldap = rv.ldap.has_value();
  f.ldap_uri = Join(l.uris, ", ");
  f.ldap_base = l.base;
  f.ldap_bind_dn = l.bind_dn;
  f.ldap_password_file = l.password_file;
  f.starttls = l.starttls;
  f.ldap_filter = l.filter;
  f.ldap_domains = DomainsText(l.domains);
  f.ldap_timeout = DurationText(l.timeout);
  f.ldap_on_failure = config::OnLookupFailureName(l.on_failure);
  const config::CallAheadValidation c = rv.call_ahead.value_or(config::CallAheadValidation{});
  f.call_ahead = rv.call_ahead.has_value();
  f.call_ahead_domains = DomainsText(c.domains);
  f.call_ahead_timeout = DurationText(c.timeout);
  f.call_ahead_on_failure = config::OnLookupFailureName(c.on_failure);
  return f;
}

Form FromRequest(const Request& req) {
  Form f;
  f.always_accept = Trim(req.field("always_accept"));
  f.cache_ttl = Trim(req.field("cache_ttl"));
  f.max_invalid = Trim(req.field("max_invalid"));
  f.ldap = req.field("ldap") == "on";
  f.ldap_uri = Trim(req.field("ldap_uri"));
  f.ldap_base = Trim(req.field("ldap_base"));
  f.ldap_bind_dn = Trim(req.field("ldap_bind_dn"));
  f.ldap_password_file = Trim(req.field("ldap_password_file"));
  f.starttls = req.field("ldap_starttls") == "on";
  f.ldap_filter = Trim(req.field("ldap_filter"));
  f.ldap_domains = Trim(req.field("ldap_domains"));
  f.ldap_timeout = Trim(req.field("ldap_timeout"));
  f.ldap_on_failure = req.field("ldap_on_failure");
  f.call_ahead = req.field("call_ahead") == "on";
  f.call_ahead_domains = Trim(req.field("call_ahead_domains"));
  f.call_ahead_timeout = Trim(req.field("call_ahead_timeout"));
  f.call_ahead_on_failure = req.field("call_ahead_on_failure");
  return f;
}

base::Result<config::Duration> ParseDurationField(std::string_view label, const std::string& s) {
  auto d = base::ParseDuration(s);
  if (!d) return base::MakeError(fmt::format("{}: invalid duration '{}' (e.g. 5s, 10m)", label, s));
  return config::Duration(*d);
}

base::Result<std::vector<config::DomainPattern>> ParseDomains(std::string_view label,
                                                              const std::string& s) {
  std::vector<config::DomainPattern> out;
  for (const std::string& name : SplitPatterns(s)) {
    auto d = mail::ParseDomainPattern(name);
    if (!d) return base::MakeError(fmt::format("{}: invalid domain '{}'", label, name));
    out.push_back(std::move(*d));
  }
  return out;
}

base::Result<config::OnLookupFailure> ParseOnFailure(std::string_view label, const std::string& s) {
  if (s == "tempfail") return config::OnLookupFailure::kTempFail;
  if (s == "accept") return config::OnLookupFailure::kAccept;
  return base::MakeError(fmt::format("{}: expected tempfail or accept", label));
}

// The syntax of each field; the editor then checks the whole section as the loader does.
base::Result<config::RecipientValidation> ToSetting(const Form& f) {
  config::RecipientValidation rv;
  rv.always_accept = SplitPatterns(f.always_accept);
  auto ttl = ParseDurationField("Cache TTL", f.cache_ttl);
  if (!ttl) return ttl.error();
  rv.cache_ttl = *ttl;
  auto max = ParseU64(f.max_invalid);
  if (!max || *max > 0xffffffffu) {
    return base::MakeError("Harvest limit: expected a whole number (0 = off)");
  }
  rv.max_invalid_recipients_per_hour = static_cast<std::uint32_t>(*max);
  if (f.ldap) {
    config::LdapValidation l;
    l.uris = SplitPatterns(f.ldap_uri);
    if (l.uris.empty()) return base::MakeError("LDAP server URI: at least one is required");
    l.base = f.ldap_base;
    if (l.base.empty()) return base::MakeError("LDAP search base: required");
    l.bind_dn = f.ldap_bind_dn;
    l.password_file = f.ldap_password_file;
    l.starttls = f.starttls;
    l.filter = f.ldap_filter;
    auto domains = ParseDomains("LDAP domains", f.ldap_domains);
    if (!domains) return domains.error();
    l.domains = std::move(*domains);
    auto timeout = ParseDurationField("LDAP timeout", f.ldap_timeout);
    if (!timeout) return timeout.error();
    l.timeout = *timeout;
    auto on_failure = ParseOnFailure("LDAP on failure", f.ldap_on_failure);
    if (!on_failure) return on_failure.error();
    l.on_failure = *on_failure;
    rv.ldap = std::move(l);
  }
  if (f.call_ahead) {
    config::CallAheadValidation c;
    auto domains = ParseDomains("Call-ahead domains", f.call_ahead_domains);
    if (!domains) return domains.error();
    if (domains->empty()) return base::MakeError("Call-ahead domains: at least one is required");
    c.domains = std::move(*domains);
    auto timeout = ParseDurationField("Call-ahead timeout", f.call_ahead_timeout);
    if (!timeout) return timeout.error();
    c.timeout = *timeout;
    auto on_failure = ParseOnFailure("Call-ahead on failure", f.call_ahead_on_failure);
    if (!on_failure) return on_failure.error();
    c.on_failure = *on_failure;
    rv.call_ahead = std::move(c);
  }
  return rv;
}

std::string TextField(std::string_view id, std::string_view label, const std::string& value,
                      std::string_view hint = "") {
  return fmt::format(
      "<div class=\"field\"><label for=\"{0}\">{1}</label><input type=\"text\" id=\"{0}\" "
      "name=\"{0}\" value=\"{2}\" size=\"50\"> <span class=\"muted\">{3}</span></div>",
      id, Esc(label), Esc(value), Esc(hint));
}

std::string CheckBox(std::string_view id, std::string_view label, bool checked) {
  return fmt::format(
      "<div class=\"field\"><input type=\"checkbox\" id=\"{0}\" name=\"{0}\" value=\"on\"{1}> "
      "<label class=\"choice\" for=\"{0}\">{2}</label></div>",
      id, checked ? " checked" : "", Esc(label));
}

std::string OnFailureSelect(std::string_view id, const std::string& selected) {
  std::string out = fmt::format(
      "<div class=\"field\"><label for=\"{0}\">On failure</label><select id=\"{0}\" "
      "name=\"{0}\">",
      id);
  for (const char* v : {"tempfail", "accept"}) {
    out += fmt::format("<option value=\"{0}\"{1}>{2}</option>", v, selected == v ? " selected" : "",
                       std::string_view(v) == "tempfail" ? "tempfail (451 4.4.3)" : "accept");
  }
  return out +
         "</select> <span class=\"muted\">when the directory or next hop cannot answer</span>"
         "</div>";
}

std::string TestPanel(const Request& req, const AdminContext& ctx, const std::string& address,
                      const std::string& result_html) {
  std::string out = "<div class=\"panel\" id=\"lookup\"><h2>Lookup test</h2>";
  if (!ctx.test_recipient) {
    out += fmt::format(
        "<p class=\"alert\" id=\"not-running\">{}: the lookup test is "
        "unavailable.</p>",
        Esc(std::string(kValidationNotRunning)));
  }
  out += result_html;
  out += fmt::format(
      "<form method=\"post\" action=\"{}/test\">{}<div class=\"field\"><label for=\"address\">"
      "Would this address be accepted?</label><input type=\"text\" id=\"address\" "
      "name=\"address\" value=\"{}\" size=\"40\" placeholder=\"user@example.com\"> "
      "<button type=\"submit\" id=\"test\">Test</button></div>"
      "<p class=\"muted\">Asks as an SMTP session would at RCPT time (the cache included; the "
      "harvest count is not touched).</p></form></div>",
      kPath, admin::CsrfField(req), Esc(address));
  return out;
}

std::string Body(const Request& req, const UiContext& ui, const Form& f, const std::string& alert,
                 const std::string& test_address, const std::string& test_result) {
  const auto cfg = UiConfig(ui, req);
  std::string body = Alert(alert);
  if (req.param("saved") == "1") body += Notice("Recipient validation settings saved.");
  body += TestPanel(req, ui.ctx, test_address, test_result);
  body += fmt::format("<form method=\"post\" action=\"{}\" class=\"panel\" id=\"settings\">{}",
                      kPath, admin::CsrfField(req));
  body += "<h2>Settings</h2>";
  body += fmt::format(
      "<p class=\"muted\">Accepted domains: {}. Recipients in a domain that "
      "neither method lists are not validated.</p>",
      Esc(DomainsText(cfg->accepted_domains)));
  body += TextField("always_accept", "Always accept", f.always_accept,
                    "local parts (postmaster@) or full addresses; never looked up");
  body += TextField("cache_ttl", "Cache TTL", f.cache_ttl, "found / not found answers; 0 = none");
  body += TextField("max_invalid", "Harvest limit", f.max_invalid,
                    "unknown recipients per client IP and hour; 0 = off");
  body += "<h3>LDAP accept query</h3>";
  body += CheckBox("ldap", "Validate with LDAP", f.ldap);
  body += TextField("ldap_uri", "Server URIs", f.ldap_uri,
                    "ldap://host:389 or ldaps://host:636; several fail over in order");
  body += CheckBox("ldap_starttls", "StartTLS (ldap:// URIs)", f.starttls);
  body += TextField("ldap_base", "Search base", f.ldap_base, "e.g. dc=example,dc=com");
  body += TextField("ldap_bind_dn", "Bind DN", f.ldap_bind_dn, "empty: anonymous");
  body += TextField("ldap_password_file", "Password file", f.ldap_password_file,
                    "the bind password is read from this file (relative names: beside the "
                    "configuration); this page never shows or sets it");
  body += TextField("ldap_filter", "Filter", f.ldap_filter,
                    "{a} address, {u} local part, {d} domain (RFC 4515-escaped)");
  body += TextField("ldap_domains", "Domains", f.ldap_domains,
                    "empty: the accepted domains not listed under call-ahead");
  body += TextField("ldap_timeout", "Timeout", f.ldap_timeout, "connect, bind and search");
  body += OnFailureSelect("ldap_on_failure", f.ldap_on_failure);
  body += "<h3>SMTP call-ahead</h3>";
  body += CheckBox("call_ahead", "Validate by call-ahead", f.call_ahead);
  body += TextField("call_ahead_domains", "Domains", f.call_ahead_domains,
                    "required; these take precedence over LDAP");
  body += TextField("call_ahead_timeout", "Timeout", f.call_ahead_timeout, "the whole probe");
  body += OnFailureSelect("call_ahead_on_failure", f.call_ahead_on_failure);
  body += CommentField(*cfg);
  body += "<div class=\"field\"><button type=\"submit\" id=\"save\">Submit</button></div></form>";
  return body;
}

std::string ResultHtml(const RecipientCheck& check) {
  const validation::Verdict& v = check.verdict;
  const bool accepted = v.kind == validation::Verdict::Kind::kAccept;
  std::string rows = fmt::format(
      "<tr><th>Address</th><td>{}</td></tr>"
      "<tr><th>Verdict</th><td id=\"verdict\">{}</td></tr>"
      "<tr><th>Answered by</th><td id=\"method\">{}</td></tr>"
      "<tr><th>Reason</th><td id=\"reason\">{}</td></tr>",
      Esc(check.address), Esc(VerdictSummary(v, check.address)), Esc(VerdictSource(v)),
      v.reason.empty() ? "<span class=\"muted\">(none)</span>" : EscBytes(v.reason));
  return fmt::format(
      "<div class=\"{}\" role=\"status\" id=\"test-result\"><table class=\"kv\">{}"
      "</table></div>",
      accepted ? "notice" : "alert", rows);
}

std::string AuditLine(const config::RecipientValidation& rv) {
  std::string out = fmt::format(
      "recipient_validation always_accept={} cache_ttl={} max_invalid_recipients_per_hour={}",
      rv.always_accept.size(), DurationText(rv.cache_ttl), rv.max_invalid_recipients_per_hour);
  out += rv.ldap ? fmt::format(" ldap={} domains=[{}]", Join(rv.ldap->uris, ","),
                               DomainsText(rv.ldap->domains))
                 : std::string(" ldap=off");
  out += rv.call_ahead ? fmt::format(" call_ahead=[{}]", DomainsText(rv.call_ahead->domains))
                       : std::string(" call_ahead=off");
  return out;
}

}  // namespace

void RegisterValidationPages(admin::Server& server, const UiPtr& ui) {
  server.Page("GET", kPath, [ui](Request& req) -> asio::awaitable<Response> {
    const Form f = Current(UiConfig(*ui, req)->recipient_validation);
    co_return SectionPage(*ui, req, 200, kTitle, Body(req, *ui, f, "", "", ""));
  });
  server.Page("POST", kPath, [ui](Request& req) -> asio::awaitable<Response> {
    const Form f = FromRequest(req);
    auto fail = [&](int status, const std::string& message) {
      return SectionPage(*ui, req, status, kTitle, Body(req, *ui, f, message, "", ""));
    };
    auto setting = ToSetting(f);
    if (!setting) co_return fail(400, setting.error().message);
    auto editor = LoadEditor(*ui, req);
    if (!editor) co_return fail(500, editor.error().message);
    if (base::Status s = editor->SetRecipientValidation(*setting); !s) {
      co_return fail(400, s.error().message);
    }
    if (EditOutcome r = co_await StageEdit(*ui, *editor, req); !r.ok())
      co_return fail(r.http_status, r.message);
    ui->server->Audit(req, AuditLine(*setting));
    co_return Response::Redirect(std::string(kPath) + "?saved=1", 303);
  });
  server.Page(
      "POST", std::string(kPath) + "/test", [ui](Request& req) -> asio::awaitable<Response> {
        const std::string address = Trim(req.field("address"));
        const Form f = Current(UiConfig(*ui, req)->recipient_validation);
        auto check = co_await CheckRecipient(ui->ctx, address);
        if (!check) {
          const int status = CheckErrorStatus(check.error());
          const std::string html = fmt::format(
              "<p class=\"alert\" role=\"alert\" id=\"test-result\">Lookup test: {}</p>",
              Esc(check.error().message));
          co_return SectionPage(*ui, req, status, kTitle, Body(req, *ui, f, "", address, html));
        }
        co_return SectionPage(*ui, req, 200, kTitle,
                              Body(req, *ui, f, "", address, ResultHtml(*check)));
      });
}

}  // namespace tidegate::webui::ui
