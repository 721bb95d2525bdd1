// message_pipeline.cc — see message_pipeline.h.
#include "server/message_pipeline.h"

#include <fmt/format.h>

#include "mail/journal_report.h"
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

// Log lines to write once the commit is durable, in order.
struct PendingLog {
  std::vector<std::string> lines;
  std::vector<telemetry::MessageSummary> summaries;
  std::vector<std::pair<std::uint64_t, std::string>> events;  // tracking lines per MID
  std::vector<spool::MessageMeta> queued;
  std::uint64_t recipients = 0;
  std::uint64_t journal_copies = 0;
};

}  // namespace

void MessagePipeline::Accept(inbound::ReceivedMessage message,
                             std::function<void(inbound::AcceptResult)> done) {
  // Loop protection first: a message that has already crossed this many MTAs is going round in
  // circles; storing it would only send it round once more. Refused for good, like Postfix's
  // hopcount_limit (default 50, which we follow; RFC 5321 §6.3 suggests a threshold of normally
  // at least 100, but no legitimate path comes near 50 hops).
  if (message.received_headers > kMaxReceivedHeaders) {
    done(inbound::AcceptResult{
        .status = base::Status(),
        .rejection = inbound::Rejection{
            .enhanced_code = "5.4.6",
            .text = fmt::format("Too many hops: {} Received: headers (limit {}), mail loop",
                                message.received_headers, kMaxReceivedHeaders)}});
    return;
  }
  const auto cfg = config_();
  auto table = TableFor(cfg);
  if (!table) {
    done(inbound::AcceptResult{table.error()});
    return;
  }
  auto groups = (*table)->Assign(message.sender, message.recipients);
  if (!groups) {
    done(inbound::AcceptResult{groups.error()});
    return;
  }

  auto pending = std::make_shared<PendingLog>();
  std::vector<spool::NewMessage> batch;
  const std::size_t backlog = hooks_.journal_backlog ? hooks_.journal_backlog() : 0;
  std::size_t new_copies = 0;

  for (std::size_t gi = 0; gi < groups->size(); ++gi) {
    const policy::PolicyTable::Group& group = (*groups)[gi];
    const config::Policy& policy = cfg->policies[group.policy];
    const std::uint64_t mid = gi == 0 ? message.mid : spool_->NextMid();
    if (mid == 0) {
      done(inbound::AcceptResult{base::MakeError("no message id available (spool ids file)")});
      return;
    }
    spool::NewMessage record;
    spool::MessageMeta& meta = record.meta;
    meta.mid = mid;
    meta.icid = message.icid;
    meta.parent_mid = gi == 0 ? 0 : message.mid;
    meta.kind = spool::MessageKind::kOriginal;
    meta.received = message.received;
    meta.sender = message.sender.str();
    meta.policy = policy.name;
    std::vector<std::string> policy_recipients;
    for (std::uint32_t rid : group.rids) {
      meta.recipients.push_back(spool::Recipient{rid, message.recipients[rid].str(),
                                                 spool::RecipientState::kPending});
      policy_recipients.push_back(message.recipients[rid].str());
    }
    meta.attrs["client_ip"] = message.client_ip;
    meta.attrs["helo"] = message.helo;
    meta.attrs["listener"] = message.listener;
    if (!message.message_id.empty()) meta.attrs["message_id"] = message.message_id;
    if (!message.subject.empty()) meta.attrs["subject"] = message.subject;

    telemetry::MessageSummary summary;
    summary.mid = mid;
    summary.icid = message.icid;
    summary.received = message.received;
    summary.sender = meta.sender;
    summary.recipients = policy_recipients;
    summary.message_id = message.message_id;
    summary.subject = message.subject;
    summary.policy = policy.name;
    summary.parent_mid = meta.parent_mid;
    summary.status = "queued";
    pending->summaries.push_back(summary);
    pending->events.emplace_back(
        mid, fmt::format("Incoming connection (ICID {}) from {} ({}) on {}{}", message.icid,
                         message.client_ip, message.helo, message.listener,
                         message.tls ? ", TLS" : ""));
    pending->events.emplace_back(
        mid, fmt::format("Message {} received from <{}> for {} recipient(s), {} bytes", mid,
                         meta.sender, policy_recipients.size(), message.body.size()));
    if (!message.message_id.empty()) {
      pending->events.emplace_back(mid, fmt::format("Message-ID '{}'", message.message_id));
    }
    pending->events.emplace_back(mid, fmt::format("Subject '{}'", message.subject));
    if (gi > 0) {
      pending->events.emplace_back(
          mid, fmt::format("Message {} was split from message {} by policy {}", mid, message.mid,
                           policy.name));
      pending->lines.push_back(
          fmt::format("MID {} was split creating MID {} due to a per-recipient policy {} in the "
                      "inbound table",
                      message.mid, mid, policy.name));
    }
    pending->lines.push_back(fmt::format(
        "MID {} matched all recipients for per-recipient policy {} in the inbound table", mid,
        policy.name));

    pending->events.emplace_back(
        mid, fmt::format("Message {} matched policy {}; queued for delivery", mid, policy.name));

    // The journal copy: at the end of the pipeline, for a message that will be delivered.
    std::optional<spool::NewMessage> copy;
    if (auto intake = cfg->JournalAddress(policy)) {
      if (backlog + new_copies >= cfg->tdc.max_queued) {
        pending->lines.push_back(fmt::format(
            "TDC: MID {} not journaled: the.tdc.queue holds {} copies (max_queued)", mid,
            backlog + new_copies));
      } else if (const std::uint64_t jmid = spool_->NextMid(); jmid == 0) {
        // No id could be reserved (the ids file could not be written: a full disk). Accepting
        // the message without its copy would silently break the journaling policy: 452 instead.
        done(inbound::AcceptResult{
            base::MakeError("no journal copy id available (spool ids file)")});
        return;
      } else {
        copy.emplace();
        spool::MessageMeta& jm = copy->meta;
        jm.mid = jmid;
        jm.icid = message.icid;
        jm.parent_mid = mid;
        jm.kind = spool::MessageKind::kJournal;
        jm.received = message.received;
        jm.sender = "";
        jm.policy = policy.name;
        jm.recipients.push_back(
            spool::Recipient{0, intake->str(), spool::RecipientState::kPending});
        if (!message.message_id.empty()) jm.attrs["message_id"] = message.message_id;
        if (!message.subject.empty()) jm.attrs["subject"] = message.subject;
        jm.attrs["original_mid"] = std::to_string(mid);
        copy->body = mail::BuildJournalReport(mail::JournalInput{
            .reporting_host = cfg->hostname,
            .sender = message.sender.str(),
            .recipients = policy_recipients,
            .subject = message.subject,
            .message_id = message.message_id,
            .original = message.body,
            .now = message.received,
            .original_mid = mid});
        ++new_copies;
        telemetry::MessageSummary js;
        js.mid = jmid;
        js.icid = message.icid;
        js.received = message.received;
        js.sender = "";
        js.recipients = {intake->str()};
        js.message_id = message.message_id;
        js.subject = message.subject;
        js.policy = policy.name;
        js.parent_mid = mid;
        js.journal = true;
        js.status = "queued";
        pending->summaries.push_back(js);
        const std::string generated = fmt::format(
            "TDC: Message {} generated based on message {} by Threat Defense Connector, for {} "
            "at {}",
            jmid, mid, cfg->tdc.service_name, intake->str());
        pending->events.emplace_back(mid, generated);
        pending->events.emplace_back(jmid, generated);
        pending->lines.push_back(
            fmt::format("MID {} generated based on MID {} by Threat Defense Connector", jmid, mid));
        pending->lines.push_back(fmt::format(
            "TDC: MID {} with Message-ID '{}' enqueued for delivery to {}", jmid,
            message.message_id, cfg->tdc.service_name));
      }
    }
    pending->lines.push_back(fmt::format("MID {} queued for delivery", mid));

    pending->recipients += meta.recipients.size();

    // The last group takes the body; earlier ones copy it.
    record.body = gi + 1 == groups->size() ? std::move(message.body) : message.body;
    meta.body_size = record.body.size();
    pending->queued.push_back(meta);
    batch.push_back(std::move(record));
    if (copy) {
      copy->meta.body_size = copy->body.size();
      pending->queued.push_back(copy->meta);
      batch.push_back(std::move(*copy));
      ++pending->journal_copies;
    }
  }

  spool_->Commit(std::move(batch), {},
                 [this, pending, done = std::move(done)](base::Status status) mutable {
                   if (status.ok()) {
                     for (std::string& line : pending->lines) log_->Info(std::move(line));
                     if (hooks_.tracking != nullptr) {
                       for (auto& summary : pending->summaries) {
                         hooks_.tracking->RecordMessage(std::move(summary));
                       }
                       const base::SystemTime now = base::SystemClock::Instance().Now();
                       for (auto& [mid, text] : pending->events) {
                         hooks_.tracking->AddEvent(mid, now, std::move(text));
                       }
                     }
                     counters_->UpdateGlobal([&](telemetry::GlobalCounters& g) {
                       ++g.messages_received;
                       g.recipients_received += pending->recipients;
                       g.journal_copies += pending->journal_copies;
                     });
                     hooks_.queued(std::move(pending->queued));
                   }
                   done(inbound::AcceptResult{std::move(status)});
                 });
}

}  // namespace tidegate::server
