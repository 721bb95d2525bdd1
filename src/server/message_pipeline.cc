// message_pipeline.cc — see message_pipeline.h.
#include "server/message_pipeline.h"

namespace tidegate::server {

MessagePipeline::MessagePipeline(
    spool::Spool* spool, telemetry::MailLog* log, telemetry::Counters* counters,
    std::function<std::shared_ptr<const config::GatewayConfig>()> config, Hooks hooks)
    : spool_(spool), report_(log, counters), config_(std::move(config)), hooks_(std::move(hooks)) {}

base::Result<std::shared_ptr<const policy::PolicyTable>> MessagePipeline::TableFor(
    const std::shared_ptr<const config::GatewayConfig>& cfg) {
  std::lock_guard lock(table_mu_);
  if (table_config_ != cfg) {
    auto table = policy::PolicyTable::Build(*cfg);
    if (!table) return table.error();
    table_ = std::make_shared<const policy::PolicyTable>(std::move(*table));
    table_config_ = cfg;
  }
  return table_;
}

// Reserve ids (through the plan's id source) → plan → one commit → report → answer.
void MessagePipeline::Accept(inbound::ReceivedMessage message,
                             std::function<void(inbound::AcceptResult)> done) {
  const auto cfg = config_();
  auto table = TableFor(cfg);
  if (!table) {
    done(inbound::AcceptResult{table.error()});
    return;
  }
  auto plan = PlanAcceptance(
      std::move(message), *cfg, **table,
      AcceptanceContext{.next_mid = [this] { return spool_->NextMid(); },
                        .journal_backlog = hooks_.journal_backlog ? hooks_.journal_backlog() : 0});
  if (!plan) {
    done(inbound::AcceptResult{plan.error()});
    return;
  }
  if (plan->refusal) {
    done(inbound::AcceptResult{.status = base::Status(), .rejection = std::move(plan->refusal)});
    return;
  }
  auto events = std::make_shared<std::vector<AcceptanceEvent>>(std::move(plan->events));
  auto queued = std::make_shared<std::vector<spool::MessageMeta>>();
  for (const spool::NewMessage& m : plan->messages) queued->push_back(m.meta);

  spool_->Commit(std::move(plan->messages), {},
                 [this, events, queued, done = std::move(done)](base::Status status) mutable {
                   if (status.ok()) {
                     report_.Report(*events);
                     hooks_.queued(std::move(*queued));
                   }
                   done(inbound::AcceptResult{std::move(status)});
                 });
}

}  // namespace tidegate::server
