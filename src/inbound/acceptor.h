// acceptor.h — the hand-off from an SMTP session to the rest of the gateway.
//
// When a client has sent a complete, valid message, the session hands a ReceivedMessage to the
// MessageAcceptor. The acceptor (policy evaluation, splitting, journaling, spool commit: see
// server/message_pipeline.h) answers through `done` once everything it produced is durable — only
// then may the session reply 250. `done` may run on any thread; the session re-posts it to its own
// executor. Accept() itself must not block.
//
// An acceptor answers one of three ways: stored (250), not stored for now (452 4.3.1, the client
// retries), or refused for good (554 with the rejection's enhanced code and text, the client
// bounces; e.g. a mail loop). The last two store nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "mail/address.h"

namespace tidegate::inbound {

struct ReceivedMessage {
  std::uint64_t mid = 0;        // allocated at MAIL FROM
  std::uint64_t icid = 0;
  base::SystemTime received;
  std::string listener;         // listener name
  std::string client_ip;
  std::string helo;
  bool tls = false;
  mail::Address sender;
  std::vector<mail::Address> recipients;   // RID = index
  std::string body;             // final bytes: our trace headers, then the client's data (CRLF)
  std::string message_id;       // header value (may be empty)
  std::string subject;          // header value (may be empty)
  // Received: fields in the client's header section (our own trace header not counted); the
  // loop-protection hop count.
  std::size_t received_headers = 0;
  bool declared_8bitmime = false;  // MAIL FROM carried BODY=8BITMIME
  bool declared_smtputf8 = false;  // MAIL FROM carried SMTPUTF8
};

// A permanent refusal at the end of DATA: the session answers "554 <enhanced_code> <text>".
// Both strings are our own text (never client bytes); enhanced_code is "5.x.y".
struct Rejection {
  std::string enhanced_code;
  std::string text;
};

struct AcceptResult {
  base::Status status;          // not ok → 452 4.3.1 (nothing was stored)
  // Set → 554 (nothing was stored; status is ignored).
  std::optional<Rejection> rejection = std::nullopt;
};

class MessageAcceptor {
 public:
  virtual ~MessageAcceptor() = default;
  virtual void Accept(ReceivedMessage message, std::function<void(AcceptResult)> done) = 0;
};

}  // namespace tidegate::inbound
