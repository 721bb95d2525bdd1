// unwrap.h — what the intake stores for a received message: a journal report is unwrapped into
// the original message and its envelope; anything else is kept as received and flagged.
//
// The sending client's IP comes from the ORIGINAL message: the FIRST `remote_ip_header` field
// (the gateway prepends its own at the top, so a forged one a sender put lower down is never
// read), or, when the account has no gateway in front (empty header name), the bracketed address
// of the topmost Received: field. A value that is not an IP address is ignored (unknown).
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tidegate::intake {

struct Unwrapped {
  bool journal = false;
  std::string sender;                   // "" = null sender
  std::vector<std::string> recipients;  // the original envelope recipients
  std::string subject;
  std::string message_id;
  std::string remote_ip;  // "" = unknown
  std::string original;   // the bytes to store
};

// `body` is the message as received by the intake's SMTP session. For a journal report the
// sender, recipients, Subject and Message-ID come from its first part (Subject and Message-ID
// fall back to the original's headers when the report leaves them empty) and the original is
// byte-exact. For other messages `envelope_sender`/`envelope_recipients` are used, Subject and
// Message-ID are read from its headers, and the remote IP is `client_ip` (the connecting
// client: the only address the intake knows first-hand for mail that was not journaled).
Unwrapped Unwrap(std::string_view body, std::string_view remote_ip_header,
                 std::string_view envelope_sender,
                 const std::vector<std::string>& envelope_recipients, std::string_view client_ip);

// The first `header` field of the message's header section, if it holds an IP address
// (surrounding space and brackets tolerated), normalised; else "".
std::string RemoteIpFromHeader(std::string_view message, std::string_view header);
// The bracketed IP in the topmost Received: field ("from x ([1.2.3.4])"), or "".
std::string RemoteIpFromReceived(std::string_view message);

}  // namespace tidegate::intake
