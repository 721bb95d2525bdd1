// layout.cc — see layout.h.
#include "admin/layout.h"

#include <fmt/format.h>

#include <array>

#include "admin/text_codec.h"

namespace tidegate::admin {

namespace {

// Small, self-contained, readable on a laptop screen; colours after the ESA's grey and blue.
constexpr std::string_view kStyle = R"css(
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;
 color:#1d2733;background:#f3f5f7}
header{background:#1d3b57;color:#fff;display:flex;align-items:center;gap:24px;padding:0 20px}
header .brand{font-weight:600;font-size:16px;padding:12px 0;white-space:nowrap}
nav{display:flex;gap:18px;flex:1;flex-wrap:wrap}
nav .group{padding:6px 0}
nav .group>span{display:block;font-size:11px;text-transform:uppercase;letter-spacing:.05em;
 color:#a9c1d9}
nav a{color:#fff;text-decoration:none;margin-right:12px}
nav a:hover,nav a.current{text-decoration:underline}
header .user{white-space:nowrap;font-size:13px}
header .user form{display:inline;margin-left:8px}
main{max-width:1200px;margin:20px auto;padding:0 20px}
h1{font-size:20px;font-weight:600;margin:0 0 16px}
h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0 16px}
th,td{border:1px solid #d5dce3;padding:6px 10px;text-align:left;vertical-align:top}
th{background:#e8edf2;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.panel{background:#fff;border:1px solid #d5dce3;padding:16px 20px;margin-bottom:16px}
label{display:inline-block;min-width:200px;font-weight:600}
.field{margin:10px 0}
input[type=text],input[type=password],input[type=email],input[type=number],select,textarea{
 font:inherit;padding:5px 7px;border:1px solid #9aa8b6;border-radius:3px;min-width:280px}
button,input[type=submit]{font:inherit;padding:5px 14px;border:1px solid #1d3b57;
 border-radius:3px;background:#28567f;color:#fff;cursor:pointer}
button.link{background:none;border:none;color:inherit;text-decoration:underline;padding:0}
.error{color:#a11;font-weight:600}
.notice{background:#e7f4e4;border:1px solid #9bc590;padding:8px 12px;margin-bottom:12px}
.alert{background:#fbeaea;border:1px solid #d99;padding:8px 12px;margin-bottom:12px}
.muted{color:#5b6b7b}
pre{background:#fff;border:1px solid #d5dce3;padding:10px;overflow-x:auto}
.login{max-width:380px;margin:80px auto}
.login input[type=text],.login input[type=password]{width:100%;min-width:0}
.login label{display:block;min-width:0;margin-bottom:4px}
form.inline{display:inline;margin:0 2px 0 0}
button.small{padding:1px 7px;font-size:12px}
label.choice{min-width:0;font-weight:normal}
textarea{vertical-align:top}
table.kv{width:auto}
table.kv th{width:220px}
tr.down td{background:#fdf3f3}
.cluster-mode .mode{margin:0 0 6px}
.cluster-mode summary{cursor:pointer;color:#28567f}
pre#headers{white-space:pre-wrap;word-break:break-all}
.staged{margin:0;border-left:4px solid #c77c02;background:#fff8e6;padding:8px 16px}
.staged form.inline{display:inline-block;margin:4px 8px 0 0}
pre#diff,pre#config{white-space:pre-wrap;word-break:break-all}
ol.events{background:#fff;border:1px solid #d5dce3;padding:10px 10px 10px 40px;
 font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
ol.events li{margin:2px 0;white-space:pre-wrap;word-break:break-word}
)css";

struct NavLink {
  std::string_view group;
  std::string_view label;
  std::string_view href;
};

constexpr std::array<NavLink, 10> kNav = {{
    {"Security Services", "Anti-Spam", "/ui/security/antispam"},
    {"Security Services", "Anti-Virus", "/ui/security/antivirus"},
    {"Security Services", "Recipient Validation", "/ui/recipient-validation"},
    {"Security Services", "Threat Defense Connector Settings", "/ui/tdc"},
    {"Mail Policies", "Incoming Mail Policies", "/ui/policies"},
    {"Monitor", "Delivery Status", "/ui/status"},
    {"Monitor", "Message Tracking", "/ui/tracking"},
    {"Monitor", "Quarantine", "/ui/quarantine"},
    {"System Administration", "Cluster", "/ui/cluster"},
    {"System Administration", "Configuration History", "/ui/configs"},
}};

bool InSection(std::string_view path, std::string_view href) {
  return path == href || (path.size() > href.size() && path.substr(0, href.size()) == href &&
                          path[href.size()] == '/');
}

std::string Navigation(const Request& request) {
  std::string out = "<nav>";
  std::string_view open_group;
  for (const NavLink& link : kNav) {
    if (link.group != open_group) {
      if (!open_group.empty()) out += "</div>";
      out += fmt::format("<div class=\"group\"><span>{}</span>", HtmlEscape(link.group));
      open_group = link.group;
    }
    out += fmt::format("<a href=\"{}\"{}>{}</a>", link.href,
                       InSection(request.path, link.href) ? " class=\"current\"" : "",
                       HtmlEscape(link.label));
  }
  out += "</div></nav>";
  return out;
}

}  // namespace

std::string CsrfField(const Request& request) {
  return fmt::format("<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">",
                     HtmlEscape(request.csrf_token));
}

std::string Layout(const Request& request, std::string title, std::string body_html,
                   int refresh_seconds, std::string_view banner_html) {
  std::string head_extra;
  if (refresh_seconds > 0) {
    head_extra = fmt::format("<meta http-equiv=\"refresh\" content=\"{}\">", refresh_seconds);
  }
  std::string top;
  if (!request.user.empty()) {
    top = Navigation(request) +
          fmt::format(
              "<div class=\"user\">Logged in as <strong>{}</strong>"
              "<form method=\"post\" action=\"/logout\">{}"
              "<button type=\"submit\" class=\"link\">Log Out</button></form></div>",
              HtmlEscape(request.user), CsrfField(request));
  }
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{}"
      "<title>{} — tidegate</title><style>{}</style></head>\n<body>"
      "<header><div class=\"brand\">tidegate</div>{}</header>\n{}"
      "<main><h1>{}</h1>\n{}\n</main></body></html>\n",
      head_extra, HtmlEscape(title), kStyle, top, banner_html, HtmlEscape(title), body_html);
}

std::string LoginPage(const Request& request, std::string_view login_token, std::string_view next,
                      std::string_view error) {
  std::string body = "<div class=\"login panel\">";
  if (!error.empty()) body += fmt::format("<p class=\"alert\">{}</p>", HtmlEscape(error));
  body += fmt::format(
      "<form method=\"post\" action=\"/login\">"
      "<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">"
      "<input type=\"hidden\" name=\"next\" value=\"{}\">"
      "<div class=\"field\"><label for=\"user\">Username</label>"
      "<input type=\"text\" id=\"user\" name=\"user\" autocomplete=\"username\" autofocus "
      "required></div>"
      "<div class=\"field\"><label for=\"password\">Passphrase</label>"
      "<input type=\"password\" id=\"password\" name=\"password\" "
      "autocomplete=\"current-password\" required></div>"
      "<div class=\"field\"><button type=\"submit\">Log In</button></div></form></div>",
      HtmlEscape(login_token), HtmlEscape(next));
  Request anonymous;
  anonymous.path = request.path;
  return Layout(anonymous, "Log In", body);
}

}  // namespace tidegate::admin
