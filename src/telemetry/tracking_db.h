// tracking_db.h — the SQL side of the message tracking store: schema, prepared statements, and
// one class per connection (WriteDb applies changes, ReadDb answers queries).
//
// Internal to telemetry: only tracking.cc uses it; everything else goes through Tracking, which
// owns the queue, the writer thread, batching and recovery from a damaged file.
//
// Ownership and threads: each object owns one SQLite connection and its prepared statements
// (prepared once, reused). An object is not thread-safe: its owner uses it from one thread at a
// time (Tracking: the writer thread for WriteDb, under a mutex for ReadDb). Any number of
// ReadDb may run beside one WriteDb on the same file (WAL).
//
// Failure: calls return SQLite result codes (SQLITE_OK, or an extended error code) with
// ErrorText() for people; IsCorruption() tells which codes mean "move the file aside".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "telemetry/tracking.h"

namespace tidegate::telemetry::tracking_db {

// Changes, as queued by Tracking; `at` is when the change was queued.
struct RecordChange {
  MessageSummary summary;
  base::SystemTime at;
};
struct EventChange {
  std::uint64_t mid;
  base::SystemTime time;
  std::string text;
};
struct StatusChange {
  std::uint64_t mid;
  std::string status;
  base::SystemTime at;
};
using Change = std::variant<RecordChange, EventChange, StatusChange>;

// The search keys: an address without angle brackets in ASCII lower case (addresses are searched
// without case); a Message-ID without its angle brackets.
std::string AddressKey(std::string_view address);
std::string MessageIdKey(std::string_view id);

// One bound parameter of a search statement.
struct FindParam {
  using Value = std::variant<std::int64_t, std::string>;
  const char* name;  // ":sender", ...
  Value value;
};
// The SQL of a search and, in *params, what to bind to it (see TrackingQuery). Exposed for the
// unit tests of the query building; ReadDb::Find runs it.
std::string FindSql(const TrackingQuery& q, std::vector<FindParam>* params);

// The file is not a database, is damaged, or was written by a newer tidegate.
bool IsCorruption(int rc);
// An error of one statement that does not spoil the rest of its transaction.
bool IsStatementLevel(int rc);

class WriteDb {
 public:
  // Opens (creating) path: WAL, synchronous=NORMAL, busy timeout, the schema. On failure returns
  // the code and sets *error.
  static int Open(const std::string& path, std::unique_ptr<WriteDb>* out, std::string* error);
  ~WriteDb();
  WriteDb(const WriteDb&) = delete;
  WriteDb& operator=(const WriteDb&) = delete;

  int Begin();  // BEGIN IMMEDIATE: takes the write lock now (waits up to the busy timeout)
  int Commit();
  void RollbackIfOpen();  // after some errors (I/O, full disk) SQLite has already rolled back
  int Apply(const Change& change);
  // In its own transaction: deletes Messages received before cutoff with their recipients and
  // events, and any events older than cutoff.
  int Prune(base::SystemTime cutoff);
  std::string ErrorText(int rc) const;

 private:
  struct Handles;  // the connection and statements; defined in tracking_db.cc
  explicit WriteDb(std::unique_ptr<Handles> h);
  std::unique_ptr<Handles> h_;
};

class ReadDb {
 public:
  // Opens an existing store (WriteDb::Open creates it) for queries only.
  static int Open(const std::string& path, std::unique_ptr<ReadDb>* out, std::string* error);
  ~ReadDb();
  ReadDb(const ReadDb&) = delete;
  ReadDb& operator=(const ReadDb&) = delete;

  // See Tracking::Find and Tracking::Events. Summaries and their recipients are read in one
  // transaction, so they come from the same snapshot.
  base::Result<std::vector<MessageSummary>> Find(const TrackingQuery& q);
  base::Result<std::vector<TrackingEvent>> Events(std::uint64_t mid);

 private:
  struct Handles;
  explicit ReadDb(std::unique_ptr<Handles> h);
  std::unique_ptr<Handles> h_;
};

}  // namespace tidegate::telemetry::tracking_db
