// outcomes.cc — what the delivery engine does with a queue::Plan: record recipient states
// durably (and, when a message finishes with failures, its one DSN in the same commit), then —
// only once that is on disk — report the attempt (telemetry::DeliveryReport renders the mail log
// lines of CONTRACT §5, tracking rows and counters), and forget.
#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "delivery/classify.h"
#include "delivery/queue_manager_internal.h"
#include "queue/rules.h"
#include "spool/transfer_needs.h"

namespace tidegate::delivery {

namespace asio = boost::asio;

telemetry::ReplySummary QueueManager::SummaryFor(std::uint32_t rid,
                                                 const AttemptContext& context) const {
  telemetry::ReplySummary summary;
  if (auto it = context.replies.find(rid); it != context.replies.end()) {
    summary.code = it->second.code;
    summary.enhanced = it->second.enhanced;
    summary.text = it->second.Text();
    summary.answered = true;
    summary.synthetic = it->second.synthetic;
  } else {
    summary.code = context.code;
    summary.enhanced = context.enhanced;
    summary.text = context.failure_text;
  }
  summary.enhanced = EnhancedOrDefault(summary.enhanced, summary.code);
  return summary;
}

void QueueManager::ProcessPlan(const queue::Plan& plan, const AttemptContext& context) {
  auto it = messages_.find(plan.mid);
  if (it == messages_.end()) return;
  MessageState& ms = *it->second;
  const base::SystemTime now = clock_->Now();

  // The attempt as the report states it: every rid with what the attempt knew of it.
  telemetry::AttemptResult result;
  result.dcid = context.dcid;
  result.mid = plan.mid;
  result.parent_mid = ms.parent_mid;
  result.received = ms.received;
  result.ended = now;
  auto summarize = [&](const std::vector<std::uint32_t>& rids,
                       std::vector<std::pair<std::uint32_t, telemetry::ReplySummary>>& out) {
    for (std::uint32_t rid : rids) {
      out.emplace_back(rid, SummaryFor(rid, context));
      result.addresses[rid] = ms.rcpts.count(rid) ? ms.rcpts.at(rid) : std::string("?");
    }
  };
  summarize(plan.delivered, result.delivered);
  summarize(plan.retried, result.retried);
  summarize(plan.bounced, result.bounced);
  summarize(plan.expired, result.expired);

  std::vector<spool::StateUpdate> updates;
  if (!plan.delivered.empty()) {
    updates.push_back({plan.mid, plan.delivered, spool::RecipientState::kDelivered});
  }
  if (!plan.bounced.empty()) {
    updates.push_back({plan.mid, plan.bounced, spool::RecipientState::kBounced});
  }
  if (!plan.expired.empty()) {
    updates.push_back({plan.mid, plan.expired, spool::RecipientState::kExpired});
  }
  if (!plan.retried.empty()) {
    // The retry schedule is durable before it is logged: after a restart the entry is due at
    // the same time with the same attempts, never early and never with fresh retries.
    updates.push_back(
        {plan.mid, plan.retried, spool::RecipientState::kPending, plan.attempts, plan.retry_at});
  }
  auto add_failed = [&](const std::pair<std::uint32_t, telemetry::ReplySummary>& failed,
                        bool expired) {
    const auto& [rid, v] = failed;
    ms.failed.push_back(mail::DsnRecipient{
        .address = ms.rcpts[rid],
        .action = "failed",
        .status = expired ? "4.4.7" : v.enhanced,
        .remote_mta = context.remote_host.empty() ? "" : "dns; " + context.remote_host,
        .diagnostic = v.code > 0 ? fmt::format("smtp; {} {}", v.code, v.text)
                                 : (v.text.empty() ? std::string("x-tidegate; message expired")
                                                   : "x-tidegate; " + v.text),
        .last_attempt = now});
  };
  for (const auto& failed : result.bounced) add_failed(failed, false);
  for (const auto& failed : result.expired) add_failed(failed, true);

  const size_t finals = plan.delivered.size() + plan.bounced.size() + plan.expired.size();
  ms.pending -= std::min(ms.pending, finals);
  const bool finished = ms.pending == 0 && finals > 0;

  // Counters reflect the attempt at once; the log waits for durability.
  const std::shared_ptr<const telemetry::ReportStyle> style = StyleOf(plan.destination);
  report_.Count(*style, result);

  std::vector<spool::NewMessage> dsn;
  // The queue's rules decide (no DSN from the journal queue); DSNs themselves have the null
  // sender.
  const bool wants_dsn =
      finished && !ms.failed.empty() && queue::SendsDsn(RulesFor(plan.destination), ms.sender);
  if (wants_dsn) {
    std::string original;
    if (base::Status s = spool_->ReadBody(ms.mid, original); !s) {
      report_.CannotRead(ms.mid, telemetry::DeliveryReport::Reading::kForDsn, s.error().message);
    }
    spool::NewMessage m;
    m.meta.mid = spool_->NextMid();
    m.meta.kind = spool::MessageKind::kDsn;
    m.meta.parent_mid = ms.mid;
    m.meta.received = now;
    m.meta.sender = "";
    m.meta.recipients.push_back({0, ms.sender, spool::RecipientState::kPending});
    m.body = mail::BuildDsn(mail::DsnInput{.reporting_mta = config_->hostname,
                                           .sender = ms.sender,
                                           .original_mid = ms.mid,
                                           .arrival = ms.received,
                                           .now = now,
                                           .recipients = ms.failed,
                                           .original = original,
                                           .max_original_bytes = 64 * 1024,
                                           .message_id_domain = config_->hostname});
    spool::RecordTransferNeeds(m.meta, spool::Has8Bit(m.body));
    if (m.meta.mid != 0) dsn.push_back(std::move(m));
  }

  auto after_commit = [this, plan, style, result = std::move(result), finished,
                       mid = ms.mid](std::vector<spool::MessageMeta> dsn_meta) mutable {
    auto it = messages_.find(mid);
    if (it == messages_.end()) return;
    const base::SystemTime logged = clock_->Now();
    result.retry_in = std::chrono::duration_cast<std::chrono::seconds>(plan.retry_at - logged);
    result.too_old = logged >= queue::Deadline(RulesFor(plan.destination), it->second->received);
    report_.Report(*style, result);
    for (const auto& meta : dsn_meta) report_.DsnGenerated(meta.mid, mid);
    if (!dsn_meta.empty()) EnqueueOnLoop(std::move(dsn_meta));
    if (finished) {
      const MessageState& m = *it->second;
      if (m.kind == spool::MessageKind::kJournal) --journal_backlog_;
      report_.Report(*style,
                     telemetry::MessageFinished{
                         .mid = mid, .parent_mid = m.parent_mid, .failed = m.failed.size()});
      messages_.erase(it);
    }
  };

  if (updates.empty() && dsn.empty()) {
    after_commit({});
    return;
  }
  RecordResults(ms.mid, std::move(dsn), std::move(updates), /*retry=*/false,
                std::move(after_commit));
}

void QueueManager::RecordResults(std::uint64_t mid, std::vector<spool::NewMessage> dsn,
                                 std::vector<spool::StateUpdate> updates, bool retry,
                                 std::function<void(std::vector<spool::MessageMeta>)> after) {
  std::vector<spool::MessageMeta> dsn_meta;
  for (const auto& m : dsn) {
    dsn_meta.push_back(m.meta);
    dsn_meta.back().body_size = m.body.size();
  }
  // The spool consumes what it is given; keep a copy for a retry (small: states, at most a DSN).
  auto again =
      std::make_shared<std::pair<std::vector<spool::NewMessage>, std::vector<spool::StateUpdate>>>(
          dsn, updates);
  spool_->Commit(
      std::move(dsn), std::move(updates),
      // On the spool's thread, possibly after this QueueManager is gone: only `io` (which
      // outlives it) is touched here, `this` only behind `alive` (ASan, CI of 1652022).
      [this, io = &io_, alive = alive_, mid, retry, again, after = std::move(after),
       dsn_meta = std::move(dsn_meta)](base::Status status) mutable {
        asio::post(*io, [this, alive, mid, retry, again, after = std::move(after),
                         status = std::move(status), dsn_meta = std::move(dsn_meta)]() mutable {
          if (!*alive) return;
          if (status.ok()) {
            if (retry) report_.ResultsRecorded(mid);
            after(std::move(dsn_meta));
            return;
          }
          if (!retry) report_.CannotRecord(mid, status.error().message);
          if (stopping_) return;  // still live in the spool: resent after the restart
          auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(1));
          timer->async_wait([this, alive, timer, mid, again,
                             after = std::move(after)](boost::system::error_code ec) mutable {
            if (ec || !*alive || stopping_) return;
            RecordResults(mid, std::move(again->first), std::move(again->second),
                          /*retry=*/true, std::move(after));
          });
        });
      });
}

}  // namespace tidegate::delivery
