// trace_headers.cc — see trace_headers.h.
#include "inbound/trace_headers.h"

#include <ctime>

namespace tidegate::inbound {
namespace {

// Printable ASCII without the characters that would end a comment or a header.
std::string Safe(std::string_view text, size_t max = 255) {
  std::string out;
  for (unsigned char c : text.substr(0, max)) {
    out.push_back(c > 32 && c < 127 && c != '(' && c != ')' && c != '\\' ? static_cast<char>(c)
                                                                          : '?');
  }
  return out;
}

// RFC 3848 / RFC 6531 §4.3 "with" protocol types.
std::string_view WithProtocol(const TraceInfo& info) {
  if (info.smtputf8) return info.tls ? "UTF8SMTPS" : "UTF8SMTP";
  if (!info.esmtp) return "SMTP";
  return info.tls ? "ESMTPS" : "ESMTP";
}

}  // namespace

std::string Rfc5322Date(base::SystemTime when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S %z", &tm);
  return buf;
}

std::string BuildReceivedHeader(const TraceInfo& info) {
  std::string h = "Received: from ";
  h += info.helo.empty() ? "unknown" : Safe(info.helo);
  h += " (";
  h += info.reverse_dns.empty() ? "unknown" : Safe(info.reverse_dns);
  h += " [" + Safe(info.client_ip) + "])\r\n\tby " + Safe(info.hostname) + " (tidegate) with ";
  h += WithProtocol(info);
  h += " id " + std::to_string(info.mid);
  if (info.tls) {
    h += "\r\n\t(version=" + Safe(info.tls_protocol) + " cipher=" + Safe(info.tls_cipher) + ")";
  }
  if (!info.for_recipient.empty()) h += "\r\n\tfor <" + Safe(info.for_recipient) + ">";
  h += "; " + Rfc5322Date(info.when) + "\r\n";
  return h;
}

std::string BuildRemoteIpHeader(std::string_view header_name, std::string_view client_ip) {
  return Safe(header_name, 76) + ": " + Safe(client_ip) + "\r\n";
}

}  // namespace tidegate::inbound
