// counters.h — the gateway's counters: per destination (the tophosts rows) and global (status).
//
// One place for every figure an operator sees, updated by the delivery engine and the SMTP
// sessions, read by the admin API and /metrics. Counters are since the process started.
// Thread-safe (one mutex; updates are a few per message). The histograms of the Prometheus
// metrics (CONTRACT §12) live here too, outside the mutex: lock-free atomics (histogram.h).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "telemetry/histogram.h"

namespace tidegate::telemetry {

struct DestinationCounters {
  std::uint64_t delivered = 0;      // recipients delivered
  std::uint64_t soft_bounced = 0;   // soft-bounce events (4xx, network errors, each retry)
  std::uint64_t hard_bounced = 0;   // recipients hard-bounced (TDC: copies removed unsent)
  std::uint32_t connections_out = 0;  // open outbound connections now
  bool down = false;                // as of the last delivery attempt
  std::string last_error;           // last 4xx/5xx/TLS/network error text
  std::string last_4xx;             // last temporary SMTP reply
  std::string last_5xx;             // last permanent SMTP reply
  std::string last_tls_error;       // last TLS failure
  std::vector<std::string> next_hops;  // "host [ip]:port" of the last resolution, in order
  // The Delivery Status Details figures (hoststatus, the Web UI's page per destination).
  std::vector<std::string> ips_used;  // "ip:port" connected to, most recent first (kMaxIpsUsed)
  base::SystemTime last_activity{};   // the last event of any kind above (epoch 0 = none yet)
  base::SystemTime last_error_at{};   // when last_error was recorded (epoch 0 = never)
};

struct GlobalCounters {
  std::uint64_t connections_in = 0;      // accepted inbound connections
  std::uint64_t messages_received = 0;   // messages that got a 250
  std::uint64_t recipients_received = 0;
  std::uint64_t recipients_delivered = 0;          // = the two below
  std::uint64_t recipients_delivered_mail = 0;     // to every destination but the.tdc.queue
  std::uint64_t recipients_delivered_journal = 0;  // journal copies, on the.tdc.queue
  std::uint64_t recipients_bounced = 0;
  std::uint64_t journal_copies = 0;      // journal copies generated
  std::uint64_t journal_delivered = 0;
  std::uint64_t journal_failed = 0;      // ended unsent: rejected (5xx, TLS) or removed
  std::uint64_t journal_removed = 0;     // of those: removed (retries used up, max_queue_time)
  std::uint64_t dsns_generated = 0;
  // Content security (CONTRACT §10): verdicts per message scanned, and what became of them.
  std::uint64_t spam_negative = 0;
  std::uint64_t spam_suspect = 0;
  std::uint64_t spam_positive = 0;
  std::uint64_t virus_negative = 0;
  std::uint64_t virus_positive = 0;
  std::uint64_t virus_unscannable = 0;
  std::uint64_t quarantined = 0;     // messages put in a quarantine
  std::uint64_t dropped = 0;         // messages dropped by a verdict
  std::uint64_t released = 0;        // messages released from a quarantine
  std::uint64_t scan_failures = 0;   // scans that failed (engine unavailable) and wait for a retry
  // Recipient validation (CONTRACT §13), per RCPT that a method (or its cached answer) decided.
  std::uint64_t recipients_known = 0;           // found: accepted
  std::uint64_t recipients_unknown = 0;         // not found: 550 5.1.1
  std::uint64_t recipient_lookup_failures = 0;  // failed: 451 4.4.3, or accepted by on_failure
  std::uint64_t harvest_limited = 0;            // answered 421 4.7.0 (harvest limit)
};

class Counters {
 public:
  // `clock` stamps last_activity and last_error_at; it must outlive the Counters.
  explicit Counters(const base::Clock& clock = base::SystemClock::Instance()) : clock_(clock) {}

  // `journal`: the recipients are journal copies (the.tdc.queue), else mail.
  void Delivered(const std::string& destination, std::uint64_t recipients, bool journal = false);
  void SoftBounced(const std::string& destination, std::uint64_t events, std::string error);
  void HardBounced(const std::string& destination, std::uint64_t recipients, std::string error);
  void ConnectionOpened(const std::string& destination);
  void ConnectionClosed(const std::string& destination);
  void SetDown(const std::string& destination, bool down);
  enum class ErrorKind { kTemporary, kPermanent, kTls };
  void RecordError(const std::string& destination, ErrorKind kind, std::string text);
  void SetNextHops(const std::string& destination, std::vector<std::string> hops);
  // A connection to `address` ("ip:port") was opened: first in ips_used, without duplicates.
  void ConnectionUsed(const std::string& destination, const std::string& address);
  static constexpr std::size_t kMaxIpsUsed = 8;
  // Ensures a row exists (the.tdc.queue is listed while the TDC is enabled, even when idle).
  void Touch(const std::string& destination);

  template <typename F>
  void UpdateGlobal(F&& f) {
    std::lock_guard lock(mu_);
    f(global_);
  }

  std::map<std::string, DestinationCounters> Destinations() const;
  GlobalCounters Global() const;

  // Delivered journal copies: the original's acceptance to the intake's 250, in seconds.
  Histogram& journal_delay() { return journal_delay_; }
  // One engine's answer time, in seconds ("rspamd", "clamd"; each call, answered or failed).
  Histogram& scan_seconds_rspamd() { return scan_rspamd_; }
  Histogram& scan_seconds_clamd() { return scan_clamd_; }

 private:
  // The destination's row, its last_activity stamped now. Called with mu_ held.
  DestinationCounters& Active(const std::string& destination);

  const base::Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, DestinationCounters> destinations_;
  GlobalCounters global_;
  Histogram journal_delay_{JournalDelayBuckets()};
  Histogram scan_rspamd_{ScanSecondsBuckets()};
  Histogram scan_clamd_{ScanSecondsBuckets()};
};

}  // namespace tidegate::telemetry
