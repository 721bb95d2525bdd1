// tracking.h — Tracking: the single-machine message tracking store (CONTRACT §7), SQLite in WAL
// mode, written off the hot path in batches; one implementation of TrackingStore
// (tracking_store.h; PgTracking in pg_tracking.h is the cluster-wide one).
//
// For every Message it keeps a summary (MID, ICID, time received, envelope sender and recipients,
// Message-ID, Subject, policy, parent MID of a split or journal copy, status) and its history, one
// TrackingEvent per line, shown by `track --mid N` as FormatTrackingLine() lines. The store is one
// file (data_dir/tracking.db), so tracking survives restarts. Tracking is not the durability path
// (the spool is): commits are not fsynced one by one, and losing the last moments of tracking in
// a crash is accepted.
//
// Ownership: the server wiring owns the one Tracking (a unique_ptr from Open()); SMTP sessions,
// the delivery engine and the admin API hold plain pointers that must not outlive it. The Tracking
// owns one writer thread and two SQLite connections (one written only by that thread, one for
// queries).
//
// Threads: every public member may be called from any thread, concurrently. RecordMessage(),
// AddEvent() and SetStatus() never touch the disk: they append to a bounded in-memory queue under
// a short mutex and return, so event loops never wait for SQLite. The writer thread commits what
// is queued in one transaction every flush_interval, or at once when 1000 items are waiting.
// Changes are applied in the order they were queued. Find() and Events() read through their own
// connection (WAL lets them run while the writer commits) and see what has been committed, not
// what is still queued: call Flush() first to read your own writes. Nothing may call into a
// Tracking while its destructor runs.
//
// Failure: tracking never stops mail. Beyond 200,000 queued items, or when a batch cannot be
// committed, changes are dropped and counted (dropped()); the last write error is kept
// (last_error()). A file that is not a database, or a database found corrupt (at Open or while
// writing), is moved aside as `tracking.db.corrupt-<YYYYMMDDTHHMMSS>` (local time; `_1`, `_2`
// when taken; its WAL beside it) and a fresh store is started; notes() says so. Open() fails
// only when no store can be created at all (for example an unwritable folder); the wiring may
// then run without tracking.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "telemetry/tracking_store.h"

namespace tidegate::telemetry {

struct TrackingOptions {
  std::string path{};  // data_dir/tracking.db; its folder is created
  std::chrono::hours retention{24 * 30};
  std::chrono::milliseconds flush_interval{200};
  const base::Clock* clock = &base::SystemClock::Instance();
  // Tests: called by the writer thread, under the store's lock, each time it lets a batch gather
  // (not full, not due), with the number of changes queued. Must not call into the store.
  std::function<void(std::size_t queued)> on_gathering;
};

class Tracking final : public TrackingStore {
 public:
  static constexpr std::size_t kMaxQueued = 200'000;  // queued items beyond this are dropped
  static constexpr std::size_t kBatchSize = 1000;     // this many queued items commit at once
  static constexpr std::size_t kMaxFindLimit = 10'000;

  // Opens or creates the store (schema, WAL) and starts the writer thread; a corrupt file is
  // moved aside (see notes()). Fails when options are invalid or no store can be created.
  static base::Result<std::unique_ptr<Tracking>> Open(TrackingOptions options);

  // Commits everything queued so far, then stops the writer thread.
  ~Tracking() override;
  Tracking(const Tracking&) = delete;
  Tracking& operator=(const Tracking&) = delete;

  // Queue a change; never blocks on I/O. Upserts the summary by MID (see MessageSummary).
  void RecordMessage(MessageSummary summary) override;
  // Appends one line to a Message's history (a summary need not exist).
  void AddEvent(std::uint64_t mid, base::SystemTime time, std::string text) override;
  // Sets the status; creates a bare summary if the MID is not known yet.
  void SetStatus(std::uint64_t mid, std::string status) override;

  // Blocks until every change queued before this call is committed (or counted as dropped).
  void Flush() override;

  // Summaries matching the query, newest received first (then highest MID first).
  base::Result<std::vector<MessageSummary>> Find(const TrackingQuery& q) const override;
  // A Message's history, oldest first (events with the same time in the order they were queued).
  // The machine is ignored: one SQLite store holds one machine's Messages (machine "").
  using TrackingStore::Events;
  base::Result<std::vector<TrackingEvent>> Events(std::uint64_t mid,
                                                  const std::string& machine) const override;

  // Deletes Messages received before clock->Now() - retention (with their recipients and
  // events) and any events older than that. Runs after the changes queued before it; the writer
  // also runs it at start and every hour.
  base::Status Prune() override;

  // Changes lost: queue full, or a batch that could not be committed.
  std::uint64_t dropped() const override;
  // The last error met while writing ("" if none).
  std::string last_error() const override;
  // Things an operator should know, e.g. that a corrupt file was moved aside.
  std::vector<std::string> notes() const override;
  // backend "sqlite", always connected, no buffer.
  TrackingStatus status() const override;
  const std::string& path() const;

 private:
  class Impl;  // the queue, the writer thread and the connections; defined in tracking.cc
  explicit Tracking(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tidegate::telemetry
