// dsn.h — delivery status notifications: the bounce and delay messages sent to a sender.
//
// BuildDsn() writes a complete RFC 3464 / RFC 6522 multipart/report message (RFC 3461 fields, RFC
// 3834 Auto-Submitted) ready to be spooled with a null reverse-path: a human explanation in the
// style of Postfix's bounce(8), the machine-readable delivery-status part and the original message
// (or only its header section when it is larger than max_original_bytes). Every value that comes
// from a peer's reply or from the original is sanitized so that it cannot break the structure.
// A pure function over its input (the views must stay valid during the call); thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"

namespace tidegate::mail {

struct DsnRecipient {
  std::string address;     // original envelope recipient
  std::string action;      // "failed" or "delayed" (RFC 3464 §2.3.3; others are sent as "failed")
  std::string status;      // "5.1.1"; a malformed value becomes 5.0.0 / 4.0.0 by action
  std::string remote_mta;  // "dns; mx.example.com" or ""
  std::string diagnostic;  // "smtp; 550 5.1.1 no such user" or ""
  base::SystemTime last_attempt{};  // the epoch = no attempt: the field is left out
};

struct DsnInput {
  std::string reporting_mta;  // our hostname
  std::string sender;         // original envelope sender: the DSN's RCPT TO; never empty
  std::uint64_t original_mid = 0;
  base::SystemTime arrival{};
  base::SystemTime now{};
  std::vector<DsnRecipient> recipients;        // at least one
  std::string_view original;                   // the stored message bytes
  std::size_t max_original_bytes = 64 * 1024;  // larger: return headers only (text/rfc822-headers)
  std::string message_id_domain;               // for the DSN's own Message-ID; "" = reporting_mta
};

// The complete message with CRLF line endings. Preconditions (asserted): sender is not empty
// (no DSN is ever sent for a null-sender message) and there is at least one recipient.
// Every line the builder writes is at most 998 octets; the returned original keeps its own lines.
// The result is 8-bit only if the original or an SMTPUTF8 address is.
std::string BuildDsn(const DsnInput& in);

}  // namespace tidegate::mail
