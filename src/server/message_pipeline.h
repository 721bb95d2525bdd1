// message_pipeline.h — what happens to a received message before its 250: incoming mail
// policies, per-policy splitting, journal copies for the Threat Defense Connector, and one durable
// spool commit for all of it.
//
// This is the MessageAcceptor the SMTP sessions hand complete messages to. Recipients are matched
// to policies (policy::PolicyTable); recipients of different policies become separate messages,
// the first keeping the received MID. Journaling sits at the end of the pipeline, where later
// scanning verdicts would have rejected a message: each message whose policy resolves to an intake
// address (config::GatewayConfig::JournalAddress) gets a journal copy — a MIME journal report
// addressed to that intake, with its own MID, travelling on the.tdc.queue. Everything derived from
// one SMTP transaction is committed in one group-committed write; only then are the log lines
// written and the messages handed to the delivery engine, and the session answers 250.
// Thread-safety: Accept() may be called from any thread; callbacks run on the spool's thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>

#include "config/config.h"
#include "inbound/acceptor.h"
#include "policy/policy_table.h"
#include "spool/spool.h"

namespace tidegate::telemetry {
class MailLog;
class Counters;
class Tracking;
}  // namespace tidegate::telemetry

namespace tidegate::server {

class MessagePipeline final : public inbound::MessageAcceptor {
 public:
  // Loop protection: a message whose header section carries more Received: fields than this
  // (not counting our own) is refused "554 5.4.6" at the end of DATA and nothing is stored.
  static constexpr std::size_t kMaxReceivedHeaders = 50;

  struct Hooks {
    // Receives every message once it is durable (the delivery engine's Enqueue).
    std::function<void(std::vector<spool::MessageMeta>)> queued;
    // Journal copies queued now (the TDC's spool quota is checked against it).
    std::function<std::size_t()> journal_backlog;
    // Message tracking (may be null).
    telemetry::Tracking* tracking = nullptr;
  };
  MessagePipeline(spool::Spool* spool, telemetry::MailLog* log, telemetry::Counters* counters,
                  std::function<std::shared_ptr<const config::GatewayConfig>()> config,
                  Hooks hooks);
  void Accept(inbound::ReceivedMessage message,
              std::function<void(inbound::AcceptResult)> done) override;

 private:
  // The compiled policy table of a configuration snapshot (rebuilt when the snapshot changes).
  base::Result<std::shared_ptr<const policy::PolicyTable>> TableFor(
      const std::shared_ptr<const config::GatewayConfig>& cfg);

  spool::Spool* spool_;
  telemetry::MailLog* log_;
  telemetry::Counters* counters_;
  std::function<std::shared_ptr<const config::GatewayConfig>()> config_;
  Hooks hooks_;
  std::mutex table_mu_;
  std::shared_ptr<const config::GatewayConfig> table_config_;
  std::shared_ptr<const policy::PolicyTable> table_;
};

}  // namespace tidegate::server
