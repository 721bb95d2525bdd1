// acceptor.h — the hand-off from an SMTP session to the rest of the gateway.
//
// When a client has sent a complete, valid message, the session hands a ReceivedMessage to the
// MessageAcceptor. The acceptor (policy evaluation, splitting, journaling, spool commit: see
// server/message_pipeline.h) answers through `done` once everything it produced is durable — only
// then may the session reply 250. `done` may run on any thread; the session re-posts it to its own
// executor. Accept() itself must not block.
#pragma once

#include <cstdint>
#include <functional>
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
};

struct AcceptResult {
  base::Status status;          // not ok → 452 4.3.1 (nothing was stored)
};

class MessageAcceptor {
 public:
  virtual ~MessageAcceptor() = default;
  virtual void Accept(ReceivedMessage message, std::function<void(AcceptResult)> done) = 0;
};

}  // namespace tidegate::inbound
