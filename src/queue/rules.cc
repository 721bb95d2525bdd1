#include "queue/rules.h"

#include <algorithm>

namespace tidegate::queue {
namespace {

// initial * 2^(attempts-1), capped at `cap`, without overflowing for any attempt count.
Duration BackoffDelay(Duration initial, Duration cap, std::uint32_t attempts) {
  if (initial >= cap) return cap;
  Duration delay = initial;
  // The loop ends after at most ~63 doublings because the delay reaches the cap; a zero delay
  // would never reach it, so it stops at once.
  for (std::uint32_t i = 1; i < attempts && delay.count() > 0; ++i) {
    if (delay >= cap / 2) return cap;
    delay *= 2;
  }
  return std::min(delay, cap);
}

Decision Retry(Time at) { return Decision{Verdict::kRetry, at}; }
Decision Bounce() { return Decision{Verdict::kBounce, Time{}}; }
Decision Expire() { return Decision{Verdict::kExpire, Time{}}; }

Decision DecideBackoff(const QueueRules& rules, const Failure& failure, std::uint32_t attempts,
                       Time queued_at, Time now) {
  if (failure.cls == FailureClass::kPermanent || failure.cls == FailureClass::kDnsHard) {
    return Bounce();
  }
  const Time deadline = Deadline(rules, queued_at);
  if (now >= deadline) return Expire();
  const Duration delay = BackoffDelay(rules.initial_retry, rules.max_retry_interval, attempts);
  // The last attempt happens exactly at the deadline rather than never: a destination that
  // recovers late still gets the mail.
  return Retry(std::min<Time>(now + delay, deadline));
}

}  // namespace

Duration FirstRetryDelay(const QueueRules& rules) {
  return rules.retry == QueueRules::Retry::kTdcTable
             ? rules.retry_delay
             : BackoffDelay(rules.initial_retry, rules.max_retry_interval, 1);
}

namespace {

// CONTRACT §4, the.tdc.queue retry table.
bool TdcRetriable(const Failure& failure) {
  switch (failure.cls) {
    case FailureClass::kTemporary:
      return true;
    case FailureClass::kPermanent:
      // 503 (bad sequence) and 552 (storage exceeded) are worth one more try at the intake.
      return failure.smtp_code == 503 || failure.smtp_code == 552;
    case FailureClass::kTls:
      // Never fall back; a TLS problem is not going to fix itself within the copy's lifetime.
      return false;
    case FailureClass::kNetwork:
    case FailureClass::kDnsTemporary:
      return true;
    case FailureClass::kDnsHard:
      return false;
  }
  return false;
}

Decision DecideTdc(const QueueRules& rules, const Failure& failure, std::uint32_t attempts,
                   Time queued_at, Time now) {
  if (!TdcRetriable(failure)) return Bounce();
  const Time deadline = Deadline(rules, queued_at);
  if (now >= deadline) return Expire();
  if (attempts >= 2) return Expire();  // the single retry is used up
  const Time at = now + rules.retry_delay;
  // A copy due at or after its deadline would be removed by the queue at that very instant
  // (expire_while_queued), so it is removed now instead of being kept for nothing.
  if (at >= deadline) return Expire();
  return Retry(at);
}

}  // namespace

QueueRules TdcQueueRules(std::uint32_t min_connections, std::uint32_t max_connections,
                         Duration max_queue_time, Duration retry_delay) {
  QueueRules rules;
  rules.min_connections = min_connections;
  rules.max_connections = max_connections;
  rules.initial_window = std::max<std::uint32_t>(rules.initial_window, min_connections);
  rules.max_queue_time = max_queue_time;
  rules.expire_while_queued = true;
  rules.retry = QueueRules::Retry::kTdcTable;
  rules.retry_delay = retry_delay;
  rules.send_dsn = false;
  rules.tls = QueueRules::Tls::kRequired;  // CONTRACT §4: never in clear, always verified
  rules.tls_verify = true;
  rules.attempt_within_lifetime = true;
  rules.wording = QueueRules::Wording::kJournalCopy;
  return rules;
}

bool RetriesTlsFailures(const QueueRules& rules) {
  return rules.retry == QueueRules::Retry::kBackoff;
}

bool SendsDsn(const QueueRules& rules, std::string_view sender) {
  return rules.send_dsn && !sender.empty();
}

Time Deadline(const QueueRules& rules, Time queued_at) { return queued_at + rules.max_queue_time; }

Decision Decide(const QueueRules& rules, const Failure& failure, std::uint32_t attempts,
                Time queued_at, Time now) {
  // attempts counts the failed attempt itself; 0 is a caller slip, read as the first attempt.
  attempts = std::max<std::uint32_t>(attempts, 1);
  switch (rules.retry) {
    case QueueRules::Retry::kBackoff:
      return DecideBackoff(rules, failure, attempts, queued_at, now);
    case QueueRules::Retry::kTdcTable:
      return DecideTdc(rules, failure, attempts, queued_at, now);
  }
  return Bounce();
}

const char* FailureClassName(FailureClass cls) {
  switch (cls) {
    case FailureClass::kTemporary:
      return "temporary";
    case FailureClass::kPermanent:
      return "permanent";
    case FailureClass::kTls:
      return "tls";
    case FailureClass::kNetwork:
      return "network";
    case FailureClass::kDnsTemporary:
      return "dns-temporary";
    case FailureClass::kDnsHard:
      return "dns-hard";
  }
  return "unknown";
}

}  // namespace tidegate::queue
