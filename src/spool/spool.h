// spool.h — Spool: the durable message store (append-only segment log, group commit, recovery).
//
// The spool is the only code that touches spool files (STYLE.md). A message gets SMTP 250 only
// after Commit() reports ok, and then survives kill -9 at any moment. Messages live in a few big
// append-only segment files (`seg-<16 hex>.log`); one fdatasync covers every request queued while
// the previous sync ran (group commit). In memory there is only an index mid → location and the
// message meta, never bodies. The byte layout and the recovery rules are in docs/spool-format.md.
//
// Ownership: Spool owns its files and its commit thread; the Filesystem and Clock in Options are
// borrowed and must outlive it. Thread-safety: every public method may be called from any thread,
// except that TakeRecovered() is meant to be called once, right after Open(). Callbacks run on the
// commit thread: they must be short (post to your own executor) and must not call the destructor.
// Lifetime: the destructor still runs every queued request's callback, so what a callback uses
// must outlive the Spool (its owner destroys the Spool first: Gateway::Run), or the callback
// touches only what does and reaches its object through a liveness flag (QueueManager, ScanStage).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/filesystem.h"
#include "base/result.h"

namespace tidegate::spool {

enum class MessageKind : std::uint8_t { kOriginal = 0, kJournal = 1, kDsn = 2 };
enum class RecipientState : std::uint8_t {
  kPending = 0,
  kDelivered = 1,
  kBounced = 2,
  kExpired = 3,
  kRemoved = 4,
};

// kPending is the only non-final state.
inline bool IsFinal(RecipientState s) { return s != RecipientState::kPending; }

struct Recipient {
  std::uint32_t rid = 0;
  std::string address;
  RecipientState state = RecipientState::kPending;
  // The delivery schedule of a pending recipient, as the queue last recorded it (a STATE record
  // with state kPending): attempts made so far and when the next one is due. Zero / the epoch
  // until its first failed attempt. Kept so that a restart neither retries early nor grants new
  // retries (the queue rebuilds its scheduler from these, as OpenSMTPD's does).
  std::uint32_t attempts = 0;
  base::SystemTime next_attempt{};
  friend bool operator==(const Recipient&, const Recipient&) = default;
};

struct MessageMeta {
  std::uint64_t mid = 0;
  std::uint64_t icid = 0;
  std::uint64_t parent_mid = 0;  // split/journal/DSN origin
  MessageKind kind = MessageKind::kOriginal;
  base::SystemTime received;  // if left at the epoch, the spool fills in Clock::Now()
  std::string sender;         // envelope sender, "" = null sender
  std::vector<Recipient> recipients;
  std::string policy;       // incoming mail policy name
  std::string destination;  // queue name, e.g. "example.com" or "the.tdc.queue" ("" = later)
  std::map<std::string, std::string> attrs;  // extension fields (client ip, helo, subject...)
  std::uint64_t body_size = 0;               // filled by the spool
  friend bool operator==(const MessageMeta&, const MessageMeta&) = default;
};

struct NewMessage {
  MessageMeta meta;
  std::string body;  // final bytes, CRLF lines
  // Replace the live message of the same MID (meta and body) instead of adding one: written as a
  // RELOCATED record, which supersedes the earlier copy in the index and at recovery. Used when a
  // scan verdict changes a message's delivered form (docs/life-of-a-message.md). The MID must be
  // live, else the Commit fails.
  bool replace = false;
};

// A change of some recipients' state. With state kPending it records a retry instead: the
// recipients stay pending and get `attempts` and `next_attempt` (ignored for recipients that are
// already final, so a late schedule can never revive a delivered recipient).
struct StateUpdate {
  std::uint64_t mid = 0;
  std::vector<std::uint32_t> rids;
  RecipientState state = RecipientState::kPending;
  std::uint32_t attempts = 0;        // kPending only
  base::SystemTime next_attempt{};   // kPending only
};

struct Options {
  std::string dir;
  base::Filesystem* fs = nullptr;      // nullptr = base::PosixFilesystem()
  const base::Clock* clock = nullptr;  // nullptr = base::SystemClock
  std::uint64_t segment_size = 64 << 20;
  // Relocate the oldest segment's live messages when they fill less than this share of it.
  double compact_live_ratio = 0.25;
  // Above this many segments, also relocate an oldest segment that is at most half live.
  std::uint32_t max_segments_before_compaction = 8;
  // Free-space reserve. A Commit() that carries new messages fails (disk full) when writing them
  // would leave less than this many bytes free on the spool's filesystem; state updates and
  // finishes still write. They are what frees space (a segment whose messages are all finished is
  // deleted), so on a full disk delivery can still record its results and drain the queue instead
  // of deadlocking with every byte taken by undeliverable-looking, delivered mail. 0 = no reserve.
  std::uint64_t min_free_bytes = 0;
  // Free bytes on the spool's filesystem (tests inject one); nullptr = statvfs(2) of `dir`.
  std::function<base::Result<std::uint64_t>()> free_space;
};

struct RecoveryReport {
  std::size_t segments = 0;           // segment files found (0: a new spool)
  std::size_t messages = 0;           // live messages recovered
  std::size_t corrupt_regions = 0;    // regions (or whole files) moved to corrupt/
  std::uint64_t truncated_bytes = 0;  // unfinished writes cut away (never acknowledged)
  // The last run stopped cleanly (its clean-shutdown marker was found). Then nothing can be an
  // unfinished write: every damaged byte is damage, kept in corrupt/.
  bool clean_shutdown = false;
  std::vector<std::string> notes;   // harmless repairs, one line each (operator log: warning)
  std::vector<std::string> damage;  // acknowledged data damaged or missing, one line each, naming
                                    // the segment and how many live messages it should hold
                                    // (operator log: critical)
};

class Spool {
 public:
  // Opens or creates the spool in options.dir, runs recovery, starts the commit thread.
  // Fails on an unusable directory or an unreadable `ids` file; damaged segments are repaired
  // (see RecoveryReport) rather than refused.
  static base::Result<std::unique_ptr<Spool>> Open(Options options);
  // Finishes every queued request (their callbacks run), stops the commit thread, then writes
  // the clean-shutdown marker (docs/spool-format.md) so the next Open() knows this run ended well.
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  const RecoveryReport& recovery() const;
  // Live messages found at Open (sorted by mid), moved out: a second call returns nothing.
  std::vector<MessageMeta> TakeRecovered();

  // Unique for the life of the directory, also across crashes (durable block reservation).
  // Return 0 (never a valid id) if the reservation could not be made durable (disk error): the
  // caller must treat that as a temporary failure.
  std::uint64_t NextMid();
  std::uint64_t NextIcid();
  std::uint64_t NextConnectionId();  // a delivery connection's DCID

  // Group commit: non-blocking. `done` runs on the commit thread once everything in this call is
  // durable (data fsynced, and the directory if a segment was created), or with an error (disk
  // full or below Options::min_free_bytes, I/O error, invalid request) — then NOTHING of this
  // call may be considered stored.
  // All records of one call are written together, messages before updates. Updates for unknown
  // (already finished) mids are harmless. A message whose recipients are all final at once is
  // stored but not live. An empty call is a barrier: `done` runs after earlier work.
  void Commit(std::vector<NewMessage> messages, std::vector<StateUpdate> updates,
              std::function<void(base::Status)> done);
  // A message is finished when every recipient is in a final state, or explicitly by this.
  void Finish(std::uint64_t mid, std::function<void(base::Status)> done);

  // Reads a live message's body (pread from its segment). Error if the mid is not live.
  base::Status ReadBody(std::uint64_t mid, std::string& out) const;
  // The current meta of a live message (recipient states included).
  base::Result<MessageMeta> GetMeta(std::uint64_t mid) const;

  struct Stats {
    std::size_t live_messages = 0;
    std::size_t segments = 0;
    std::uint64_t bytes = 0;      // total size of all segment files
    std::uint64_t commits = 0;    // Commit/Finish requests completed successfully
    std::uint64_t fsyncs = 0;     // fdatasync + directory fsync calls issued by the spool
    std::uint64_t relocated = 0;  // messages copied forward by compaction
  };
  Stats stats() const;

 private:
  class Impl;
  explicit Spool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tidegate::spool
