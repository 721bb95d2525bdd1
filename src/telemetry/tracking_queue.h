// tracking_queue.h — ChangeQueue: the in-memory queue between the callers of a TrackingStore and
// its writer thread, shared by Tracking (SQLite) and PgTracking (PostgreSQL): bounded, batched
// by size or age, with Flush() and Prune() requests the writer answers after a pass.
//
// Threads: Push(), Flush(), Prune() and Stop() from any thread; Next() and Done() from the one
// writer thread. Flush()/Prune() block until a pass that started after them is Done().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "base/result.h"
#include "telemetry/tracking_db.h"

namespace tidegate::telemetry {

class ChangeQueue {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  // What the writer takes in one pass.
  struct Pass {
    std::vector<tracking_db::Change> batch;
    std::uint64_t flush = 0, prune = 0;  // the requests it answers
    bool prune_requested = false;
    bool stopping = false;
  };

  ChangeQueue(std::size_t max_queued, std::size_t batch_size,
              std::chrono::milliseconds flush_interval,
              std::function<void(std::size_t)> on_gathering = nullptr)
      : max_(max_queued),
        batch_(batch_size),
        interval_(flush_interval),
        on_gathering_(std::move(on_gathering)) {}

  // False when max_queued changes are waiting (the change is not kept).
  bool Push(tracking_db::Change change);
  void Flush();
  base::Status Prune();
  void Stop();

  // Waits until something is queued or requested (or `idle_until`), then lets a batch gather
  // up to flush_interval after its first change, or batch_size changes; `pass` gets the batch
  // (its vector's storage is reused).
  void Next(SteadyTime idle_until, Pass* pass);
  // The pass is over: wakes its Flush() and Prune() callers. True when the writer should end.
  bool Done(const Pass& pass, std::optional<base::Status> pruned);

 private:
  const std::size_t max_, batch_;
  const std::chrono::milliseconds interval_;
  const std::function<void(std::size_t)> on_gathering_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<tracking_db::Change> queue_;
  SteadyTime first_queued_{};
  std::uint64_t flush_requested_ = 0, flush_done_ = 0;
  std::uint64_t prune_requested_ = 0, prune_done_ = 0;
  base::Status prune_result_;
  bool stop_ = false;
};

}  // namespace tidegate::telemetry
