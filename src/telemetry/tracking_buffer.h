// tracking_buffer.h — TrackingBuffer: the on-disk buffer of PgTracking (pg_tracking.h), where
// every tracking change waits, numbered with this machine's sequence number, until it is written
// to PostgreSQL (CONTRACT §11 "Tracking": events wait in the on-disk buffer while PostgreSQL is
// unreachable; each is written exactly once, keyed by machine and sequence number).
//
// Layout: a folder (data_dir/tracking-buffer/) of segment files `<first seq, 20 digits>.seg`,
// each a run of records `length u32 | crc32 u32 | seq u64 | payload` (little-endian; the CRC
// covers seq and payload). Sequence numbers grow by one across segments. New records go to the
// last segment; a new one starts past segment_bytes. Release(seq) deletes the segments whose
// records are all written. Nothing is fsynced: like the SQLite store, tracking is not the
// durability path; a kill -9 keeps what write() returned (page cache), a power cut may not.
//
// Damage: at Open a record that does not check (short, bad CRC, out-of-order seq) ends its
// segment. In the last segment that is a torn tail from a crash: the file is cut there and
// appending goes on. Elsewhere the rest of that segment is skipped. Either way notes() says so;
// it is never fatal.
//
// Bound: when the segments together pass max_bytes, the oldest segments are deleted (never the
// one being written) and their unwritten records counted in dropped() and reported through
// on_drop.
//
// Threads: not thread-safe, except bytes(), records() and dropped(), which any thread may read.
// PgTracking's writer thread is the only user.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace tidegate::telemetry {

struct TrackingBufferOptions {
  std::string dir;                        // created if missing
  std::uint64_t max_bytes = 1ull << 30;   // tracking.buffer_max
  std::uint64_t segment_bytes = 4 << 20;  // at most max_bytes / 4 is used
  // Called (by the appending thread) when records are dropped to stay within max_bytes.
  std::function<void(const std::string& message)> on_drop;
};

class TrackingBuffer {
 public:
  struct Record {
    std::uint64_t seq = 0;
    std::string payload;
  };

  static base::Result<std::unique_ptr<TrackingBuffer>> Open(TrackingBufferOptions options);
  ~TrackingBuffer();
  TrackingBuffer(const TrackingBuffer&) = delete;
  TrackingBuffer& operator=(const TrackingBuffer&) = delete;

  // Appends the payloads in order, numbering them from next_seq(). On an I/O error nothing of
  // this call is kept (the file is cut back) and the error is returned.
  base::Status Append(const std::vector<std::string>& payloads);
  // Up to `max` records with seq > after, oldest first.
  base::Result<std::vector<Record>> Read(std::uint64_t after, std::size_t max);
  // Records up to and including `seq` are written elsewhere: the segments holding only those go.
  void Release(std::uint64_t seq);
  // The next record gets a number above `seq` (the database has seen numbers up to it: a buffer
  // folder that was lost or replaced must not reuse them).
  void SkipTo(std::uint64_t seq);

  std::uint64_t next_seq() const { return next_seq_; }
  std::uint64_t released() const { return released_; }
  std::uint64_t bytes() const { return bytes_.load(); }
  std::uint64_t records() const { return records_.load(); }
  std::uint64_t dropped() const { return dropped_.load(); }
  std::vector<std::string> notes() const { return notes_; }

 private:
  struct Segment {
    std::uint64_t first = 0;  // seq of its first record
    std::uint64_t last = 0;   // seq of its last record; first - 1 when empty
    std::uint64_t size = 0;   // bytes
    std::string path;
  };
  explicit TrackingBuffer(TrackingBufferOptions options);
  base::Status Load();
  base::Status StartSegment();
  void Enforce();
  void UpdateGauges();

  TrackingBufferOptions opt_;
  std::vector<Segment> segments_;  // oldest first; the last one is written
  int fd_ = -1;                    // the last segment, open for appending
  std::uint64_t next_seq_ = 1;
  std::uint64_t released_ = 0;  // every seq <= this is written elsewhere
  // Read()'s place: the byte offset of record `cursor_seq_` in segment `cursor_first_`.
  std::uint64_t cursor_first_ = 0, cursor_offset_ = 0, cursor_seq_ = 0;
  std::atomic<std::uint64_t> bytes_{0}, records_{0}, dropped_{0};
  std::vector<std::string> notes_;
};

}  // namespace tidegate::telemetry
