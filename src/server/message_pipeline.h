// message_pipeline.h — what happens to a received message before its 250: turn it into spool
// records and commit them durably.
//
// This is the MessageAcceptor the SMTP sessions hand complete messages to. Incoming mail policy
// evaluation, per-policy splitting and journal copies plug in here (before the commit), so that one
// group-committed write covers every message derived from one SMTP transaction.
// Thread-safety: Accept() may be called from any thread; callbacks run on the spool's thread.
#pragma once

#include <functional>
#include <memory>

#include "config/config.h"
#include "inbound/acceptor.h"
#include "spool/spool.h"

namespace tidegate::telemetry {
class MailLog;
class Counters;
}

namespace tidegate::server {

class MessagePipeline final : public inbound::MessageAcceptor {
 public:
  // `queued` receives every message once it is durable (the delivery engine's Enqueue).
  MessagePipeline(spool::Spool* spool, telemetry::MailLog* log, telemetry::Counters* counters,
                  std::function<std::shared_ptr<const config::GatewayConfig>()> config,
                  std::function<void(std::vector<spool::MessageMeta>)> queued);
  void Accept(inbound::ReceivedMessage message,
              std::function<void(inbound::AcceptResult)> done) override;

 private:
  spool::Spool* spool_;
  telemetry::MailLog* log_;
  telemetry::Counters* counters_;
  std::function<std::shared_ptr<const config::GatewayConfig>()> config_;
  std::function<void(std::vector<spool::MessageMeta>)> queued_;
};

}  // namespace tidegate::server
