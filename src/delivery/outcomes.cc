// outcomes.cc — what the delivery engine does with a queue::Plan: record recipient states
// durably (and, when a message finishes with failures, its one DSN in the same commit), then —
// only once that is on disk — write the mail log lines of CONTRACT §5, count, and forget.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "delivery/classify.h"
#include "delivery/queue_manager_internal.h"
#include "queue/rules.h"

namespace tidegate::delivery {

namespace asio = boost::asio;

namespace {

// Short human text for an enhanced status code, in the style of ESA's delivery lines.
std::string Describe(const std::string& enhanced) {
  if (enhanced.rfind("5.1.", 0) == 0) return "Bad destination mailbox address";
  if (enhanced.rfind("5.7.", 0) == 0) return "Delivery not authorized";
  if (enhanced.rfind("4.4.7", 0) == 0) return "Message expired";
  if (enhanced.rfind("4.4.", 0) == 0) return "Network or routing problem";
  if (enhanced.rfind("4.7.", 0) == 0) return "Security or policy problem";
  if (!enhanced.empty() && enhanced[0] == '5') return "Permanent failure";
  return "Temporary failure";
}

struct ReplyView {
  int code = 0;
  std::string enhanced;
  std::string text;
};

}  // namespace

std::string QueueManager::ReplyFor(std::uint32_t rid, const AttemptContext& context) const {
  auto it = context.replies.find(rid);
  if (it != context.replies.end()) {
    return fmt::format("{} {}", it->second.code, it->second.Text());
  }
  return context.failure_text.empty() ? "no reply" : context.failure_text;
}

void QueueManager::ProcessPlan(const queue::Plan& plan, const AttemptContext& context) {
  auto it = messages_.find(plan.mid);
  if (it == messages_.end()) return;
  MessageState& ms = *it->second;
  const std::string display = DisplayName(plan.destination);
  const base::SystemTime now = clock_->Now();

  auto view = [&](std::uint32_t rid) {
    ReplyView v;
    auto r = context.replies.find(rid);
    if (r != context.replies.end()) {
      v.code = r->second.code;
      v.enhanced = r->second.enhanced;
      v.text = r->second.Text();
    } else {
      v.code = context.code;
      v.enhanced = context.enhanced;
      v.text = context.failure_text;
    }
    v.enhanced = EnhancedOrDefault(v.enhanced, v.code);
    return v;
  };

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
    updates.push_back({plan.mid, plan.retried, spool::RecipientState::kPending, plan.attempts,
                       plan.retry_at});
  }
  auto add_failed = [&](std::uint32_t rid, bool expired) {
    ReplyView v = view(rid);
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
  for (std::uint32_t rid : plan.bounced) add_failed(rid, false);
  for (std::uint32_t rid : plan.expired) add_failed(rid, true);

  const size_t finals = plan.delivered.size() + plan.bounced.size() + plan.expired.size();
  ms.pending -= std::min(ms.pending, finals);
  const bool finished = ms.pending == 0 && finals > 0;

  for (const auto& [rid, reply] : context.replies) {
    if (reply.code >= 400 && !reply.synthetic) {
      counters_->RecordError(display,
                             reply.code >= 500 ? telemetry::Counters::ErrorKind::kPermanent
                                               : telemetry::Counters::ErrorKind::kTemporary,
                             fmt::format("{} {}", reply.code, reply.Text()));
    }
  }
  // Counters reflect the attempt at once; the log waits for durability.
  if (!plan.delivered.empty()) counters_->Delivered(display, plan.delivered.size());
  if (!plan.retried.empty()) {
    counters_->SoftBounced(display, plan.retried.size(), ReplyFor(plan.retried[0], context));
  }
  if (!plan.bounced.empty() || !plan.expired.empty()) {
    const std::uint32_t first = plan.bounced.empty() ? plan.expired[0] : plan.bounced[0];
    counters_->HardBounced(display, plan.bounced.size() + plan.expired.size(),
                           ReplyFor(first, context));
  }

  std::vector<spool::NewMessage> dsn;
  // The queue's rules decide (no DSN from the.tdc.queue); DSNs themselves have the null sender.
  const bool wants_dsn =
      finished && !ms.failed.empty() && queue::SendsDsn(RulesFor(plan.destination), ms.sender);
  if (wants_dsn) {
    std::string original;
    if (base::Status s = spool_->ReadBody(ms.mid, original); !s) {
      log_->Critical(fmt::format("MID {} cannot read the message for its DSN: {}", ms.mid,
                                 s.error().message));
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
    if (m.meta.mid != 0) dsn.push_back(std::move(m));
  }

  auto after_commit = [this, plan, context, finished,
                       mid = ms.mid](std::vector<spool::MessageMeta> dsn_meta) {
    auto it = messages_.find(mid);
    if (it == messages_.end()) return;
    LogPlan(plan, context, *it->second);
    for (const auto& meta : dsn_meta) {
      log_->Info(fmt::format("MID {} was generated for bounce of MID {}", meta.mid, mid));
      counters_->UpdateGlobal([](telemetry::GlobalCounters& g) { ++g.dsns_generated; });
    }
    if (!dsn_meta.empty()) EnqueueOnLoop(std::move(dsn_meta));
    if (finished) {
      if (it->second->kind == spool::MessageKind::kJournal) --journal_backlog_;
      log_->Info(fmt::format("Message finished MID {} done", mid));
      if (sink_) {
        const auto& m = *it->second;
        sink_(DeliveryEvent{mid, m.parent_mid, m.kind == spool::MessageKind::kJournal,
                            fmt::format("Message {} done ({} recipient(s) failed)", mid,
                                        m.failed.size()),
                            m.failed.empty() ? "delivered" : "done with failures"});
      }
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
  auto again = std::make_shared<std::pair<std::vector<spool::NewMessage>,
                                          std::vector<spool::StateUpdate>>>(dsn, updates);
  spool_->Commit(
      std::move(dsn), std::move(updates),
      [this, alive = alive_, mid, retry, again, after = std::move(after),
       dsn_meta = std::move(dsn_meta)](base::Status status) mutable {
        asio::post(io_, [this, alive, mid, retry, again, after = std::move(after),
                         status = std::move(status), dsn_meta = std::move(dsn_meta)]() mutable {
          if (!*alive) return;
          if (status.ok()) {
            if (retry) log_->Info(fmt::format("MID {} delivery results recorded", mid));
            after(std::move(dsn_meta));
            return;
          }
          if (!retry) {
            log_->Critical(fmt::format("MID {} could not record delivery results: {}; retrying",
                                       mid, status.error().message));
          }
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

void QueueManager::LogPlan(const queue::Plan& plan, const AttemptContext& context,
                           const MessageState& ms) {
  const std::uint64_t dcid = context.dcid;
  const bool tdc = ms.kind == spool::MessageKind::kJournal;
  const std::string& service = config_->tdc.service_name;
  auto emit = [&](std::uint64_t mid, std::string text) {
    if (sink_) sink_(DeliveryEvent{mid, ms.parent_mid, tdc, std::move(text), ""});
  };
  auto reply_of = [&](std::uint32_t rid) {
    auto r = context.replies.find(rid);
    int code = r != context.replies.end() ? r->second.code : context.code;
    std::string enhanced = r != context.replies.end() ? r->second.enhanced : context.enhanced;
    std::string text = r != context.replies.end() ? r->second.Text() : context.failure_text;
    return std::tuple{code, EnhancedOrDefault(enhanced, code), text};
  };

  if (tdc) {
    const std::string tdc_queue = kTdcQueue;
    if (!plan.delivered.empty()) {
      log_->Info(fmt::format("TDC: MID {} successfully delivered for scanning with {}", plan.mid,
                             service));
      counters_->UpdateGlobal([](telemetry::GlobalCounters& g) { ++g.journal_delivered; });
      const std::string text = fmt::format(
          "TDC: Message {} was successfully delivered for scanning with {}.", plan.mid, service);
      emit(plan.mid, text);
      if (ms.parent_mid != 0) emit(ms.parent_mid, text);
    }
    for (std::uint32_t rid : plan.retried) {
      auto [code, enhanced, text] = reply_of(rid);
      const auto wait = std::chrono::duration_cast<std::chrono::seconds>(plan.retry_at -
                                                                         clock_->Now());
      log_->Info(fmt::format("TDC: MID {} will be retried in {} seconds: {}", plan.mid,
                             std::max<long>(0, wait.count()),
                             code > 0 ? fmt::format("{} {}", code, text) : text));
    }
    auto failed = [&](const std::string& reason) {
      log_->Info(fmt::format("TDC: MID {} delivery failed to {}: {}", plan.mid, service, reason));
      counters_->UpdateGlobal([](telemetry::GlobalCounters& g) { ++g.journal_failed; });
      const std::string text =
          fmt::format("TDC: Message {} could not be delivered for scanning with {}: {}.",
                      plan.mid, service, reason);
      emit(plan.mid, text);
      if (ms.parent_mid != 0) emit(ms.parent_mid, text);
    };
    for (std::uint32_t rid : plan.bounced) {
      auto [code, enhanced, text] = reply_of(rid);
      log_->Info(fmt::format("TDC: Hard bounced - {} - {}", enhanced,
                             code > 0 ? fmt::format("{} {}", code, text) : text));
      failed(code > 0 ? fmt::format("{} {}", code, text) : text);
    }
    for (std::uint32_t rid : plan.expired) {
      auto [code, enhanced, text] = reply_of(rid);
      const auto rules = RulesFor(plan.destination);
      const bool too_old = clock_->Now() >= queue::Deadline(rules, ms.received);
      const std::string why =
          too_old ? fmt::format("queued longer than {} seconds",
                                std::chrono::duration_cast<std::chrono::seconds>(
                                    rules.max_queue_time)
                                    .count())
                  : std::string("retries exhausted");
      log_->Info(fmt::format("TDC: MID {} removed from {}: {}", plan.mid, tdc_queue, why));
      failed(text.empty() ? why
                          : fmt::format("{} ({})", why,
                                        code > 0 ? fmt::format("{} {}", code, text) : text));
    }
    return;
  }

  if (!plan.delivered.empty()) {
    log_->Info(fmt::format("Message done DCID {} MID {} to RID [{}]", dcid, plan.mid,
                           fmt::join(plan.delivered, ", ")));
    const std::string text = std::get<2>(reply_of(plan.delivered[0]));
    log_->Info(fmt::format("MID {} RID [{}] Response '{}'", plan.mid,
                           fmt::join(plan.delivered, ", "), text));
    for (std::uint32_t rid : plan.delivered) {
      emit(plan.mid, fmt::format("Message {} to {} received remote SMTP response '{}'", plan.mid,
                                 ms.rcpts.count(rid) ? ms.rcpts.at(rid) : "?", text));
    }
  }
  auto line = [&](const char* what, std::uint32_t rid, bool expired) {
    auto [code, enhanced, text] = reply_of(rid);
    if (expired) enhanced = "4.4.7";
    log_->Info(fmt::format("{}: DCID {} MID {} to RID {} - {} - {} ('{:03d}', ['{}'])", what,
                           dcid, plan.mid, rid, enhanced,
                           expired ? std::string("Message expired") : Describe(enhanced), code,
                           text));
    emit(plan.mid, fmt::format("{} message {} to {} - {} - {}", what, plan.mid,
                               ms.rcpts.count(rid) ? ms.rcpts.at(rid) : "?", enhanced, text));
  };
  for (std::uint32_t rid : plan.retried) line("Delayed", rid, false);
  for (std::uint32_t rid : plan.bounced) line("Bounced", rid, false);
  for (std::uint32_t rid : plan.expired) line("Bounced", rid, true);
}

}  // namespace tidegate::delivery
