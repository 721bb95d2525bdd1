// tracking_db.cc — the tracking store's schema, statements and queries (see tracking_db.h).
#include "telemetry/tracking_db.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <cassert>
#include <iterator>
#include <map>
#include <string_view>
#include <utility>

namespace tidegate::telemetry::tracking_db {
namespace {

using base::SystemTime;

// Long enough to ride out a checkpoint or a big prune, short enough that a stuck lock (another
// process on the same file) shows up as an error rather than a hang.
constexpr int kBusyTimeoutMs = 5000;
constexpr std::size_t kDefaultFindLimit = 100;

// Schema version 2 (1 + sender_ip and the search indexes). received_ms/time_ms are milliseconds since the Unix epoch. Summary columns
// are NULL until some call gives them a value (RecordMessage upserts with coalesce()).
// *_key columns hold the normalised search keys; events.seq is the rowid, so it grows in commit
// order, which is queue order.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages(
  mid INTEGER PRIMARY KEY,
  icid INTEGER,
  received_ms INTEGER NOT NULL,
  sender_ip TEXT,
  sender TEXT,
  sender_key TEXT,
  message_id TEXT,
  message_id_key TEXT,
  subject TEXT,
  policy TEXT,
  parent_mid INTEGER,
  journal INTEGER,
  status TEXT);
CREATE INDEX IF NOT EXISTS messages_by_received ON messages(received_ms);
CREATE INDEX IF NOT EXISTS messages_by_sender ON messages(sender_key);
CREATE INDEX IF NOT EXISTS messages_by_message_id ON messages(message_id_key);
CREATE INDEX IF NOT EXISTS messages_by_sender_ip ON messages(sender_ip, received_ms);
CREATE INDEX IF NOT EXISTS messages_by_subject ON messages(subject COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS messages_by_policy ON messages(policy, received_ms);
CREATE TABLE IF NOT EXISTS recipients(
  mid INTEGER NOT NULL,
  pos INTEGER NOT NULL,
  address TEXT NOT NULL,
  address_key TEXT NOT NULL,
  PRIMARY KEY(mid, pos)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS recipients_by_address ON recipients(address_key);
CREATE TABLE IF NOT EXISTS events(
  seq INTEGER PRIMARY KEY,
  mid INTEGER NOT NULL,
  time_ms INTEGER NOT NULL,
  text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_mid ON events(mid, time_ms);
CREATE INDEX IF NOT EXISTS events_by_time ON events(time_ms);
PRAGMA user_version = 2;
)sql";
constexpr std::int64_t kSchemaVersion = 2;
// Version 1 to 2, before kSchema runs (its CREATE TABLE IF NOT EXISTS leaves a table as it is).
constexpr std::string_view kUpgrade1 = "ALTER TABLE messages ADD COLUMN sender_ip TEXT";

// Later calls fill or override: a NULL parameter keeps the stored value. ?13 is the time the
// change was queued, the received time of a MID first seen without one.
constexpr std::string_view kUpsertMessage = R"sql(
INSERT INTO messages(mid, icid, received_ms, sender, sender_key, message_id, message_id_key,
                     subject, policy, parent_mid, journal, status, sender_ip)
VALUES(?1, ?2, coalesce(?3, ?13), ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?14)
ON CONFLICT(mid) DO UPDATE SET
  sender_ip = coalesce(?14, sender_ip),
  icid = coalesce(?2, icid), received_ms = coalesce(?3, received_ms),
  sender = coalesce(?4, sender), sender_key = coalesce(?5, sender_key),
  message_id = coalesce(?6, message_id), message_id_key = coalesce(?7, message_id_key),
  subject = coalesce(?8, subject), policy = coalesce(?9, policy),
  parent_mid = coalesce(?10, parent_mid), journal = coalesce(?11, journal),
  status = coalesce(?12, status))sql";

constexpr std::string_view kUpsertStatus = R"sql(
INSERT INTO messages(mid, received_ms, status) VALUES(?1, ?2, ?3)
ON CONFLICT(mid) DO UPDATE SET status = ?3)sql";

constexpr std::string_view kPrune[] = {
    "DELETE FROM recipients WHERE mid IN (SELECT mid FROM messages WHERE received_ms < ?1)",
    "DELETE FROM events WHERE mid IN (SELECT mid FROM messages WHERE received_ms < ?1)",
    "DELETE FROM messages WHERE received_ms < ?1",
    "DELETE FROM events WHERE time_ms < ?1",
};

std::int64_t ToMs(SystemTime t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
SystemTime FromMs(std::int64_t ms) {
  return SystemTime(
      std::chrono::duration_cast<SystemTime::duration>(std::chrono::milliseconds(ms)));
}

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

// A prepared statement, kept for reuse. Use() hands it out; the returned guard resets it and
// clears its bindings, so that a statement never holds a read snapshot or stale values.
class Stmt {
 public:
  Stmt() = default;
  int Prepare(sqlite3* db, std::string_view sql) {
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    stmt_.reset(s);
    return rc;
  }
  sqlite3_stmt* get() const { return stmt_.get(); }
  explicit operator bool() const { return stmt_ != nullptr; }

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
};

class Use {
 public:
  explicit Use(const Stmt& stmt) : s_(stmt.get()) { assert(s_ != nullptr); }
  ~Use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

  // Binding errors (SQLITE_TOOBIG, SQLITE_NOMEM) also show up as the result of Step().
  void Int(int i, std::int64_t v) { Remember(sqlite3_bind_int64(s_, i, v)); }
  void Text(int i, std::string_view v) {
    Remember(sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  // NULL (keep the stored value) for 0 / "".
  void IntOrNull(int i, std::int64_t v) {
    if (v != 0) Int(i, v);
  }
  void TextOrNull(int i, std::string_view v) {
    if (!v.empty()) Text(i, v);
  }
  int Named(const char* name) const { return sqlite3_bind_parameter_index(s_, name); }

  int Step() {
    if (bind_rc_ != SQLITE_OK) return bind_rc_;
    return sqlite3_step(s_);
  }
  // Steps a statement that returns no rows.
  int Run() {
    const int rc = Step();
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
  }
  std::int64_t ColumnInt(int i) const { return sqlite3_column_int64(s_, i); }
  std::string ColumnText(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))) : "";
  }

 private:
  void Remember(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;
};

std::string ErrorText(sqlite3* db, int rc) {
  // The connection's message matches rc only when the error came from that connection's last
  // call; otherwise the generic text for the code is the honest answer.
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) return sqlite3_errmsg(db);
  return sqlite3_errstr(rc);
}

int Exec(sqlite3* db, std::string_view sql) {
  const std::string text(sql);
  return sqlite3_exec(db, text.c_str(), nullptr, nullptr, nullptr);
}

// Opens a connection with the settings both connections share.
int OpenConnection(const std::string& path, int flags, DbPtr& db) {
  sqlite3* raw = nullptr;
  // NOMUTEX: each connection is used by one thread at a time, under our own locks.
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  db.reset(raw);  // even on failure a handle may need closing
  if (rc != SQLITE_OK) return rc;
  sqlite3_extended_result_codes(raw, 1);
  return sqlite3_busy_timeout(raw, kBusyTimeoutMs);
}

// SQLite stores signed 64-bit integers; MIDs and ICIDs above 2^63 wrap and come back unchanged.
std::int64_t AsInt(std::uint64_t v) { return static_cast<std::int64_t>(v); }
std::uint64_t AsUint(std::int64_t v) { return static_cast<std::uint64_t>(v); }

}  // namespace

bool IsCorruption(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

bool IsStatementLevel(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_TOOBIG || primary == SQLITE_CONSTRAINT || primary == SQLITE_MISMATCH ||
         primary == SQLITE_RANGE;
}

// The write connection's statements. db comes first so that it is destroyed last: closing it
// after its statements really closes it (and checkpoints the WAL).
struct WriteDb::Handles {
  DbPtr db;
  Stmt begin, commit, rollback, upsert_message, upsert_status, delete_recipients, insert_recipient,
      insert_event;
  Stmt prune[std::size(kPrune)];
};

// The query connection's statements (db first, as above).
struct ReadDb::Handles {
  DbPtr db;
  Stmt begin, commit, recipients, events;
  std::map<std::string, Stmt> find;  // by their SQL (the keys given), prepared on first use
};

WriteDb::WriteDb(std::unique_ptr<Handles> h) : h_(std::move(h)) {}
WriteDb::~WriteDb() = default;
ReadDb::ReadDb(std::unique_ptr<Handles> h) : h_(std::move(h)) {}
ReadDb::~ReadDb() = default;

int WriteDb::Open(const std::string& path, std::unique_ptr<WriteDb>* out, std::string* error) {
  auto w = std::make_unique<Handles>();
  int rc = OpenConnection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, w->db);
  sqlite3* db = w->db.get();
  const auto fail = [&](int code) {
    *error = tracking_db::ErrorText(db, code);
    return code;
  };
  if (rc != SQLITE_OK) return fail(rc);
  // WAL: queries run while the writer commits. synchronous=NORMAL: a commit is not fsynced
  // (the WAL is, at checkpoints); a power cut may lose the last commits but never corrupts.
  if ((rc = Exec(db, "PRAGMA journal_mode=WAL")) != SQLITE_OK) return fail(rc);
  if ((rc = Exec(db, "PRAGMA synchronous=NORMAL")) != SQLITE_OK) return fail(rc);
  {
    // A store written by a newer tidegate cannot be read safely: treat it like a damaged one
    // (moved aside, kept) rather than stop the gateway.
    Stmt user_version;
    if ((rc = user_version.Prepare(db, "PRAGMA user_version")) != SQLITE_OK) return fail(rc);
    Use use(user_version);
    if ((rc = use.Step()) != SQLITE_ROW) return fail(rc);
    const std::int64_t version = use.ColumnInt(0);
    if (version > kSchemaVersion) {
      *error = fmt::format("schema version {} is newer than this tidegate's ({})", version,
                           kSchemaVersion);
      return SQLITE_NOTADB;
    }
    if (version == 1 && (rc = Exec(db, kUpgrade1)) != SQLITE_OK) return fail(rc);
  }
  if ((rc = Exec(db, kSchema)) != SQLITE_OK) return fail(rc);
  const std::pair<Stmt*, std::string_view> statements[] = {
      {&w->begin, "BEGIN IMMEDIATE"},
      {&w->commit, "COMMIT"},
      {&w->rollback, "ROLLBACK"},
      {&w->upsert_message, kUpsertMessage},
      {&w->upsert_status, kUpsertStatus},
      {&w->delete_recipients, "DELETE FROM recipients WHERE mid = ?1"},
      {&w->insert_recipient,
       "INSERT INTO recipients(mid, pos, address, address_key) VALUES(?1, ?2, ?3, ?4)"},
      {&w->insert_event, "INSERT INTO events(mid, time_ms, text) VALUES(?1, ?2, ?3)"},
  };
  for (const auto& [stmt, sql] : statements) {
    if ((rc = stmt->Prepare(db, sql)) != SQLITE_OK) return fail(rc);
  }
  for (std::size_t i = 0; i < std::size(kPrune); ++i) {
    if ((rc = w->prune[i].Prepare(db, kPrune[i])) != SQLITE_OK) return fail(rc);
  }
  *out = std::unique_ptr<WriteDb>(new WriteDb(std::move(w)));
  return SQLITE_OK;
}

int WriteDb::Begin() { return Use(h_->begin).Run(); }
int WriteDb::Commit() { return Use(h_->commit).Run(); }

void WriteDb::RollbackIfOpen() {
  if (!sqlite3_get_autocommit(h_->db.get())) (void)Use(h_->rollback).Run();
}

std::string WriteDb::ErrorText(int rc) const { return tracking_db::ErrorText(h_->db.get(), rc); }

int WriteDb::Apply(const Change& change) {
  Handles& w = *h_;
  if (const auto* rec = std::get_if<RecordChange>(&change)) {
    const MessageSummary& s = rec->summary;
    {
      Use u(w.upsert_message);
      u.Int(1, AsInt(s.mid));
      u.IntOrNull(2, AsInt(s.icid));
      if (s.received != SystemTime{}) u.Int(3, ToMs(s.received));
      u.TextOrNull(4, s.sender);
      u.TextOrNull(5, AddressKey(s.sender));
      u.TextOrNull(6, s.message_id);
      u.TextOrNull(7, MessageIdKey(s.message_id));
      u.TextOrNull(8, s.subject);
      u.TextOrNull(9, s.policy);
      u.IntOrNull(10, AsInt(s.parent_mid));
      u.IntOrNull(11, s.journal ? 1 : 0);
      u.TextOrNull(12, s.status);
      u.Int(13, ToMs(rec->at));
      u.TextOrNull(14, s.sender_ip);
      if (int rc = u.Run(); rc != SQLITE_OK) return rc;
    }
    if (s.recipients.empty()) return SQLITE_OK;
    {
      Use u(w.delete_recipients);
      u.Int(1, AsInt(s.mid));
      if (int rc = u.Run(); rc != SQLITE_OK) return rc;
    }
    for (std::size_t i = 0; i < s.recipients.size(); ++i) {
      Use u(w.insert_recipient);
      u.Int(1, AsInt(s.mid));
      u.Int(2, static_cast<std::int64_t>(i));
      u.Text(3, s.recipients[i]);
      u.Text(4, AddressKey(s.recipients[i]));
      if (int rc = u.Run(); rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
  }
  if (const auto* ev = std::get_if<EventChange>(&change)) {
    Use u(w.insert_event);
    u.Int(1, AsInt(ev->mid));
    u.Int(2, ToMs(ev->time));
    u.Text(3, ev->text);
    return u.Run();
  }
  const auto& st = std::get<StatusChange>(change);
  Use u(w.upsert_status);
  u.Int(1, AsInt(st.mid));
  u.Int(2, ToMs(st.at));
  u.Text(3, st.status);
  return u.Run();
}

int WriteDb::Prune(SystemTime cutoff) {
  int rc = Begin();
  for (std::size_t i = 0; rc == SQLITE_OK && i < std::size(kPrune); ++i) {
    Use u(h_->prune[i]);
    u.Int(1, ToMs(cutoff));
    rc = u.Run();
  }
  if (rc == SQLITE_OK) rc = Commit();
  if (rc != SQLITE_OK) RollbackIfOpen();
  return rc;
}

int ReadDb::Open(const std::string& path, std::unique_ptr<ReadDb>* out, std::string* error) {
  auto r = std::make_unique<Handles>();
  int rc = OpenConnection(path, SQLITE_OPEN_READWRITE, r->db);
  sqlite3* db = r->db.get();
  const auto fail = [&](int code) {
    *error = ErrorText(db, code);
    return code;
  };
  if (rc != SQLITE_OK) return fail(rc);
  // Read-write (a WAL reader may need to write the -shm index) but never writes tables.
  if ((rc = Exec(db, "PRAGMA query_only=1")) != SQLITE_OK) return fail(rc);
  const std::pair<Stmt*, std::string_view> statements[] = {
      {&r->begin, "BEGIN"},
      {&r->commit, "COMMIT"},
      {&r->recipients, "SELECT address FROM recipients WHERE mid = ?1 ORDER BY pos"},
      {&r->events, "SELECT time_ms, text FROM events WHERE mid = ?1 ORDER BY time_ms, seq"},
  };
  for (const auto& [stmt, sql] : statements) {
    if ((rc = stmt->Prepare(db, sql)) != SQLITE_OK) return fail(rc);
  }
  *out = std::unique_ptr<ReadDb>(new ReadDb(std::move(r)));
  return SQLITE_OK;
}

std::string FindSql(const TrackingQuery& q, std::vector<FindParam>* params) {
  std::string sql =
      "SELECT mid, icid, received_ms, sender, message_id, subject, policy, parent_mid, journal,"
      " status, sender_ip FROM messages WHERE 1";
  auto add = [&](std::string_view clause, const char* name, FindParam::Value value) {
    sql += clause;
    params->push_back(FindParam{name, std::move(value)});
  };
  const bool like = q.match != TrackingMatch::kIs;
  if (q.mid) add(" AND mid = :mid", ":mid", AsInt(*q.mid));
  if (std::string k = MessageIdKey(q.message_id); !k.empty()) {
    add(" AND message_id_key = :message_id", ":message_id", std::move(k));
  }
  // Address keys are lower case, so LIKE (ASCII case-insensitive) and = agree on case.
  if (std::string k = AddressKey(q.sender); !k.empty()) {
    if (like) {
      add(" AND sender_key LIKE :sender ESCAPE '\\'", ":sender", LikePattern(q.match, k));
    } else {
      add(" AND sender_key = :sender", ":sender", std::move(k));
    }
  }
  if (std::string k = AddressKey(q.recipient); !k.empty()) {
    if (like) {
      add(" AND mid IN (SELECT mid FROM recipients WHERE address_key LIKE :rcpt ESCAPE '\\')",
          ":rcpt", LikePattern(q.match, k));
    } else {
      add(" AND mid IN (SELECT mid FROM recipients WHERE address_key = :rcpt)", ":rcpt",
          std::move(k));
    }
  }
  if (!q.subject.empty()) {
    if (like) {
      add(" AND subject LIKE :subject ESCAPE '\\'", ":subject", LikePattern(q.match, q.subject));
    } else {
      add(" AND subject = :subject COLLATE NOCASE", ":subject", q.subject);
    }
  }
  if (!q.sender_ip.empty()) add(" AND sender_ip = :sender_ip", ":sender_ip", q.sender_ip);
  if (!q.policy.empty()) add(" AND policy = :policy", ":policy", q.policy);
  if (!q.mid && !q.include_journal) sql += " AND coalesce(journal, 0) = 0";
  if (q.since) add(" AND received_ms >= :since", ":since", ToMs(*q.since));
  if (q.until) add(" AND received_ms <= :until", ":until", ToMs(*q.until));
  std::size_t limit = q.limit == 0 ? kDefaultFindLimit : q.limit;
  limit = std::min(limit, Tracking::kMaxFindLimit);
  add(" ORDER BY received_ms DESC, mid DESC LIMIT :limit", ":limit",
      static_cast<std::int64_t>(limit));
  add(" OFFSET :offset", ":offset", static_cast<std::int64_t>(q.offset));
  return sql;
}

base::Result<std::vector<MessageSummary>> ReadDb::Find(const TrackingQuery& q) {
  // One statement per combination of keys and match mode, so each gets a plan that uses the
  // index for its keys; an "(? IS NULL OR col = ?)" statement would scan. User text is only ever
  // bound, never part of the SQL.
  std::vector<FindParam> params;
  const std::string sql = FindSql(q, &params);
  Handles& r = *h_;
  Stmt& find = r.find[sql];
  if (!find) {
    if (int rc = find.Prepare(r.db.get(), sql); rc != SQLITE_OK) {
      const std::string error = tracking_db::ErrorText(r.db.get(), rc);
      r.find.erase(sql);
      return base::MakeError("tracking find: " + error);
    }
  }

  // One read transaction: the summaries and their recipients come from the same snapshot.
  if (int rc = Use(r.begin).Run(); rc != SQLITE_OK) {
    return base::MakeError("tracking find: " + tracking_db::ErrorText(r.db.get(), rc));
  }
  std::vector<MessageSummary> out;
  int rc = SQLITE_OK;
  {
    Use u(find);
    for (const FindParam& p : params) {
      if (const auto* i = std::get_if<std::int64_t>(&p.value)) {
        u.Int(u.Named(p.name), *i);
      } else {
        u.Text(u.Named(p.name), std::get<std::string>(p.value));
      }
    }
    while ((rc = u.Step()) == SQLITE_ROW) {
      MessageSummary s;
      s.mid = AsUint(u.ColumnInt(0));
      s.icid = AsUint(u.ColumnInt(1));
      s.received = FromMs(u.ColumnInt(2));
      s.sender = u.ColumnText(3);
      s.message_id = u.ColumnText(4);
      s.subject = u.ColumnText(5);
      s.policy = u.ColumnText(6);
      s.parent_mid = AsUint(u.ColumnInt(7));
      s.journal = u.ColumnInt(8) != 0;
      s.status = u.ColumnText(9);
      s.sender_ip = u.ColumnText(10);
      out.push_back(std::move(s));
    }
  }
  for (std::size_t i = 0; rc == SQLITE_DONE && i < out.size(); ++i) {
    Use u(r.recipients);
    u.Int(1, AsInt(out[i].mid));
    while ((rc = u.Step()) == SQLITE_ROW) out[i].recipients.push_back(u.ColumnText(0));
  }
  const std::string error = rc == SQLITE_DONE ? "" : tracking_db::ErrorText(r.db.get(), rc);
  (void)Use(r.commit).Run();  // ends a read transaction; nothing to lose if it fails
  if (rc != SQLITE_DONE) return base::MakeError("tracking find: " + error);
  return out;
}

base::Result<std::vector<TrackingEvent>> ReadDb::Events(std::uint64_t mid) {
  Handles& r = *h_;
  std::vector<TrackingEvent> out;
  Use u(r.events);
  u.Int(1, AsInt(mid));
  int rc;
  while ((rc = u.Step()) == SQLITE_ROW) {
    out.push_back(TrackingEvent{mid, FromMs(u.ColumnInt(0)), u.ColumnText(1)});
  }
  if (rc != SQLITE_DONE)
    return base::MakeError("tracking events: " + tracking_db::ErrorText(r.db.get(), rc));
  return out;
}

namespace {
std::string_view Trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view StripBrackets(std::string_view s) {
  s = Trim(s);
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = Trim(s.substr(1, s.size() - 2));
  return s;
}

}  // namespace

std::string AddressKey(std::string_view address) {
  std::string key(StripBrackets(address));
  for (char& c : key) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return key;
}

std::string MessageIdKey(std::string_view id) { return std::string(StripBrackets(id)); }

}  // namespace tidegate::telemetry::tracking_db
