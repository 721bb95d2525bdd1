// histogram.h — a fixed-bucket histogram for the Prometheus metrics (CONTRACT §12): the journal
// delay and the engines' scan times.
//
// Observe() is lock-free (relaxed atomics: one bucket and the sum), so it is cheap on the mail
// path; Snapshot() may run on any thread at the same time (the HTTP handler) and never races. A
// snapshot's count is the sum of its buckets, so _count always equals the +Inf bucket even while
// observations land; its sum may lead or trail the buckets by the observations in flight.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace tidegate::telemetry {

struct HistogramSnapshot {
  std::vector<double> bounds;           // upper bounds (le), ascending, without +Inf
  std::vector<std::uint64_t> buckets;   // cumulative counts, one per bound, then +Inf
  double sum = 0;                       // of the observed values
  std::uint64_t count() const { return buckets.empty() ? 0 : buckets.back(); }
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, ascending (a value v lands in the first bound >= v).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  HistogramSnapshot Snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bucket (not cumulative), +Inf last
  std::atomic<std::uint64_t> sum_micros_{0};              // the sum in microseconds (no atomic FP add)
};

// Buckets (seconds) of tidegate_journal_delay_seconds: the original's acceptance to the intake's
// 250 is normally tens of milliseconds; a backlog or a retry (retry_delay 10 s) makes seconds;
// max_queue_time (120 s) bounds it.
const std::vector<double>& JournalDelayBuckets();
// Buckets (seconds) of tidegate_scan_seconds: an engine answers in milliseconds to seconds; its
// timeout is tens of seconds.
const std::vector<double>& ScanSecondsBuckets();

}  // namespace tidegate::telemetry
