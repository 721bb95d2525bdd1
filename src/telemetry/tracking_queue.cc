// tracking_queue.cc — ChangeQueue (see tracking_queue.h).
#include "telemetry/tracking_queue.h"

#include <utility>

namespace tidegate::telemetry {

bool ChangeQueue::Push(tracking_db::Change change) {
  std::unique_lock lock(mu_);
  // The store cannot keep up (or its disk hangs): losing tracking lines is better than stalling
  // an event loop or growing without bound.
  if (queue_.size() >= max_) return false;
  const bool was_empty = queue_.empty();
  if (was_empty) first_queued_ = std::chrono::steady_clock::now();
  queue_.push_back(std::move(change));
  const std::size_t size = queue_.size();
  lock.unlock();
  // The first item starts the flush_interval timer, the batch_size-th commits early; others
  // ride along without a wake-up.
  if (was_empty || size == batch_) wake_.notify_one();
  return true;
}

void ChangeQueue::Flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t wanted = ++flush_requested_;
  wake_.notify_one();
  // A pass that starts after this request takes every change queued before it.
  done_.wait(lock, [&] { return flush_done_ >= wanted; });
}

base::Status ChangeQueue::Prune() {
  std::unique_lock lock(mu_);
  const std::uint64_t wanted = ++prune_requested_;
  wake_.notify_one();
  done_.wait(lock, [&] { return prune_done_ >= wanted; });
  return prune_result_;
}

void ChangeQueue::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
}

void ChangeQueue::Next(SteadyTime idle_until, Pass* pass) {
  std::unique_lock lock(mu_);
  const auto requested = [&] {
    return flush_requested_ > flush_done_ || prune_requested_ > prune_done_ || stop_;
  };
  wake_.wait_until(lock, idle_until, [&] { return !queue_.empty() || requested(); });
  if (!queue_.empty() && !requested()) {
    wake_.wait_until(lock, first_queued_ + interval_, [&] {
      const bool ready = queue_.size() >= batch_ || requested();
      if (!ready && on_gathering_) on_gathering_(queue_.size());
      return ready;
    });
  }
  pass->batch.clear();
  pass->batch.swap(queue_);  // queue_ gets the previous batch's storage back, already cleared
  pass->flush = flush_requested_;
  pass->prune = prune_requested_;
  pass->prune_requested = prune_requested_ > prune_done_;
  pass->stopping = stop_;
}

bool ChangeQueue::Done(const Pass& pass, std::optional<base::Status> pruned) {
  std::lock_guard lock(mu_);
  flush_done_ = pass.flush;
  if (pass.prune > prune_done_) {
    prune_done_ = pass.prune;
    prune_result_ = pruned.value_or(base::Status::Ok());
  }
  done_.notify_all();
  return pass.stopping && queue_.empty();
}

}  // namespace tidegate::telemetry
