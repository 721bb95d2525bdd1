// message_pipeline.h — what happens to a received message before its 250: the thin step that
// commits what the acceptance step planned.
//
// This is the MessageAcceptor the SMTP sessions hand complete messages to. Accept() asks
// PlanAcceptance() (server/acceptance.h: loop protection, incoming mail policies, per-policy
// splits, journal copies for the Threat Defense Connector) what the transaction becomes, with
// MIDs reserved from the spool as the plan needs them; commits every message of the plan in one
// group-committed write; only then has telemetry::ReceptionReport render the plan's events (mail
// log lines, tracking rows, counters), hands the messages to the delivery engine, and lets the
// session answer 250.
// Thread-safety: Accept() may be called from any thread; callbacks run on the spool's thread.
// Lifetime: the commit callbacks use the pipeline, so it must outlive the Spool (spool.h).
#pragma once

#include <functional>
#include <memory>
#include <mutex>

#include "config/config.h"
#include "inbound/acceptor.h"
#include "policy/policy_table.h"
#include "server/acceptance.h"
#include "spool/spool.h"
#include "telemetry/reception_report.h"

namespace tidegate::server {

class MessagePipeline final : public inbound::MessageAcceptor {
 public:
  struct Hooks {
    // Receives every message once it is durable (the delivery engine's Enqueue).
    std::function<void(std::vector<spool::MessageMeta>)> queued;
    // Journal copies queued now (the TDC's spool quota is checked against it).
    std::function<std::size_t()> journal_backlog;
  };
  MessagePipeline(spool::Spool* spool, telemetry::MailLog* log, telemetry::Counters* counters,
                  std::function<std::shared_ptr<const config::GatewayConfig>()> config,
                  Hooks hooks);
  void Accept(inbound::ReceivedMessage message,
              std::function<void(inbound::AcceptResult)> done) override;
  // Message tracking's feeds (see ReceptionReport::set_tracking); call before the first Accept().
  void set_tracking(telemetry::TrackingRowSink rows, telemetry::TrackingSink events) {
    report_.set_tracking(std::move(rows), std::move(events));
  }

 private:
  // The compiled policy table of a configuration snapshot (rebuilt when the snapshot changes).
  base::Result<std::shared_ptr<const policy::PolicyTable>> TableFor(
      const std::shared_ptr<const config::GatewayConfig>& cfg);

  spool::Spool* spool_;
  telemetry::ReceptionReport report_;
  std::function<std::shared_ptr<const config::GatewayConfig>()> config_;
  Hooks hooks_;
  std::mutex table_mu_;
  std::shared_ptr<const config::GatewayConfig> table_config_;
  std::shared_ptr<const policy::PolicyTable> table_;
};

}  // namespace tidegate::server
