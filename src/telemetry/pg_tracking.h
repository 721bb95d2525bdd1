// pg_tracking.h — PgTracking: the cluster-wide message tracking store (CONTRACT §11 "Tracking",
// `tracking.backend: postgresql`), one TrackingStore (tracking_store.h) per machine, all writing
// to one PostgreSQL database. docs/design-pg-tracking.md tells the whole design.
//
// Path of a change: the caller appends it to an in-memory queue and returns (never I/O, never a
// wait on PostgreSQL). The writer thread appends what is queued to the on-disk TrackingBuffer
// (tracking_buffer.h), each change numbered with this machine's sequence number, then ships
// buffered changes to PostgreSQL in batches: per batch ONE transaction that inserts its events
// (one multi-row INSERT), upserts its summaries (one multi-row INSERT … ON CONFLICT, the batch's
// changes to one MID merged first in queue order), and advances the machine's high-water mark
// in tracking_marks(machine, last_seq). On start and after any error the mark is read back and
// what is at or below it is skipped: each change is written exactly once, keyed by (machine,
// seq), whatever crash or disconnect happens between.
//
// PostgreSQL unreachable: changes wait in the buffer (bounded by buffer_max, the oldest dropped
// beyond, logged) and the writer reconnects with backoff from 1 s to 10 s. Schema changes are
// numbered migrations recorded in schema_migrations(version, applied_at), applied in order in one
// transaction under an advisory lock, so machines starting together apply each once.
//
// Find()/Events() query PostgreSQL (all machines) through a second connection under a mutex;
// they fail (an error, not a wait beyond the connect timeout) while it is unreachable.
//
// Ownership, threads and failure: as Tracking (tracking.h): the wiring owns the one store;
// public members may be called from any thread; nothing may call in while the destructor runs.
// The destructor moves what is queued into the buffer, tries one last shipment, and stops.
// The password is handed to libpq as its `password` keyword and never appears in a message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "telemetry/tracking_store.h"

namespace tidegate::telemetry {

struct PgTrackingOptions {
  std::string machine;     // cluster.machine, else the host name; required
  std::string buffer_dir;  // data_dir/tracking-buffer
  std::uint64_t buffer_max = 1ull << 30;
  std::uint64_t segment_bytes = 4 << 20;  // buffer segment size (tests make it small)
  std::string conninfo;                   // libpq keyword/value string, no password
  std::string password;                   // "" = none
  std::chrono::hours retention{24 * 30};
  std::chrono::milliseconds flush_interval{200};
  std::chrono::milliseconds retry_min{1000}, retry_max{10000};
  const base::Clock* clock = &base::SystemClock::Instance();
  // Lines for the mail log (connected, disconnected, buffer full); called by the writer thread.
  std::function<void(const std::string& line, bool warning)> log;
};

class PgTracking final : public TrackingStore {
 public:
  static constexpr std::size_t kMaxQueued = 200'000;
  static constexpr std::size_t kBatchSize = 1000;

  // Opens the buffer (a torn tail is cut, see notes()) and starts the writer thread. Does not
  // wait for PostgreSQL. Fails only for bad options or a buffer folder that cannot be used.
  static base::Result<std::unique_ptr<PgTracking>> Open(PgTrackingOptions options);
  ~PgTracking() override;
  PgTracking(const PgTracking&) = delete;
  PgTracking& operator=(const PgTracking&) = delete;

  void RecordMessage(MessageSummary summary) override;
  void AddEvent(std::uint64_t mid, base::SystemTime time, std::string text) override;
  void SetStatus(std::uint64_t mid, std::string status) override;
  // Waits until what was queued before is in the buffer and, while PostgreSQL answers, written.
  void Flush() override;
  base::Result<std::vector<MessageSummary>> Find(const TrackingQuery& q) const override;
  using TrackingStore::Events;
  base::Result<std::vector<TrackingEvent>> Events(std::uint64_t mid,
                                                  const std::string& machine) const override;
  // Deletes this machine's Messages received before now - retention, with their events.
  base::Status Prune() override;
  std::uint64_t dropped() const override;
  std::string last_error() const override;
  std::vector<std::string> notes() const override;
  TrackingStatus status() const override;

 private:
  class Impl;
  explicit PgTracking(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tidegate::telemetry
