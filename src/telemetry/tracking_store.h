// tracking_store.h — TrackingStore: what the gateway, admin API, Web UI and CLI need of a message
// tracking store (CONTRACT §7, §11 "Tracking"), whichever backend runs it: Tracking (SQLite, one
// machine, tracking.h) or PgTracking (PostgreSQL, the whole cluster, pg_tracking.h). Also the
// value types both share and the §7 line format.
//
// Every implementation keeps the same promises: the writers (RecordMessage, AddEvent, SetStatus)
// may be called from any thread and never wait for I/O; Find/Events read what has been
// committed (Flush() first to read your own writes); tracking never stops mail — what cannot be
// written is counted in dropped(), the last error kept in last_error().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "telemetry/tracking_search.h"

namespace tidegate::telemetry {

// One line of a Message's history.
struct TrackingEvent {
  std::uint64_t mid = 0;
  base::SystemTime time{};  // stored to the millisecond
  std::string text{};
};

// Every member of these structs has an initializer, so designated initializers may omit any.
//
// What is known about one Message. In RecordMessage(), a field left at its default (0, empty,
// false, epoch) keeps the value stored before, so later calls fill in or override fields.
struct MessageSummary {
  std::uint64_t mid = 0;
  std::string machine{};  // the machine that received it (PostgreSQL backend); "" with SQLite
  std::uint64_t icid = 0;
  std::string sender_ip{};  // the client's address of the connection it came in on
  // When the Message was received. If it was never given, the time the MID was first recorded.
  base::SystemTime received{};
  std::string sender{};                   // envelope sender, as received
  std::vector<std::string> recipients{};  // envelope recipients; a non-empty list replaces
  std::string message_id{};               // as in the header; searched without angle brackets
  std::string subject{};
  std::string policy{};
  std::uint64_t parent_mid = 0;  // the Message this one was split from or is a journal copy of
  bool journal = false;          // a journal copy for the Threat Defense Connector
  std::string status{};          // "queued", "delivered", ...: free text
};

// A search (CONTRACT §7, §12). Given keys are combined with AND; an empty/absent key does not
// filter. Sender, recipient and subject compare as `match` says (whole value, start, anywhere),
// without ASCII case; Message-ID matches exactly, with or without its angle brackets; sender_ip
// and policy match exactly. since/until bound the time received (inclusive). Journal copies are
// left out unless include_journal — or the search names a MID, which always finds its Message.
struct TrackingQuery {
  std::optional<std::uint64_t> mid{};
  std::string message_id{};
  std::string sender{};
  std::string recipient{};
  std::string subject{};
  std::string sender_ip{};
  std::string policy{};
  TrackingMatch match = TrackingMatch::kIs;
  bool include_journal = false;
  std::optional<base::SystemTime> since{}, until{};
  std::size_t limit = 100;  // 0 means the default (100); at most kMaxFindLimit rows
  std::size_t offset = 0;   // rows skipped first (paging), in the result order
};

// What `status` shows of the store (CONTRACT §2, §11).
struct TrackingStatus {
  std::string backend;             // "sqlite" | "postgresql"
  bool connected = true;           // PostgreSQL reachable (always true for SQLite)
  std::uint64_t buffer_bytes = 0;  // on-disk buffer not yet written to PostgreSQL
  std::uint64_t buffer_records = 0;
  std::uint64_t dropped = 0;  // changes lost (see dropped())
  std::string last_error;
};

class TrackingStore {
 public:
  virtual ~TrackingStore() = default;

  // Queue a change; never blocks on I/O. Upserts the summary by MID (see MessageSummary).
  virtual void RecordMessage(MessageSummary summary) = 0;
  // Appends one line to a Message's history (a summary need not exist).
  virtual void AddEvent(std::uint64_t mid, base::SystemTime time, std::string text) = 0;
  // Sets the status; creates a bare summary if the MID is not known yet.
  virtual void SetStatus(std::uint64_t mid, std::string status) = 0;
  // Blocks until every change queued before this call is committed, counted as dropped, or (a
  // buffering store whose database is away) safely in its buffer.
  virtual void Flush() = 0;

  // Summaries matching the query, newest received first (then highest MID first).
  virtual base::Result<std::vector<MessageSummary>> Find(const TrackingQuery& q) const = 0;
  // A Message's history, oldest first. MIDs are per machine: `machine` names the one that gave
  // the MID ("" = this machine).
  virtual base::Result<std::vector<TrackingEvent>> Events(std::uint64_t mid,
                                                          const std::string& machine) const = 0;
  base::Result<std::vector<TrackingEvent>> Events(std::uint64_t mid) const {
    return Events(mid, std::string());
  }
  // Deletes what is older than the retention (see the implementations).
  virtual base::Status Prune() = 0;

  virtual std::uint64_t dropped() const = 0;
  virtual std::string last_error() const = 0;
  // Things an operator should know, e.g. that a corrupt file was moved aside.
  virtual std::vector<std::string> notes() const = 0;
  virtual TrackingStatus status() const = 0;
};

// "16 Feb 2024 21:19:24 (GMT -06:00) <text>": CONTRACT §7's line, in local time with the UTC
// offset of that moment; the text is sanitized to stay one line (see Sanitize in mail_log.h).
// Thread-safe.
std::string FormatTrackingLine(const TrackingEvent& event);

}  // namespace tidegate::telemetry
