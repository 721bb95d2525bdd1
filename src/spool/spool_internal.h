// spool_internal.h — the spool's private state (Spool::Impl) and the types its three source
// files share: spool.cc (the commit thread, group commit, the in-memory index, the readers and
// the Spool facade), recovery.cc (Open's scan of the segments and the clean-shutdown marker) and
// compaction.cc (deleting finished segments, relocating live messages). Not part of the module's
// interface: included by those three files only.
//
// Threads: callers enqueue requests (queue_mu_); the commit thread alone writes files and
// mutates the index; the index and segment table are guarded by index_mu_ so that ReadBody(),
// GetMeta() and stats() can run on any thread. Maintenance (deletion, compaction) runs on the
// commit thread between batches, so it never overlaps a write.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "spool/ids.h"
#include "spool/record.h"
#include "spool/segment.h"
#include "spool/spool.h"

namespace tidegate::spool {

struct Request {
  enum class Kind { kCommit, kFinish };
  Kind kind = Kind::kCommit;
  std::vector<NewMessage> messages;
  std::vector<StateUpdate> updates;
  std::uint64_t finish_mid = 0;
  std::function<void(base::Status)> done;
};

// Where the current copy of a live message sits, and its meta.
struct Entry {
  MessageMeta meta;
  std::uint64_t seq = 0;
  std::uint64_t record_offset = 0;
  std::uint64_t record_size = 0;
  std::uint64_t body_offset = 0;
};

struct Segment {
  std::uint64_t size = 0;
  std::uint64_t live_bytes = 0;            // sum of record_size of the live copies in it
  std::unordered_set<std::uint64_t> live;  // mids whose current copy is here
  std::shared_ptr<base::ReadFile> reader;
};

class Spool::Impl {
 public:
  explicit Impl(Options options)
      : opts_(std::move(options)),
        fs_(opts_.fs != nullptr ? opts_.fs : &base::PosixFilesystem()),
        clock_(opts_.clock != nullptr ? opts_.clock : &base::SystemClock::Instance()) {}

  ~Impl() {
    {
      std::lock_guard lock(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_one();
    if (thread_.joinable()) {
      thread_.join();
      WriteCleanMarker();
    }
  }

  base::Status Recover();
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }

  void Enqueue(Request request) {
    {
      std::lock_guard lock(queue_mu_);
      queue_.push_back(std::move(request));
    }
    queue_cv_.notify_one();
  }

  base::Status ReadBody(std::uint64_t mid, std::string& out) const;
  base::Result<MessageMeta> GetMeta(std::uint64_t mid) const;
  Stats GetStats() const;

  RecoveryReport report_;
  std::vector<MessageMeta> recovered_;
  std::unique_ptr<IdAllocator> ids_;

 private:
  void Run();
  void ProcessBatch(std::vector<Request>& batch);
  base::Status EnsureHead();
  base::Status Roll();
  // Fails the requests of `batch` that carry messages and would eat into the free-space reserve.
  void CheckReserve(std::vector<Request>& batch, std::vector<base::Status>& results);
  base::Result<std::uint64_t> FreeSpace() const;
  base::Status Write(const std::vector<record::EncodedRecord>& records, std::uint64_t& offset);
  void Maintain();
  bool QueueHasWork() {
    std::lock_guard lock(queue_mu_);
    return !queue_.empty();
  }
  bool RelocateStep(std::uint64_t seq);
  // The clean-shutdown marker: every segment with its synced size and live-message count.
  void WriteCleanMarker();
  // Reads (and checks) the marker left by the last run; empty when it did not stop cleanly.
  std::optional<std::map<std::uint64_t, SegmentExpectation>> ReadCleanMarker();

  // Index mutations; callers hold index_mu_ (or run before the commit thread starts).
  void AddLocked(MessageMeta meta, std::uint64_t seq, std::uint64_t offset, std::uint64_t size,
                 std::uint64_t body_offset);
  void RemoveLocked(std::uint64_t mid);
  void ApplyUpdateLocked(const StateUpdate& update);
  void MoveLocked(Entry& e, std::uint64_t seq, std::uint64_t offset, std::uint64_t size,
                  std::uint64_t body_offset);

  std::string SegmentPath(std::uint64_t seq) const {
    return base::JoinPath(opts_.dir, SegmentFileName(seq));
  }

  const Options opts_;
  base::Filesystem* const fs_;
  const base::Clock* const clock_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Request> queue_;  // guarded by queue_mu_
  bool stopping_ = false;       // guarded by queue_mu_
  std::thread thread_;

  mutable std::mutex index_mu_;
  std::unordered_map<std::uint64_t, Entry> index_;  // guarded by index_mu_
  std::map<std::uint64_t, Segment> segments_;       // guarded by index_mu_; seq → segment

  // Commit thread only (and Recover(), before the thread starts).
  std::unique_ptr<base::AppendFile> head_;
  std::uint64_t head_seq_ = 0;
  std::uint32_t head_salt_ = 0;
  bool head_broken_ = false;  // a write or sync failed: never append to it again
  std::uint64_t next_seq_ = 1;
  std::random_device random_;

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> fsyncs_{0};
  std::atomic<std::uint64_t> relocated_{0};
};

}  // namespace tidegate::spool
