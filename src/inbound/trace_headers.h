// trace_headers.h — the header lines the gateway prepends to every message it accepts:
// a Received: line (RFC 5321 §4.4) and the remote-IP header (e.g. X-IronPort-RemoteIP) that the
// threat-defense intake reads. Pure functions; thread-safe. Inputs come from the SMTP session and
// are already free of CR/LF/NUL; anything outside printable ASCII is replaced again here, so a
// header line can never be broken by client input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"

namespace tidegate::inbound {

struct TraceInfo {
  std::string helo;          // as given by the client
  std::string client_ip;
  std::string reverse_dns;   // "" when unknown
  std::string hostname;      // ours
  std::uint64_t mid = 0;
  bool esmtp = true;
  bool smtputf8 = false;     // the transaction's MAIL carried SMTPUTF8 (implies esmtp)
  bool tls = false;
  std::string tls_protocol;  // "TLSv1.3" when tls
  std::string tls_cipher;
  std::string for_recipient; // only when the message has exactly one recipient
  base::SystemTime when;
};

// "Received: from ...\r\n\tby ...\r\n" (folded, CRLF terminated). The "with" protocol is
// the IANA Mail Transmission Types name: SMTP, ESMTP, ESMTPS, or for a transaction that used
// SMTPUTF8 UTF8SMTP / UTF8SMTPS (RFC 6531 §4.3). No AUTH is offered, so never the *A forms.
std::string BuildReceivedHeader(const TraceInfo& info);

// "<name>: <ip>\r\n".
std::string BuildRemoteIpHeader(std::string_view header_name, std::string_view client_ip);

// RFC 5322 date-time in local time, e.g. "Fri, 16 Feb 2024 21:19:22 -0600".
std::string Rfc5322Date(base::SystemTime when);

}  // namespace tidegate::inbound
