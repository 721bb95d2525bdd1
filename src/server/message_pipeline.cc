// message_pipeline.cc — see message_pipeline.h.
#include "server/message_pipeline.h"

#include <fmt/format.h>

#include "telemetry/counters.h"
#include "telemetry/mail_log.h"
#include "telemetry/tracking.h"

namespace tidegate::server {

MessagePipeline::MessagePipeline(
    spool::Spool* spool, telemetry::MailLog* log, telemetry::Counters* counters,
    std::function<std::shared_ptr<const config::GatewayConfig>()> config, Hooks hooks)
    : spool_(spool),
      log_(log),
      counters_(counters),
      config_(std::move(config)),
      hooks_(std::move(hooks)) {}

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

namespace {

// What the events of one accepted transaction say, in the mail log, in tracking and in the
// counters; written once the commit is durable, in order.
struct Report {
  std::vector<std::string> lines;
  std::vector<telemetry::MessageSummary> summaries;
  std::vector<std::pair<std::uint64_t, std::string>> events;  // tracking lines per MID
  std::uint64_t recipients = 0;
  std::uint64_t journal_copies = 0;
};

// The mail log, tracking and counter texts of a plan's events (the wording is pinned by e2e tests
// and by operators' log parsers: keep it byte for byte).
Report Render(const std::vector<AcceptanceEvent>& events, const config::GatewayConfig& cfg) {
  Report out;
  const event::Received* tx = nullptr;
  for (const AcceptanceEvent& any : events) {
    if (const auto* e = std::get_if<event::Received>(&any)) {
      tx = e;
    } else if (const auto* e = std::get_if<event::Accepted>(&any)) {
      const std::uint64_t mid = e->mid;
      out.recipients += e->recipients.size();
      out.summaries.push_back(telemetry::MessageSummary{.mid = mid,
                                                        .icid = tx->icid,
                                                        .received = tx->received,
                                                        .sender = tx->sender,
                                                        .recipients = e->recipients,
                                                        .message_id = tx->message_id,
                                                        .subject = tx->subject,
                                                        .policy = e->policy,
                                                        .parent_mid = e->parent_mid,
                                                        .status = "queued"});
      out.events.emplace_back(
          mid, fmt::format("Incoming connection (ICID {}) from {} ({}) on {}{}", tx->icid,
                           tx->client_ip, tx->helo, tx->listener, tx->tls ? ", TLS" : ""));
      out.events.emplace_back(
          mid, fmt::format("Message {} received from <{}> for {} recipient(s), {} bytes", mid,
                           tx->sender, e->recipients.size(), tx->size));
      if (!tx->message_id.empty()) {
        out.events.emplace_back(mid, fmt::format("Message-ID '{}'", tx->message_id));
      }
      out.events.emplace_back(mid, fmt::format("Subject '{}'", tx->subject));
      if (e->parent_mid != 0) {
        out.events.emplace_back(
            mid, fmt::format("Message {} was split from message {} by policy {}", mid,
                             e->parent_mid, e->policy));
        out.lines.push_back(
            fmt::format("MID {} was split creating MID {} due to a per-recipient policy {} in the "
                        "inbound table",
                        e->parent_mid, mid, e->policy));
      }
      out.lines.push_back(fmt::format(
          "MID {} matched all recipients for per-recipient policy {} in the inbound table", mid,
          e->policy));
      out.events.emplace_back(
          mid, fmt::format("Message {} matched policy {}; queued for delivery", mid, e->policy));
    } else if (const auto* e = std::get_if<event::JournalSkipped>(&any)) {
      out.lines.push_back(
          fmt::format("TDC: MID {} not journaled: the.tdc.queue holds {} copies (max_queued)",
                      e->mid, e->queued));
    } else if (const auto* e = std::get_if<event::JournalCopyMade>(&any)) {
      ++out.journal_copies;
      out.summaries.push_back(telemetry::MessageSummary{.mid = e->journal_mid,
                                                        .icid = tx->icid,
                                                        .received = tx->received,
                                                        .sender = "",
                                                        .recipients = {e->intake},
                                                        .message_id = tx->message_id,
                                                        .subject = tx->subject,
                                                        .policy = e->policy,
                                                        .parent_mid = e->mid,
                                                        .journal = true,
                                                        .status = "queued"});
      const std::string generated = fmt::format(
          "TDC: Message {} generated based on message {} by Threat Defense Connector, for {} "
          "at {}",
          e->journal_mid, e->mid, cfg.tdc.service_name, e->intake);
      out.events.emplace_back(e->mid, generated);
      out.events.emplace_back(e->journal_mid, generated);
      out.lines.push_back(fmt::format(
          "MID {} generated based on MID {} by Threat Defense Connector", e->journal_mid, e->mid));
      out.lines.push_back(
          fmt::format("TDC: MID {} with Message-ID '{}' enqueued for delivery to {}",
                      e->journal_mid, tx->message_id, cfg.tdc.service_name));
    } else if (const auto* e = std::get_if<event::Queued>(&any)) {
      out.lines.push_back(fmt::format("MID {} queued for delivery", e->mid));
    }
  }
  return out;
}

}  // namespace

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
  auto report = std::make_shared<Report>(Render(plan->events, *cfg));
  auto queued = std::make_shared<std::vector<spool::MessageMeta>>();
  for (const spool::NewMessage& m : plan->messages) queued->push_back(m.meta);

  spool_->Commit(std::move(plan->messages), {},
                 [this, report, queued, done = std::move(done)](base::Status status) mutable {
                   if (status.ok()) {
                     for (std::string& line : report->lines) log_->Info(std::move(line));
                     if (hooks_.tracking != nullptr) {
                       for (auto& summary : report->summaries) {
                         hooks_.tracking->RecordMessage(std::move(summary));
                       }
                       const base::SystemTime now = base::SystemClock::Instance().Now();
                       for (auto& [mid, text] : report->events) {
                         hooks_.tracking->AddEvent(mid, now, std::move(text));
                       }
                     }
                     counters_->UpdateGlobal([&](telemetry::GlobalCounters& g) {
                       ++g.messages_received;
                       g.recipients_received += report->recipients;
                       g.journal_copies += report->journal_copies;
                     });
                     hooks_.queued(std::move(*queued));
                   }
                   done(inbound::AcceptResult{std::move(status)});
                 });
}

}  // namespace tidegate::server
