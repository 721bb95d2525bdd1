// rules.h — queue rules: how a destination queue treats its entries, and what a failure means.
//
// A destination queue is an ordinary queue whose behaviour is set by one QueueRules value. Normal
// mail uses exponential backoff until its lifetime ends; `the.tdc.queue` (journal copies) uses the
// Threat Defense Connector retry table of CONTRACT §4 and expires copies while they wait. All the
// knowledge of those two tables lives in Decide() and nowhere else, so that the scheduler and the
// delivery code treat both kinds of queue alike.
//
// Pure functions and plain values: no I/O, no clock (the caller passes `now`); thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "queue/connection_budget.h"

namespace tidegate::queue {

using Time = base::SystemTime;
using Duration = std::chrono::milliseconds;

// What went wrong with one recipient in one delivery attempt.
enum class FailureClass {
  kTemporary,     // SMTP 4xx
  kPermanent,     // SMTP 5xx
  kTls,           // handshake, certificate verification, STARTTLS missing
  kNetwork,       // connection refused, reset, timeout
  kDnsTemporary,  // SERVFAIL, resolver timeout
  kDnsHard,       // NXDOMAIN, null MX
};

struct Failure {
  FailureClass cls = FailureClass::kTemporary;
  int smtp_code = 0;  // the reply code, 0 if the failure was not an SMTP reply
};

struct QueueRules {
  std::uint32_t min_connections = 0;   // kept open while the queue holds entries (TDC: 3)
  std::uint32_t max_connections = 50;  // window ceiling (delivery.max_connections_per_host)
  std::uint32_t initial_window = 5;
  Duration max_queue_time = std::chrono::hours(72);
  bool expire_while_queued = false;  // TDC: removed once max_queue_time old, even while waiting
  enum class Retry { kBackoff, kTdcTable } retry = Retry::kBackoff;
  // kBackoff: initial_retry, doubling per attempt, capped at max_retry_interval.
  Duration initial_retry = std::chrono::seconds(60);
  Duration max_retry_interval = std::chrono::seconds(3600);
  Duration retry_delay = std::chrono::seconds(10);  // kTdcTable: delay before the single retry
  bool send_dsn = true;                             // false for journal copies: see SendsDsn()

  // How a connection of this queue treats TLS. kRequired never sends in clear; tls_verify checks
  // the next hop's certificate and name against tls_ca_file ("" = the system's trust anchors).
  enum class Tls { kNone, kPreferred, kRequired } tls = Tls::kPreferred;
  bool tls_verify = false;
  std::string tls_ca_file;
  // Every transaction must end by the entry's deadline (Deadline()): a copy that cannot be
  // delivered within its lifetime is cut off, not left to a slow peer (the journal queue).
  bool attempt_within_lifetime = false;
  // How the queue's events read (telemetry::DeliveryReport): per recipient, or as journal copies
  // delivered for scanning with `service_name`.
  enum class Wording { kPerRecipient, kJournalCopy } wording = Wording::kPerRecipient;
  std::string service_name;
  // Caps shared by all destinations of this queue (ConnectionBudget): per next-hop host, per
  // next-hop address, and in all.
  ConnectionBudget::Caps shared_caps;
};

// Whether a message that finished with failed recipients in a queue with these rules gets a DSN:
// only if the rules send DSNs (never in `the.tdc.queue`, whatever the copy's sender) and there is
// someone to send it to (never to the null sender, RFC 5321 §4.5.5).
bool SendsDsn(const QueueRules& rules, std::string_view sender);

// Whether a TLS failure is worth another attempt under these rules: yes for backoff queues (the
// next hop's certificate may be fixed), never for the TDC table (CONTRACT §4). Decide() follows
// it; the delivery code reports such a failure as permanent (5.7.x) where it is not.
bool RetriesTlsFailures(const QueueRules& rules);

// The scheduling rules for `the.tdc.queue`, from the threat_defense_connector settings (the
// connection and wording properties are set by RuleBookFromConfig, queue/rule_book.h).
QueueRules TdcQueueRules(std::uint32_t min_connections, std::uint32_t max_connections,
                         Duration max_queue_time, Duration retry_delay);

enum class Verdict {
  kRetry,   // try again at Decision::retry_at
  kBounce,  // permanent failure (hard bounce)
  kExpire,  // lifetime over or retries used up
};

struct Decision {
  Verdict verdict = Verdict::kRetry;
  Time retry_at{};  // only meaningful for kRetry
};

// The end of an entry's life: queued_at + max_queue_time. An entry is expired at this instant
// (age >= max_queue_time), which is also how a caller tells "queued longer than N seconds" from
// "retries exhausted" when it logs a kExpire.
Time Deadline(const QueueRules& rules, Time queued_at);

// What to do with one recipient after a failed attempt. `attempts` counts the attempts made so far
// INCLUDING the one that just failed (>= 1); `queued_at` is when the message was received.
//  kBackoff:  kPermanent, kDnsHard → kBounce; otherwise kExpire if now >= deadline, else kRetry at
//             now + min(initial_retry * 2^(attempts-1), max_retry_interval), but no later than the
//             deadline (one last attempt exactly at the deadline).
//  kTdcTable: 5xx except 503/552, kTls, kDnsHard → kBounce; 4xx, 503, 552, kNetwork, kDnsTemporary
//             → one retry after retry_delay: kRetry after attempt 1, kExpire after attempt 2;
//             kExpire at once if now >= deadline or the retry would fall at or after the deadline.
// A permanent failure is reported as kBounce even past the deadline: the peer's answer is the more
// precise reason.
Decision Decide(const QueueRules& rules, const Failure& failure, std::uint32_t attempts,
                Time queued_at, Time now);

// The delay Decide() gives a retriable failure after a first attempt: retry_delay for kTdcTable,
// min(initial_retry, max_retry_interval) for kBackoff. The Scheduler waits this long between
// probes of a destination that is down.
Duration FirstRetryDelay(const QueueRules& rules);

const char* FailureClassName(FailureClass cls);

}  // namespace tidegate::queue
