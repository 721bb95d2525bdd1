// unwrap.cc — see unwrap.h.
#include "intake/unwrap.h"

#include <arpa/inet.h>

#include "mail/headers.h"
#include "mail/journal_report.h"

namespace tidegate::intake {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The canonical text form of an IPv4 or IPv6 address, or "" if `text` is not one.
std::string NormaliseIp(std::string_view text) {
  text = Trim(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.size() > 5 && (text.substr(0, 5) == "IPv6:" || text.substr(0, 5) == "ipv6:")) {
    text.remove_prefix(5);
  }
  if (text.empty() || text.size() > 64) return "";
  const std::string s(text);
  char buf[INET6_ADDRSTRLEN];
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    return inet_ntop(AF_INET, &v4, buf, sizeof buf) ? buf : "";
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    return inet_ntop(AF_INET6, &v6, buf, sizeof buf) ? buf : "";
  }
  return "";
}

}  // namespace

std::string RemoteIpFromHeader(std::string_view message, std::string_view header) {
  if (header.empty()) return "";
  auto value = mail::FirstHeaderValue(mail::HeaderSection(message), header);
  return value ? NormaliseIp(*value) : "";
}

std::string RemoteIpFromReceived(std::string_view message) {
  auto value = mail::FirstHeaderValue(mail::HeaderSection(message), "Received");
  if (!value) return "";
  // "from helo (rdns [ip])": the first bracketed literal before " by " is the client.
  std::string_view v = *value;
  const size_t by = v.find(" by ");
  if (by != std::string_view::npos) v = v.substr(0, by);
  const size_t open = v.find('[');
  if (open == std::string_view::npos) return "";
  const size_t close = v.find(']', open);
  if (close == std::string_view::npos) return "";
  return NormaliseIp(v.substr(open + 1, close - open - 1));
}

Unwrapped Unwrap(std::string_view body, std::string_view remote_ip_header,
                 std::string_view envelope_sender,
                 const std::vector<std::string>& envelope_recipients, std::string_view client_ip) {
  Unwrapped out;
  mail::ParsedJournal report = mail::ParseJournalReport(body);
  if (!report.is_journal) {
    std::string_view headers = mail::HeaderSection(body);
    out.journal = false;
    out.sender = std::string(envelope_sender);
    out.recipients = envelope_recipients;
    out.subject = mail::FirstHeaderValue(headers, "Subject").value_or("");
    out.message_id = mail::FirstHeaderValue(headers, "Message-ID").value_or("");
    out.remote_ip = NormaliseIp(client_ip);
    out.original = std::string(body);
    return out;
  }
  out.journal = true;
  out.sender = std::move(report.sender);
  out.recipients = std::move(report.recipients);
  out.original = std::move(report.original);
  std::string_view original_headers = mail::HeaderSection(out.original);
  out.subject = !report.subject.empty()
                    ? std::move(report.subject)
                    : mail::FirstHeaderValue(original_headers, "Subject").value_or("");
  out.message_id = !report.message_id.empty()
                       ? std::move(report.message_id)
                       : mail::FirstHeaderValue(original_headers, "Message-ID").value_or("");
  out.remote_ip = remote_ip_header.empty() ? RemoteIpFromReceived(out.original)
                                           : RemoteIpFromHeader(out.original, remote_ip_header);
  return out;
}

}  // namespace tidegate::intake
