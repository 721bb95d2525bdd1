// pg_tracking.cc — PgTracking's queue, writer thread, shipping, migrations and queries (see
// pg_tracking.h).
#include "telemetry/pg_tracking.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>

#include "telemetry/tracking_buffer.h"
#include "telemetry/tracking_db.h"
#include "telemetry/tracking_queue.h"

namespace tidegate::telemetry {
namespace {

using base::SystemTime;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kPruneEvery = std::chrono::hours(1);
constexpr int kPoisonTries = 3;  // a batch PostgreSQL refuses this often for its content is dropped

// ---- migrations: append only; never edit one that has shipped -------------------------------
constexpr std::string_view kMigrations[] = {
    R"sql(
CREATE TABLE tracking_messages(
  machine text NOT NULL,
  mid bigint NOT NULL,
  icid bigint,
  received_ms bigint,
  first_seen_ms bigint NOT NULL,
  sender text, sender_key text,
  message_id text, message_id_key text,
  subject text, policy text,
  parent_mid bigint, journal boolean, status text,
  recipients text[], recipient_keys text[],
  PRIMARY KEY(machine, mid));
CREATE INDEX tracking_messages_by_received
  ON tracking_messages((coalesce(received_ms, first_seen_ms)));
CREATE INDEX tracking_messages_by_sender ON tracking_messages(sender_key);
CREATE INDEX tracking_messages_by_message_id ON tracking_messages(message_id_key);
CREATE INDEX tracking_messages_by_recipient ON tracking_messages USING gin(recipient_keys);
CREATE TABLE tracking_events(
  machine text NOT NULL,
  seq bigint NOT NULL,
  mid bigint NOT NULL,
  time_ms bigint NOT NULL,
  text text NOT NULL,
  PRIMARY KEY(machine, seq));
CREATE INDEX tracking_events_by_mid ON tracking_events(machine, mid, time_ms);
CREATE INDEX tracking_events_by_time ON tracking_events(time_ms);
CREATE TABLE tracking_marks(machine text PRIMARY KEY, last_seq bigint NOT NULL);
)sql",
    // 2: the search of CONTRACT §12 (sender IP, policy, subject; LIKE prefixes use the
    // text_pattern_ops indexes).
    R"sql(
ALTER TABLE tracking_messages ADD COLUMN sender_ip text;
CREATE INDEX tracking_messages_by_sender_ip ON tracking_messages(sender_ip);
CREATE INDEX tracking_messages_by_policy ON tracking_messages(policy);
CREATE INDEX tracking_messages_by_sender_prefix ON tracking_messages(sender_key text_pattern_ops);
CREATE INDEX tracking_messages_by_subject ON tracking_messages(lower(subject) text_pattern_ops);
)sql",
    // 3: a batch's events of one message in one row, in queue order (about four rows per
    // message instead of fifteen, each with its index entries: PostgreSQL's CPU per message,
    // which shares the machine with the gateway). The view keeps the old shape for reading.
    R"sql(
CREATE TABLE tracking_event_rows(
  machine text NOT NULL,
  seq bigint NOT NULL,
  mid bigint NOT NULL,
  last_ms bigint NOT NULL,
  seqs bigint[] NOT NULL,
  times bigint[] NOT NULL,
  texts text[] NOT NULL,
  PRIMARY KEY(machine, seq));
CREATE INDEX tracking_event_rows_by_mid ON tracking_event_rows(machine, mid);
CREATE INDEX tracking_event_rows_by_time ON tracking_event_rows(last_ms);
INSERT INTO tracking_event_rows
  SELECT machine, min(seq), mid, max(time_ms), array_agg(seq ORDER BY seq),
         array_agg(time_ms ORDER BY seq), array_agg(text ORDER BY seq)
  FROM tracking_events GROUP BY machine, mid;
DROP TABLE tracking_events;
CREATE VIEW tracking_events AS
  SELECT r.machine, e.seq, r.mid, e.time_ms, e.text
  FROM tracking_event_rows r, unnest(r.seqs, r.times, r.texts) AS e(seq, time_ms, text);
)sql",
};
constexpr std::int64_t kLockKey = 0x7469646567617465;  // "tidegate"

// ---- the buffer's record: one change --------------------------------------------------------
enum Kind : std::uint8_t { kRecord = 1, kEvent = 2, kStatus = 3 };

void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutStr(std::string& out, std::string_view s) {
  PutU64(out, s.size());
  out.append(s);
}
std::int64_t Ms(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
SystemTime FromMs(std::int64_t ms) { return SystemTime(std::chrono::milliseconds(ms)); }

struct Reader {
  std::string_view in;
  bool ok = true;
  std::uint64_t U64() {
    if (in.size() < 8) {
      ok = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
    in.remove_prefix(8);
    return v;
  }
  std::string Str() {
    const std::uint64_t n = U64();
    if (!ok || in.size() < n) {
      ok = false;
      return {};
    }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

std::string Encode(const tracking_db::Change& change) {
  std::string out;
  if (const auto* r = std::get_if<tracking_db::RecordChange>(&change)) {
    const MessageSummary& s = r->summary;
    out.push_back(static_cast<char>(kRecord));
    PutU64(out, s.mid);
    PutU64(out, static_cast<std::uint64_t>(Ms(r->at)));
    PutU64(out, s.icid);
    PutU64(out, static_cast<std::uint64_t>(s.received == SystemTime{} ? 0 : Ms(s.received)));
    PutStr(out, s.sender);
    PutU64(out, s.recipients.size());
    for (const std::string& rcpt : s.recipients) PutStr(out, rcpt);
    PutStr(out, s.message_id);
    PutStr(out, s.subject);
    PutStr(out, s.policy);
    PutU64(out, s.parent_mid);
    PutU64(out, s.journal ? 1 : 0);
    PutStr(out, s.status);
    PutStr(out, s.sender_ip);  // added last: a record buffered by an older tidegate ends before
  } else if (const auto* e = std::get_if<tracking_db::EventChange>(&change)) {
    out.push_back(static_cast<char>(kEvent));
    PutU64(out, e->mid);
    PutU64(out, static_cast<std::uint64_t>(Ms(e->time)));
    PutStr(out, e->text);
  } else {
    const auto& st = std::get<tracking_db::StatusChange>(change);
    out.push_back(static_cast<char>(kStatus));
    PutU64(out, st.mid);
    PutU64(out, static_cast<std::uint64_t>(Ms(st.at)));
    PutStr(out, st.status);
  }
  return out;
}

std::optional<tracking_db::Change> Decode(std::string_view payload) {
  if (payload.empty()) return std::nullopt;
  Reader r{payload.substr(1)};
  const auto kind = static_cast<std::uint8_t>(payload[0]);
  std::optional<tracking_db::Change> out;
  if (kind == kRecord) {
    MessageSummary s;
    s.mid = r.U64();
    const auto at = FromMs(static_cast<std::int64_t>(r.U64()));
    s.icid = r.U64();
    const auto received = static_cast<std::int64_t>(r.U64());
    if (received != 0) s.received = FromMs(received);
    s.sender = r.Str();
    const std::uint64_t n = r.U64();
    for (std::uint64_t i = 0; r.ok && i < n; ++i) s.recipients.push_back(r.Str());
    s.message_id = r.Str();
    s.subject = r.Str();
    s.policy = r.Str();
    s.parent_mid = r.U64();
    s.journal = r.U64() != 0;
    s.status = r.Str();
    if (!r.in.empty()) s.sender_ip = r.Str();
    out = tracking_db::RecordChange{std::move(s), at};
  } else if (kind == kEvent) {
    const std::uint64_t mid = r.U64();
    const auto time = FromMs(static_cast<std::int64_t>(r.U64()));
    out = tracking_db::EventChange{mid, time, r.Str()};
  } else if (kind == kStatus) {
    const std::uint64_t mid = r.U64();
    const auto at = FromMs(static_cast<std::int64_t>(r.U64()));
    out = tracking_db::StatusChange{mid, r.Str(), at};
  }
  if (!r.ok || !r.in.empty()) return std::nullopt;
  return out;
}

// PostgreSQL text holds valid UTF-8 without NUL: anything else becomes U+FFFD, so that one odd
// Subject can never block the buffer.
std::string PgText(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool valid = n != 0 && i + n <= s.size() && c != 0;
    for (std::size_t k = 1; valid && k < n; ++k) {
      valid = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    }
    if (valid && n == 2) valid = c >= 0xc2;
    if (valid && n == 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      valid = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
    }
    if (valid && n == 4) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      valid = c <= 0xf4 && !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (!valid) {
      out += "\xef\xbf\xbd";
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

// A text[] literal: {"a","b\"c"}.
std::string ArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : PgText(items[i])) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// Parameters of one statement, kept alive while it runs (nullopt = SQL NULL).
class Params {
 public:
  void Add(std::optional<std::string> v) { values_.push_back(std::move(v)); }
  void Text(const std::string& s) { Add(PgText(s)); }
  void TextOrNull(const std::string& s) {
    Add(s.empty() ? std::nullopt : std::optional(PgText(s)));
  }
  void Int(std::int64_t v) { Add(std::to_string(v)); }
  std::size_t size() const { return values_.size(); }
  std::string Next() { return "$" + std::to_string(values_.size() + 1); }
  std::vector<const char*> Pointers() const {
    std::vector<const char*> p;
    for (const auto& v : values_) p.push_back(v ? v->c_str() : nullptr);
    return p;
  }

 private:
  std::vector<std::optional<std::string>> values_;
};

struct PgResult {
  PGresult* r = nullptr;
  explicit PgResult(PGresult* res) : r(res) {}
  ~PgResult() { PQclear(r); }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  bool Ok() const {
    const auto s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
};

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;

std::string ConnError(PGconn* c) {
  std::string e = c ? PQerrorMessage(c) : "out of memory";
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  std::replace(e.begin(), e.end(), '\n', ' ');
  return e;
}

base::Result<ConnPtr> Connect(const PgTrackingOptions& o) {
  // The conninfo string is expanded as dbname; the password travels as its own keyword.
  std::vector<const char*> keys = {"dbname", "connect_timeout", "application_name"};
  const std::string app = "tidegate " + o.machine;
  std::vector<const char*> values = {o.conninfo.c_str(), "5", app.c_str()};
  if (!o.password.empty()) {
    keys.push_back("password");
    values.push_back(o.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  ConnPtr c(PQconnectdbParams(keys.data(), values.data(), 1));
  if (!c || PQstatus(c.get()) != CONNECTION_OK) return base::MakeError(ConnError(c.get()));
  return c;
}

// Runs statements separated by nothing but their own text (no parameters).
base::Status Exec(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  if (!r.Ok()) return base::MakeError(ConnError(c));
  return base::Status::Ok();
}

base::Result<std::unique_ptr<PgResult>> ExecParams(PGconn* c, const std::string& sql,
                                                   const Params& p) {
  const auto ptrs = p.Pointers();
  auto r = std::make_unique<PgResult>(PQexecParams(c, sql.c_str(), static_cast<int>(ptrs.size()),
                                                   nullptr, ptrs.data(), nullptr, nullptr, 0));
  if (!r->Ok()) return base::MakeError(ConnError(c));
  return r;
}

// One field of COPY's text format: backslash, tab, newline and carriage return escaped (the
// texts are valid UTF-8 without NUL already, as for a bound parameter).
void AppendCopyField(std::string* out, std::string_view v) {
  for (char ch : v) {
    switch (ch) {
      case '\\':
        *out += "\\\\";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      default:
        out->push_back(ch);
    }
  }
}

// One element of an array literal, quoted ("…" with `"` and `\` escaped); the whole literal then
// goes through AppendCopyField like any field.
void AppendArrayElement(std::string* out, std::string_view v) {
  out->push_back('"');
  for (char ch : v) {
    if (ch == '"' || ch == '\\') out->push_back('\\');
    out->push_back(ch);
  }
  out->push_back('"');
}

// One message's events within a batch: one row of tracking_event_rows (migration 3).
struct EventRow {
  std::uint64_t mid = 0;
  std::vector<std::uint64_t> seqs;
  std::vector<std::int64_t> times;
  std::vector<std::string> texts;
};

// The row in COPY's text format: machine, seq (the first event's), mid, last_ms (the newest
// event's time), seqs, times, texts.
void AppendEventRow(std::string* out, std::string_view machine, const EventRow& row) {
  fmt::format_to(std::back_inserter(*out), "{}\t{}\t{}\t{}\t{{{}}}\t{{{}}}\t", machine,
                 row.seqs.front(), row.mid,
                 *std::max_element(row.times.begin(), row.times.end()), fmt::join(row.seqs, ","),
                 fmt::join(row.times, ","));
  std::string texts = "{";
  for (std::size_t i = 0; i < row.texts.size(); ++i) {
    if (i > 0) texts.push_back(',');
    AppendArrayElement(&texts, row.texts[i]);
  }
  texts.push_back('}');
  AppendCopyField(out, texts);
  out->push_back('\n');
}

// `sql` is a COPY … FROM STDIN; `data` its rows in text format. Blocking, like the rest of the
// writer's connection.
base::Status CopyIn(PGconn* c, const std::string& sql, const std::string& data) {
  {
    PgResult start(PQexec(c, sql.c_str()));
    if (PQresultStatus(start.r) != PGRES_COPY_IN) return base::MakeError(ConnError(c));
  }
  bool sent = PQputCopyData(c, data.data(), static_cast<int>(data.size())) == 1;
  if (PQputCopyEnd(c, sent ? nullptr : "tidegate: sending the rows failed") != 1) sent = false;
  base::Status status = base::Status::Ok();
  if (!sent) status = base::MakeError(ConnError(c));
  while (PGresult* r = PQgetResult(c)) {  // the COPY's own result, then nullptr
    PgResult result(r);
    if (status && !result.Ok()) status = base::MakeError(ConnError(c));
  }
  return status;
}

// The summary changes of one batch to one MID, merged in queue order with RecordMessage's rules.
struct Merged {
  std::uint64_t mid = 0;
  std::int64_t first_at = 0;
  std::optional<std::int64_t> icid, received, parent_mid;
  std::optional<std::string> sender, message_id, subject, policy, status, sender_ip;
  std::optional<std::vector<std::string>> recipients;
  std::optional<bool> journal;
};

void MergeChange(const tracking_db::Change& change, std::map<std::uint64_t, Merged>* merged) {
  auto slot = [&](std::uint64_t mid, SystemTime at) -> Merged& {
    auto [it, fresh] = merged->try_emplace(mid);
    if (fresh) {
      it->second.mid = mid;
      it->second.first_at = Ms(at);
    }
    return it->second;
  };
  if (const auto* r = std::get_if<tracking_db::RecordChange>(&change)) {
    const MessageSummary& s = r->summary;
    Merged& m = slot(s.mid, r->at);
    if (s.icid) m.icid = static_cast<std::int64_t>(s.icid);
    if (s.received != SystemTime{}) m.received = Ms(s.received);
    if (!s.sender.empty()) m.sender = s.sender;
    if (!s.recipients.empty()) m.recipients = s.recipients;
    if (!s.message_id.empty()) m.message_id = s.message_id;
    if (!s.subject.empty()) m.subject = s.subject;
    if (!s.policy.empty()) m.policy = s.policy;
    if (s.parent_mid) m.parent_mid = static_cast<std::int64_t>(s.parent_mid);
    if (s.journal) m.journal = true;
    if (!s.status.empty()) m.status = s.status;
    if (!s.sender_ip.empty()) m.sender_ip = s.sender_ip;
  } else if (const auto* st = std::get_if<tracking_db::StatusChange>(&change)) {
    slot(st->mid, st->at).status = st->status;
  }
}

constexpr std::string_view kSummaryColumns =
    "machine, mid, icid, received_ms, first_seen_ms, sender, sender_key, message_id, "
    "message_id_key, subject, policy, parent_mid, journal, status, recipients, recipient_keys, "
    "sender_ip";

constexpr std::string_view kSummaryUpdate = R"sql(
ON CONFLICT (machine, mid) DO UPDATE SET
  icid = coalesce(excluded.icid, t.icid),
  received_ms = coalesce(excluded.received_ms, t.received_ms),
  sender = coalesce(excluded.sender, t.sender),
  sender_key = coalesce(excluded.sender_key, t.sender_key),
  message_id = coalesce(excluded.message_id, t.message_id),
  message_id_key = coalesce(excluded.message_id_key, t.message_id_key),
  subject = coalesce(excluded.subject, t.subject),
  policy = coalesce(excluded.policy, t.policy),
  parent_mid = coalesce(excluded.parent_mid, t.parent_mid),
  journal = coalesce(excluded.journal, t.journal),
  status = coalesce(excluded.status, t.status),
  recipients = coalesce(excluded.recipients, t.recipients),
  recipient_keys = coalesce(excluded.recipient_keys, t.recipient_keys),
  sender_ip = coalesce(excluded.sender_ip, t.sender_ip))sql";

std::string RecipientKeys(const std::vector<std::string>& recipients) {
  std::vector<std::string> keys;
  for (const std::string& r : recipients) keys.push_back(tracking_db::AddressKey(r));
  return ArrayLiteral(keys);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PgTracking::Impl: the queue (mu_), the writer's connection and buffer (the writer thread only,
// once it runs), the query connection (read_mu_) and what is reported (info_mu_).
class PgTracking::Impl {
 public:
  explicit Impl(PgTrackingOptions o) : opt_(std::move(o)) {}
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  base::Status Start();
  void Enqueue(tracking_db::Change change);
  void Flush();
  base::Status Prune();
  base::Result<std::vector<MessageSummary>> Find(const TrackingQuery& q);
  base::Result<std::vector<TrackingEvent>> Events(std::uint64_t mid, const std::string& machine);
  const base::Clock& clock() const { return *opt_.clock; }
  std::uint64_t dropped() const { return dropped_.load() + (buffer_ ? buffer_->dropped() : 0); }
  std::string last_error() const {
    std::lock_guard lock(info_mu_);
    return last_error_;
  }
  std::vector<std::string> notes() const {
    std::lock_guard lock(info_mu_);
    return notes_;
  }
  TrackingStatus status() const {
    return TrackingStatus{.backend = "postgresql",
                          .connected = connected_.load(),
                          .buffer_bytes = buffer_->bytes(),
                          .buffer_records = buffer_->records(),
                          .dropped = dropped(),
                          .last_error = last_error()};
  }

 private:
  void Run();
  void Log(const std::string& line, bool warning) {
    if (opt_.log) opt_.log(line, warning);
  }
  void SetError(std::string e) {
    std::lock_guard lock(info_mu_);
    last_error_ = std::move(e);
  }
  // Connects, migrates and reads the mark when there is no connection and the backoff allows.
  void EnsureConnected();
  void Disconnect(const std::string& why);
  base::Status Migrate(PGconn* c);
  // Ships buffered changes until the buffer is empty or an error; true when all are written.
  bool Ship();
  base::Status ShipBatch(const std::vector<TrackingBuffer::Record>& batch);
  base::Status SkipBatch(std::uint64_t last_seq);
  base::Status RunPrune();

  const PgTrackingOptions opt_;
  std::unique_ptr<TrackingBuffer> buffer_;

  ChangeQueue queue_{PgTracking::kMaxQueued, PgTracking::kBatchSize, opt_.flush_interval};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<bool> connected_{false};

  // The writer's.
  ConnPtr conn_;
  std::uint64_t shipped_ = 0;  // the mark as last read or written
  SteadyClock::time_point next_try_{};
  std::chrono::milliseconds backoff_{0};
  bool ever_connected_ = false;
  int poison_tries_ = 0;

  mutable std::mutex read_mu_;
  ConnPtr reader_;

  mutable std::mutex info_mu_;
  std::string last_error_;
  std::vector<std::string> notes_;

  std::thread thread_;
};

PgTracking::Impl::~Impl() {
  queue_.Stop();
  if (thread_.joinable()) thread_.join();
}

base::Status PgTracking::Impl::Start() {
  TrackingBufferOptions bo;
  bo.dir = opt_.buffer_dir;
  bo.max_bytes = opt_.buffer_max;
  bo.segment_bytes = opt_.segment_bytes;
  bo.on_drop = [this](const std::string& m) { Log(m, true); };
  auto buffer = TrackingBuffer::Open(bo);
  if (!buffer) return base::MakeError("tracking buffer: " + buffer.error().message);
  buffer_ = std::move(*buffer);
  for (const std::string& n : buffer_->notes()) notes_.push_back(n);
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {
    return base::MakeError(std::string("tracking: cannot start the writer: ") + e.what());
  }
  return base::Status::Ok();
}

void PgTracking::Impl::Enqueue(tracking_db::Change change) {
  if (!queue_.Push(std::move(change))) ++dropped_;
}

void PgTracking::Impl::Flush() { queue_.Flush(); }

base::Status PgTracking::Impl::Prune() { return queue_.Prune(); }

void PgTracking::Impl::Run() {
  ChangeQueue::Pass pass;
  std::vector<std::string> payloads;
  auto next_prune = SteadyClock::now();
  bool backlog = true;  // not connected yet, or something in the buffer waits for PostgreSQL
  for (;;) {
    // Idle until work, a request, the prune, or (with a backlog) the next connection attempt.
    auto until = next_prune;
    if (backlog) until = std::min(until, std::max(next_try_, SteadyClock::now()));
    queue_.Next(until, &pass);
    if (!pass.batch.empty()) {
      payloads.clear();
      for (const auto& c : pass.batch) payloads.push_back(Encode(c));
      if (base::Status s = buffer_->Append(payloads); !s) {
        dropped_ += pass.batch.size();
        SetError(fmt::format("{} changes lost: {}", pass.batch.size(), s.error().message));
      }
    }
    // At stop, one last attempt even inside the backoff: a clean shutdown empties the buffer.
    if (pass.stopping) next_try_ = {};
    backlog = !Ship();
    std::optional<base::Status> pruned;
    if (pass.prune_requested || SteadyClock::now() >= next_prune) {
      pruned = RunPrune();
      next_prune = SteadyClock::now() + kPruneEvery;
    }
    if (queue_.Done(pass, pruned)) break;
  }
}

void PgTracking::Impl::Disconnect(const std::string& why) {
  conn_.reset();
  const bool was = connected_.exchange(false);
  SetError(why);
  backoff_ = backoff_.count() == 0 ? opt_.retry_min : std::min(backoff_ * 2, opt_.retry_max);
  next_try_ = SteadyClock::now() + backoff_;
  if (was) {
    Log("Message tracking: PostgreSQL disconnected: " + why + "; buffering (" +
            std::to_string(buffer_->records()) + " changes waiting)",
        true);
  }
}

void PgTracking::Impl::EnsureConnected() {
  if (conn_ || SteadyClock::now() < next_try_) return;
  auto c = Connect(opt_);
  if (!c) {
    if (!ever_connected_ && backoff_.count() == 0) {
      Log("Message tracking: PostgreSQL unreachable: " + c.error().message + "; buffering", true);
    }
    Disconnect(c.error().message);
    return;
  }
  if (base::Status s = Migrate(c->get()); !s) {
    Disconnect("schema migration failed: " + s.error().message);
    return;
  }
  Params p;
  p.Text(opt_.machine);
  auto mark = ExecParams(c->get(), "SELECT last_seq FROM tracking_marks WHERE machine = $1", p);
  if (!mark) {
    Disconnect(mark.error().message);
    return;
  }
  std::uint64_t last = 0;
  if (PQntuples((*mark)->r) == 1) last = std::stoull(PQgetvalue((*mark)->r, 0, 0));
  conn_ = std::move(*c);
  shipped_ = last;
  // A buffer folder that is newer than the database's mark (lost, replaced) must not reuse
  // numbers the database has seen: they would be skipped as written.
  if (buffer_->next_seq() <= last) {
    std::lock_guard lock(info_mu_);
    notes_.push_back(fmt::format(
        "tracking buffer numbered up to {}, PostgreSQL has up to {} for machine {}: continuing "
        "after {}",
        buffer_->next_seq() - 1, last, opt_.machine, last));
    buffer_->SkipTo(last);
  }
  buffer_->Release(std::min(last, buffer_->next_seq() - 1));
  connected_ = true;
  backoff_ = std::chrono::milliseconds(0);
  Log(std::string("Message tracking: PostgreSQL ") +
          (ever_connected_ ? "reconnected" : "connected") +
          fmt::format(", machine {}, {} changes buffered", opt_.machine, buffer_->records()),
      false);
  ever_connected_ = true;
  SetError("");
}

base::Status PgTracking::Impl::Migrate(PGconn* c) {
  if (base::Status s = Exec(c, "BEGIN"); !s) return s;
  auto fail = [&](base::Status s) {
    (void)Exec(c, "ROLLBACK");
    return s;
  };
  // Every machine may start at once: the lock makes them take turns; the second finds the work
  // done. Released with the transaction.
  if (auto s = Exec(c, fmt::format("SELECT pg_advisory_xact_lock({})", kLockKey)); !s)
    return fail(s);
  if (auto s = Exec(c,
                    "CREATE TABLE IF NOT EXISTS schema_migrations(version integer PRIMARY KEY, "
                    "applied_at timestamptz NOT NULL DEFAULT now())");
      !s)
    return fail(s);
  PgResult r(PQexec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations"));
  if (!r.Ok()) return fail(base::MakeError(ConnError(c)));
  const int have = std::stoi(PQgetvalue(r.r, 0, 0));
  if (have > static_cast<int>(std::size(kMigrations))) {
    return fail(base::MakeError(
        fmt::format("the database has schema version {}, this tidegate knows up to {}", have,
                    std::size(kMigrations))));
  }
  for (int v = have + 1; v <= static_cast<int>(std::size(kMigrations)); ++v) {
    if (auto s = Exec(c, std::string(kMigrations[v - 1])); !s) return fail(s);
    if (auto s = Exec(c, fmt::format("INSERT INTO schema_migrations(version) VALUES({})", v)); !s)
      return fail(s);
  }
  return Exec(c, "COMMIT");
}

bool PgTracking::Impl::Ship() {
  for (;;) {
    EnsureConnected();  // also when idle, so that status tells the truth soon after start
    if (!conn_) return false;
    if (buffer_->records() == 0) return true;
    auto batch = buffer_->Read(shipped_, PgTracking::kBatchSize);
    if (!batch) {
      SetError("tracking buffer: " + batch.error().message);
      return false;
    }
    if (batch->empty()) {
      buffer_->Release(buffer_->next_seq() - 1);
      return true;
    }
    base::Status s = ShipBatch(*batch);
    if (s) {
      poison_tries_ = 0;
      shipped_ = batch->back().seq;
      buffer_->Release(shipped_);
      continue;
    }
    const bool connection_ok = conn_ && PQstatus(conn_.get()) == CONNECTION_OK;
    if (connection_ok && ++poison_tries_ >= kPoisonTries) {
      // PostgreSQL refuses the content itself, again and again: never let it block the buffer.
      if (SkipBatch(batch->back().seq)) {
        dropped_ += batch->size();
        Log(fmt::format("Message tracking: {} changes refused by PostgreSQL and dropped: {}",
                        batch->size(), s.error().message),
            true);
        poison_tries_ = 0;
        shipped_ = batch->back().seq;
        buffer_->Release(shipped_);
        continue;
      }
    }
    Disconnect(s.error().message);  // reconnect and read the mark again before any retry
    return false;
  }
}

base::Status PgTracking::Impl::ShipBatch(const std::vector<TrackingBuffer::Record>& batch) {
  PGconn* c = conn_.get();
  if (base::Status s = Exec(c, "BEGIN"); !s) return s;
  auto fail = [&](base::Status s) {
    if (PQstatus(c) == CONNECTION_OK) (void)Exec(c, "ROLLBACK");
    return s;
  };
  // The mark, locked: it is the truth about what is written, whatever this process believes.
  Params mp;
  mp.Text(opt_.machine);
  auto mark =
      ExecParams(c, "SELECT last_seq FROM tracking_marks WHERE machine = $1 FOR UPDATE", mp);
  if (!mark) return fail(mark.error());
  std::uint64_t last = 0;
  if (PQntuples((*mark)->r) == 1) last = std::stoull(PQgetvalue((*mark)->r, 0, 0));

  // The events go in by COPY, one row per message of the batch (EventRow): no statement to
  // parse and plan, few rows (PostgreSQL's own CPU per message shares the machine with the
  // gateway).
  std::vector<EventRow> event_rows;
  std::map<std::uint64_t, std::size_t> row_of;  // mid → its row in event_rows
  std::map<std::uint64_t, Merged> merged;
  for (const TrackingBuffer::Record& rec : batch) {
    if (rec.seq <= last) continue;  // written before (a retry after an unclear commit)
    auto change = Decode(rec.payload);
    if (!change) {
      ++dropped_;
      SetError(fmt::format("tracking buffer: record {} does not decode, skipped", rec.seq));
      continue;
    }
    if (auto* e = std::get_if<tracking_db::EventChange>(&*change)) {
      auto [it, fresh] = row_of.try_emplace(e->mid, event_rows.size());
      if (fresh) event_rows.emplace_back().mid = e->mid;
      EventRow& row = event_rows[it->second];
      row.seqs.push_back(rec.seq);
      row.times.push_back(Ms(e->time));
      row.texts.push_back(std::move(e->text));
    } else {
      MergeChange(*change, &merged);
    }
  }
  if (!event_rows.empty()) {
    // No ON CONFLICT: the mark alone keeps a change from being written twice, and a breach of
    // it must fail loudly (a primary key violation on a row's first seq), not vanish.
    std::string machine;
    AppendCopyField(&machine, opt_.machine);
    std::string rows;
    for (const EventRow& row : event_rows) AppendEventRow(&rows, machine, row);
    const std::string copy =
        "COPY tracking_event_rows(machine, seq, mid, last_ms, seqs, times, texts) FROM STDIN";
    if (base::Status s = CopyIn(c, copy, rows); !s) return fail(s);
  }
  if (!merged.empty()) {
    Params sp;
    std::string sql =
        fmt::format("INSERT INTO tracking_messages AS t({}) VALUES ", kSummaryColumns);
    bool first = true;
    for (const auto& [mid, m] : merged) {
      sql += first ? "(" : ",(";
      first = false;
      for (int i = 0; i < 17; ++i)
        sql += (i ? "," : "") + ("$" + std::to_string(sp.size() + 1 + i));
      sql += ")";
      auto opt_int = [&](const std::optional<std::int64_t>& v) {
        sp.Add(v ? std::optional(std::to_string(*v)) : std::nullopt);
      };
      auto opt_text = [&](const std::optional<std::string>& v) {
        sp.Add(v ? std::optional(PgText(*v)) : std::nullopt);
      };
      sp.Text(opt_.machine);
      sp.Int(static_cast<std::int64_t>(mid));
      opt_int(m.icid);
      opt_int(m.received);
      sp.Int(m.first_at);
      opt_text(m.sender);
      opt_text(m.sender ? std::optional(tracking_db::AddressKey(*m.sender)) : std::nullopt);
      opt_text(m.message_id);
      opt_text(m.message_id ? std::optional(tracking_db::MessageIdKey(*m.message_id))
                            : std::nullopt);
      opt_text(m.subject);
      opt_text(m.policy);
      opt_int(m.parent_mid);
      sp.Add(m.journal ? std::optional<std::string>("true") : std::nullopt);
      opt_text(m.status);
      sp.Add(m.recipients ? std::optional(ArrayLiteral(*m.recipients)) : std::nullopt);
      sp.Add(m.recipients ? std::optional(RecipientKeys(*m.recipients)) : std::nullopt);
      opt_text(m.sender_ip);
    }
    sql += kSummaryUpdate;
    if (auto r = ExecParams(c, sql, sp); !r) return fail(r.error());
  }
  Params up;
  up.Text(opt_.machine);
  up.Int(static_cast<std::int64_t>(std::max(last, batch.back().seq)));
  if (auto r = ExecParams(c,
                          "INSERT INTO tracking_marks(machine, last_seq) VALUES($1, $2) "
                          "ON CONFLICT (machine) DO UPDATE SET last_seq = excluded.last_seq",
                          up);
      !r)
    return fail(r.error());
  return Exec(c, "COMMIT");
}

base::Status PgTracking::Impl::SkipBatch(std::uint64_t last_seq) {
  Params up;
  up.Text(opt_.machine);
  up.Int(static_cast<std::int64_t>(last_seq));
  auto r = ExecParams(conn_.get(),
                      "INSERT INTO tracking_marks(machine, last_seq) VALUES($1, $2) "
                      "ON CONFLICT (machine) DO UPDATE SET last_seq = "
                      "greatest(tracking_marks.last_seq, excluded.last_seq)",
                      up);
  if (!r) return r.error();
  return base::Status::Ok();
}

base::Status PgTracking::Impl::RunPrune() {
  EnsureConnected();
  if (!conn_) return base::MakeError("tracking prune: PostgreSQL unreachable");
  const std::int64_t cutoff = Ms(opt_.clock->Now() - opt_.retention);
  Params p;
  p.Text(opt_.machine);
  p.Int(cutoff);
  auto r = ExecParams(conn_.get(),
                      "WITH old AS (DELETE FROM tracking_messages WHERE machine = $1 AND "
                      "coalesce(received_ms, first_seen_ms) < $2 RETURNING mid) "
                      "DELETE FROM tracking_event_rows WHERE machine = $1 AND (last_ms < $2 OR "
                      "mid IN (SELECT mid FROM old))",
                      p);
  if (!r) {
    SetError("prune failed: " + r.error().message);
    return base::MakeError("tracking prune: " + r.error().message);
  }
  return base::Status::Ok();
}

base::Result<std::vector<MessageSummary>> PgTracking::Impl::Find(const TrackingQuery& q) {
  std::lock_guard lock(read_mu_);
  if (!reader_ || PQstatus(reader_.get()) != CONNECTION_OK) {
    auto c = Connect(opt_);
    if (!c) return base::MakeError("tracking: PostgreSQL unreachable: " + c.error().message);
    reader_ = std::move(*c);
  }
  std::size_t limit = q.limit == 0 ? 100 : q.limit;
  limit = std::min<std::size_t>(limit, 10'000);
  Params p;
  std::string sql =
      "SELECT machine, mid, icid, coalesce(received_ms, first_seen_ms), sender, message_id, "
      "subject, policy, parent_mid, journal, status, recipients, sender_ip FROM tracking_messages "
      "WHERE true";
  if (q.mid) {
    sql += " AND mid = " + p.Next();
    p.Int(static_cast<std::int64_t>(*q.mid));
  }
  if (const std::string k = tracking_db::MessageIdKey(q.message_id); !k.empty()) {
    sql += " AND message_id_key = " + p.Next();
    p.Text(k);
  }
  // The same search as SQLite's (tracking_db::FindSql): user text only ever bound, LIKE patterns
  // escaped (LikePattern) with ESCAPE '\'.
  const bool like = q.match != TrackingMatch::kIs;
  if (const std::string k = tracking_db::AddressKey(q.sender); !k.empty()) {
    sql += (like ? " AND sender_key LIKE " : " AND sender_key = ") + p.Next();
    if (like) sql += " ESCAPE '\\'";
    p.Text(like ? LikePattern(q.match, k) : k);
  }
  if (const std::string k = tracking_db::AddressKey(q.recipient); !k.empty()) {
    if (like) {
      sql += " AND EXISTS (SELECT 1 FROM unnest(recipient_keys) AS k WHERE k LIKE " + p.Next() +
             " ESCAPE '\\')";
      p.Text(LikePattern(q.match, k));
    } else {
      sql += " AND recipient_keys @> ARRAY[" + p.Next() + "::text]";
      p.Text(k);
    }
  }
  if (!q.subject.empty()) {
    // lower() on both sides: ASCII and beyond, as the index on lower(subject) is built.
    sql += (like ? " AND lower(subject) LIKE lower(" : " AND lower(subject) = lower(") + p.Next() +
           ")";
    if (like) sql += " ESCAPE '\\'";
    p.Text(like ? LikePattern(q.match, q.subject) : q.subject);
  }
  if (!q.sender_ip.empty()) {
    sql += " AND sender_ip = " + p.Next();
    p.Text(q.sender_ip);
  }
  if (!q.policy.empty()) {
    sql += " AND policy = " + p.Next();
    p.Text(q.policy);
  }
  if (!q.mid && !q.include_journal) sql += " AND journal IS NOT TRUE";
  if (q.since) {
    sql += " AND coalesce(received_ms, first_seen_ms) >= " + p.Next();
    p.Int(Ms(*q.since));
  }
  if (q.until) {
    sql += " AND coalesce(received_ms, first_seen_ms) <= " + p.Next();
    p.Int(Ms(*q.until));
  }
  sql += " ORDER BY coalesce(received_ms, first_seen_ms) DESC, mid DESC, machine LIMIT " +
         std::to_string(limit) + " OFFSET " + std::to_string(q.offset);
  auto r = ExecParams(reader_.get(), sql, p);
  if (!r) return base::MakeError("tracking find: " + r.error().message);
  std::vector<MessageSummary> out;
  PGresult* res = (*r)->r;
  auto u64 = [&](int row, int col) -> std::uint64_t {
    return PQgetisnull(res, row, col) ? 0 : std::stoull(PQgetvalue(res, row, col));
  };
  for (int i = 0; i < PQntuples(res); ++i) {
    MessageSummary s;
    s.machine = PQgetvalue(res, i, 0);
    s.mid = u64(i, 1);
    s.icid = u64(i, 2);
    s.received = FromMs(static_cast<std::int64_t>(u64(i, 3)));
    s.sender = PQgetvalue(res, i, 4);
    s.message_id = PQgetvalue(res, i, 5);
    s.subject = PQgetvalue(res, i, 6);
    s.policy = PQgetvalue(res, i, 7);
    s.parent_mid = u64(i, 8);
    s.journal = !PQgetisnull(res, i, 9) && PQgetvalue(res, i, 9)[0] == 't';
    s.status = PQgetvalue(res, i, 10);
    s.sender_ip = PQgetvalue(res, i, 12);
    out.push_back(std::move(s));
  }
  // Recipients: a second query returns them one a row, so no array literal needs parsing.
  for (std::size_t i = 0; i < out.size(); ++i) {
    Params rp;
    rp.Text(out[i].machine);
    rp.Int(static_cast<std::int64_t>(out[i].mid));
    auto rr = ExecParams(reader_.get(),
                         "SELECT unnest(recipients) FROM tracking_messages WHERE machine = $1 "
                         "AND mid = $2",
                         rp);
    if (!rr) return base::MakeError("tracking find: " + rr.error().message);
    for (int k = 0; k < PQntuples((*rr)->r); ++k)
      out[i].recipients.push_back(PQgetvalue((*rr)->r, k, 0));
  }
  return out;
}

base::Result<std::vector<TrackingEvent>> PgTracking::Impl::Events(std::uint64_t mid,
                                                                  const std::string& machine) {
  std::lock_guard lock(read_mu_);
  if (!reader_ || PQstatus(reader_.get()) != CONNECTION_OK) {
    auto c = Connect(opt_);
    if (!c) return base::MakeError("tracking: PostgreSQL unreachable: " + c.error().message);
    reader_ = std::move(*c);
  }
  Params p;
  p.Text(machine.empty() ? opt_.machine : machine);
  p.Int(static_cast<std::int64_t>(mid));
  auto r = ExecParams(reader_.get(),
                      "SELECT time_ms, text FROM tracking_events WHERE machine = $1 AND mid = $2 "
                      "ORDER BY time_ms, seq",
                      p);
  if (!r) return base::MakeError("tracking events: " + r.error().message);
  std::vector<TrackingEvent> out;
  for (int i = 0; i < PQntuples((*r)->r); ++i) {
    out.push_back(TrackingEvent{.mid = mid,
                                .time = FromMs(std::stoll(PQgetvalue((*r)->r, i, 0))),
                                .text = PQgetvalue((*r)->r, i, 1)});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

base::Result<std::unique_ptr<PgTracking>> PgTracking::Open(PgTrackingOptions options) {
  if (options.machine.empty()) return base::MakeError("tracking: the machine needs a name");
  if (options.buffer_dir.empty()) return base::MakeError("tracking: no buffer folder");
  if (options.retention <= std::chrono::hours::zero()) {
    return base::MakeError("tracking: retention must be positive");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  if (base::Status s = impl->Start(); !s) return s.error();
  return std::unique_ptr<PgTracking>(new PgTracking(std::move(impl)));
}

PgTracking::PgTracking(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgTracking::~PgTracking() = default;

void PgTracking::RecordMessage(MessageSummary summary) {
  const SystemTime at = impl_->clock().Now();
  impl_->Enqueue(tracking_db::RecordChange{std::move(summary), at});
}
void PgTracking::AddEvent(std::uint64_t mid, base::SystemTime time, std::string text) {
  impl_->Enqueue(tracking_db::EventChange{mid, time, std::move(text)});
}
void PgTracking::SetStatus(std::uint64_t mid, std::string status) {
  const SystemTime at = impl_->clock().Now();
  impl_->Enqueue(tracking_db::StatusChange{mid, std::move(status), at});
}
void PgTracking::Flush() { impl_->Flush(); }
base::Result<std::vector<MessageSummary>> PgTracking::Find(const TrackingQuery& q) const {
  return impl_->Find(q);
}
base::Result<std::vector<TrackingEvent>> PgTracking::Events(std::uint64_t mid,
                                                            const std::string& machine) const {
  return impl_->Events(mid, machine);
}
base::Status PgTracking::Prune() { return impl_->Prune(); }
std::uint64_t PgTracking::dropped() const { return impl_->dropped(); }
std::string PgTracking::last_error() const { return impl_->last_error(); }
std::vector<std::string> PgTracking::notes() const { return impl_->notes(); }
TrackingStatus PgTracking::status() const { return impl_->status(); }

}  // namespace tidegate::telemetry
