// console_pages.cc — see console_pages.h.
#include "intake/console_pages.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace tidegate::intake {
namespace {

constexpr int kRefreshSeconds = 5;

constexpr std::string_view kStyle = R"css(
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2630;background:#f4f6f8}
header{background:#0b3954;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#fff;text-decoration:none}header strong{font-size:16px}
main{padding:16px 24px;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d5dbe1;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#e8edf2}td.mono,pre,code{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#fff;border:1px solid #d5dbe1;padding:10px;white-space:pre-wrap;word-break:break-all}
.box{background:#fff;border:1px solid #d5dbe1;padding:14px 18px;margin:12px 0}
.addr{font-size:17px;font-family:ui-monospace,monospace;background:#fff8d6;padding:6px 10px}
.err{color:#a40000;font-weight:600}.muted{color:#64707d}
fieldset{border:1px solid #d5dbe1;margin:10px 0;background:#fff}
button{padding:6px 14px;font-size:14px}
)css";

std::string Layout(std::string_view title, std::string_view body, int refresh_seconds = 0) {
  std::string refresh;
  if (refresh_seconds > 0) {
    refresh = fmt::format("<meta http-equiv=\"refresh\" content=\"{}\">", refresh_seconds);
  }
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{}"
      "<title>{} — tidegate intake</title><style>{}</style></head><body>"
      "<header><strong>tidegate intake</strong><a href=\"/\">Accounts</a>"
      "<a href=\"/setup\">Set up an account</a></header><main>{}</main></body></html>\n",
      refresh, HtmlEscape(title), kStyle, body);
}

std::string JoinEscaped(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += "<br>";
    out += HtmlEscape(s);
  }
  return out;
}

std::string SenderText(const std::string& sender) { return sender.empty() ? "<>" : sender; }

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string DisplayTime(base::SystemTime t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string IsoTime(base::SystemTime t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

std::string AccountsPage(const std::vector<AccountRecord>& accounts,
                         const std::map<std::string, std::uint64_t>& counts) {
  std::string rows;
  for (const AccountRecord& a : accounts) {
    auto it = counts.find(a.name);
    rows += fmt::format(
        "<tr><td><a href=\"/accounts/{0}\">{0}</a></td><td class=\"mono\">{1}</td><td>{2}</td>"
        "<td>{3}</td><td>{4}</td></tr>",
        HtmlEscape(a.name), HtmlEscape(a.intake_address), it == counts.end() ? 0 : it->second,
        a.gateway_in_front ? HtmlEscape(a.remote_ip_header) : "topmost Received: header",
        a.source == "config" ? "configuration file" : "console setup");
  }
  std::string body = fmt::format(
      "<h1>Accounts</h1><p>Each account receives the journal copies a gateway sends to its "
      "Message Intake Address.</p><table><tr><th>Account</th><th>Message Intake Address</th>"
      "<th>Messages</th><th>Client IP from</th><th>Created in</th></tr>{}</table>"
      "<p><a href=\"/setup\">Set up a new account</a></p>",
      rows);
  return Layout("Accounts", body);
}

std::string MessagesPage(const AccountRecord& account, const std::vector<MessageRecord>& messages,
                         std::uint64_t total) {
  std::string rows;
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    const MessageRecord& m = *it;
    rows += fmt::format(
        "<tr><td><a href=\"/messages/{}\">{}</a></td><td class=\"mono\">{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
        m.id, HtmlEscape(DisplayTime(m.received_at)),
        HtmlEscape(m.remote_ip.empty() ? "unknown" : m.remote_ip), HtmlEscape(SenderText(m.sender)),
        JoinEscaped(m.recipients), HtmlEscape(m.subject), HtmlEscape(m.message_id),
        m.journal ? "journal report" : "<span class=\"err\">not a journal report</span>");
  }
  if (rows.empty()) rows = "<tr><td colspan=\"7\" class=\"muted\">No messages yet.</td></tr>";
  std::string body = fmt::format(
      "<h1>Account {}</h1><div class=\"box\">Message Intake Address: <span class=\"addr\">{}"
      "</span></div><p class=\"muted\">{} messages, newest first (the last {} shown); this page "
      "refreshes every {} seconds. JSON: <a href=\"/api/v1/messages?account={}\">"
      "/api/v1/messages?account={}</a></p><table><tr><th>Received</th><th>Remote IP</th>"
      "<th>Sender</th><th>Recipients</th><th>Subject</th><th>Message-ID</th><th>Kind</th></tr>"
      "{}</table>",
      HtmlEscape(account.name), HtmlEscape(account.intake_address), total, messages.size(),
      kRefreshSeconds, HtmlEscape(account.name), HtmlEscape(account.name), rows);
  return Layout("Account " + account.name, body, kRefreshSeconds);
}

std::string MessagePage(const MessageRecord& m, std::string_view header_section) {
  std::string body = fmt::format(
      "<h1>Message {}</h1><p><a href=\"/accounts/{}\">Back to account {}</a></p><table>"
      "<tr><th>Received</th><td>{}</td></tr><tr><th>Remote IP</th><td class=\"mono\">{}</td></tr>"
      "<tr><th>Sender</th><td>{}</td></tr><tr><th>Recipients</th><td>{}</td></tr>"
      "<tr><th>Subject</th><td>{}</td></tr><tr><th>Message-ID</th><td class=\"mono\">{}</td></tr>"
      "<tr><th>Journal report</th><td>{}</td></tr><tr><th>Size</th><td>{} bytes</td></tr></table>"
      "<h2>Headers of the original message</h2><pre>{}</pre>"
      "<p><a href=\"/messages/{}/raw\">Download the original (.eml)</a></p>",
      m.id, HtmlEscape(m.account), HtmlEscape(m.account), HtmlEscape(DisplayTime(m.received_at)),
      HtmlEscape(m.remote_ip.empty() ? "unknown" : m.remote_ip), HtmlEscape(SenderText(m.sender)),
      JoinEscaped(m.recipients), HtmlEscape(m.subject), HtmlEscape(m.message_id),
      m.journal ? "yes (unwrapped)" : "no (stored as received)", m.size,
      HtmlEscape(header_section), m.id);
  return Layout(fmt::format("Message {}", m.id), body);
}

std::string SetupPage(std::string_view csrf_token, const SetupForm& form, std::string_view error) {
  std::string error_html;
  if (!error.empty()) error_html = "<p class=\"err\">" + HtmlEscape(error) + "</p>";
  const auto checked = [](bool on) { return on ? " checked" : ""; };
  std::string body = fmt::format(
      "<h1>Set up a new account</h1>{0}"
      "<form method=\"post\" action=\"/setup\">"
      "<input type=\"hidden\" name=\"csrf_token\" value=\"{1}\">"
      "<fieldset><legend>Account name</legend><input name=\"name\" value=\"{2}\" "
      "maxlength=\"64\" required pattern=\"[A-Za-z0-9_\\-][A-Za-z0-9_.\\-]*\"></fieldset>"
      "<fieldset><legend>Is there a gateway in front of your mailboxes?</legend>"
      "<label><input type=\"radio\" name=\"gateway\" value=\"yes\"{3}> Yes</label> "
      "<label><input type=\"radio\" name=\"gateway\" value=\"no\"{4}> No</label></fieldset>"
      "<fieldset><legend>Which header carries the real client IP?</legend>"
      "<label><input type=\"radio\" name=\"header_choice\" value=\"default\"{5}> {6} "
      "(default)</label><br><label><input type=\"radio\" name=\"header_choice\" "
      "value=\"custom\"{7}> Custom header: </label><input name=\"custom_header\" value=\"{8}\" "
      "maxlength=\"76\"><p class=\"muted\">Only used with a gateway in front; without one the "
      "client IP is read from the topmost Received: header.</p></fieldset>"
      "<fieldset><legend>Message direction</legend><label><input type=\"radio\" "
      "name=\"direction\" value=\"incoming\" checked> Incoming</label></fieldset>"
      "<fieldset><legend>Policy</legend><label><input type=\"radio\" name=\"visibility\" "
      "value=\"visibility-only\" checked> Visibility only</label></fieldset>"
      "<button type=\"submit\">Generate the Message Intake Address</button></form>",
      error_html, HtmlEscape(csrf_token), HtmlEscape(form.name), checked(form.gateway_in_front),
      checked(!form.gateway_in_front), checked(!form.custom_header),
      HtmlEscape(kDefaultRemoteIpHeader), checked(form.custom_header), HtmlEscape(form.header));
  return Layout("Set up an account", body);
}

std::string SetupDonePage(const AccountRecord& a) {
  std::string body = fmt::format(
      "<h1>Account {0} is ready</h1><div class=\"box\"><p>Message Intake Address:</p>"
      "<p class=\"addr\">{1}</p><p>Enter it in the gateway's Threat Defense Connector settings "
      "(globally, or as a policy's custom Message Intake Address). It is also shown on the "
      "<a href=\"/accounts/{0}\">account page</a>.</p></div><table>"
      "<tr><th>Gateway in front</th><td>{2}</td></tr><tr><th>Client IP from</th><td>{3}</td></tr>"
      "<tr><th>Message direction</th><td>{4}</td></tr><tr><th>Policy</th><td>{5}</td></tr>"
      "</table>",
      HtmlEscape(a.name), HtmlEscape(a.intake_address), a.gateway_in_front ? "yes" : "no",
      a.gateway_in_front ? HtmlEscape(a.remote_ip_header) : "topmost Received: header",
      HtmlEscape(a.direction), HtmlEscape(a.visibility));
  return Layout("Account " + a.name, body);
}

std::string ErrorPage(int status, std::string_view reason, std::string_view detail) {
  return Layout(fmt::format("{} {}", status, reason),
                fmt::format("<h1>{} {}</h1><p>{}</p>", status, HtmlEscape(reason),
                            HtmlEscape(detail)));
}

nlohmann::json MessageJson(const MessageRecord& m) {
  return nlohmann::json{
      {"id", m.id},
      {"account", m.account},
      {"received_at", IsoTime(m.received_at)},
      {"remote_ip", m.remote_ip},
      {"sender", m.sender},
      {"recipients", m.recipients},
      {"subject", m.subject},
      {"message_id", m.message_id},
      {"journal", m.journal},
      {"size", m.size},
  };
}

nlohmann::json AccountJson(const AccountRecord& a, std::uint64_t messages) {
  return nlohmann::json{
      {"name", a.name},
      {"intake_address", a.intake_address},
      {"source", a.source},
      {"gateway_in_front", a.gateway_in_front},
      {"remote_ip_header", a.remote_ip_header},
      {"direction", a.direction},
      {"visibility", a.visibility},
      {"messages", messages},
  };
}

}  // namespace tidegate::intake
