// store.cc — see store.h.
#include "intake/store.h"

#include <sqlite3.h>

#include <chrono>

#include <nlohmann/json.hpp>

namespace tidegate::intake {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY,
  account TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  remote_ip TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipients TEXT NOT NULL,
  subject TEXT NOT NULL,
  message_id TEXT NOT NULL,
  journal INTEGER NOT NULL,
  size INTEGER NOT NULL,
  path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_account ON messages (account, id);
CREATE TABLE IF NOT EXISTS accounts (
  name TEXT PRIMARY KEY,
  intake_address TEXT NOT NULL UNIQUE COLLATE NOCASE,
  gateway_in_front INTEGER NOT NULL,
  remote_ip_header TEXT NOT NULL,
  direction TEXT NOT NULL,
  visibility TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
)sql";

constexpr const char* kMessageColumns =
    "id, account, received_at, remote_ip, sender, recipients, subject, message_id, journal, "
    "size, path";

base::Error SqlError(sqlite3* db, const std::string& what) {
  return base::MakeError("intake database: " + what + ": " + sqlite3_errmsg(db));
}

// One prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  void Bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

std::int64_t ToMillis(base::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
base::SystemTime FromMillis(std::int64_t ms) {
  return base::SystemTime(std::chrono::duration_cast<base::SystemTime::duration>(
      std::chrono::milliseconds(ms)));
}

MessageRecord ReadMessageRow(const Statement& s) {
  MessageRecord m;
  m.id = static_cast<std::uint64_t>(s.Int(0));
  m.account = s.Text(1);
  m.received_at = FromMillis(s.Int(2));
  m.remote_ip = s.Text(3);
  m.sender = s.Text(4);
  // Written by us from a JSON array of strings; anything else means the file was tampered with,
  // and an empty list is the honest answer.
  auto rcpts = nlohmann::json::parse(s.Text(5), nullptr, /*allow_exceptions=*/false);
  if (rcpts.is_array()) {
    for (const auto& r : rcpts) {
      if (r.is_string()) m.recipients.push_back(r.get<std::string>());
    }
  }
  m.subject = s.Text(6);
  m.message_id = s.Text(7);
  m.journal = s.Int(8) != 0;
  m.size = static_cast<std::uint64_t>(s.Int(9));
  m.path = s.Text(10);
  return m;
}

base::Result<sqlite3*> OpenDb(const std::string& path) {
  sqlite3* db = nullptr;
  // NOMUTEX: each connection is guarded by the Store's own mutex.
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return base::MakeError("intake database " + path + ": " + message);
  }
  sqlite3_busy_timeout(db, 10000);
  // WAL: readers (the console) never block the writer. synchronous=FULL: a commit is on disk
  // when it returns, which the 250 reply depends on.
  const char* pragmas =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;";
  if (sqlite3_exec(db, pragmas, nullptr, nullptr, nullptr) != SQLITE_OK) {
    auto error = SqlError(db, "pragmas");
    sqlite3_close(db);
    return error;
  }
  return db;
}

}  // namespace

bool IsSafeAccountName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

base::Result<std::unique_ptr<Store>> Store::Open(const std::string& data_dir,
                                                 base::Filesystem* fs) {
  if (base::Status s = fs->CreateDirs(base::JoinPath(data_dir, "messages")); !s) return s.error();
  std::unique_ptr<Store> store(new Store(data_dir, fs));
  const std::string db_path = base::JoinPath(data_dir, "intake.db");
  auto writer = OpenDb(db_path);
  if (!writer) return writer.error();
  store->writer_ = *writer;
  if (sqlite3_exec(store->writer_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqlError(store->writer_, "creating the schema");
  }
  auto reader = OpenDb(db_path);
  if (!reader) return reader.error();
  store->reader_ = *reader;
  return store;
}

Store::~Store() {
  sqlite3_close(reader_);
  sqlite3_close(writer_);
}

base::Status Store::SaveMessage(MessageRecord& record, const std::string& raw) {
  if (!IsSafeAccountName(record.account)) {
    return base::MakeError("account name '" + record.account + "' cannot be a folder name");
  }
  if (record.id == 0) return base::MakeError("message without an id");
  const std::string rel = "messages/" + record.account + "/" + std::to_string(record.id) + ".eml";
  const std::string dir = base::JoinPath(base::JoinPath(data_dir_, "messages"), record.account);
  std::lock_guard lock(write_mu_);
  if (!fs_->Exists(dir)) {
    if (base::Status s = fs_->CreateDirs(dir); !s) return s;
    // The new folder's own name must be durable too, or the file inside could vanish.
    if (base::Status s = fs_->SyncDir(base::JoinPath(data_dir_, "messages")); !s) return s;
  }
  // Ids never repeat, so an existing file means the id counter and the disk disagree: refuse
  // rather than overwrite a message that was answered 250.
  const std::string file = base::JoinPath(data_dir_, rel);
  if (fs_->Exists(file)) return base::MakeError(rel + " already exists");
  // Write, fsync, rename, fsync the folder: the file is complete on disk before it is indexed.
  if (base::Status s = fs_->WriteFileAtomic(file, raw); !s) return s;
  record.path = rel;
  record.size = raw.size();

  nlohmann::json rcpts = record.recipients;
  Statement insert(writer_,
                   "INSERT INTO messages (id, account, received_at, remote_ip, sender, "
                   "recipients, subject, message_id, journal, size, path) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return SqlError(writer_, "prepare insert");
  insert.Bind(1, static_cast<std::int64_t>(record.id));
  insert.Bind(2, record.account);
  insert.Bind(3, ToMillis(record.received_at));
  insert.Bind(4, record.remote_ip);
  insert.Bind(5, record.sender);
  insert.Bind(6, rcpts.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  insert.Bind(7, record.subject);
  insert.Bind(8, record.message_id);
  insert.Bind(9, std::int64_t{record.journal ? 1 : 0});
  insert.Bind(10, static_cast<std::int64_t>(record.size));
  insert.Bind(11, rel);
  if (insert.Step() != SQLITE_DONE) {
    return SqlError(writer_, "storing message " + std::to_string(record.id));
  }
  return base::Status::Ok();
}

base::Result<std::vector<MessageRecord>> Store::ListMessages(std::string_view account,
                                                             std::size_t limit) const {
  const std::string sql = std::string("SELECT ") + kMessageColumns +
                          " FROM (SELECT * FROM messages WHERE account = ? ORDER BY id DESC "
                          "LIMIT ?) ORDER BY id ASC";
  std::lock_guard lock(read_mu_);
  Statement s(reader_, sql.c_str());
  if (!s.ok()) return SqlError(reader_, "prepare list");
  s.Bind(1, account);
  s.Bind(2, limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(limit));
  std::vector<MessageRecord> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadMessageRow(s));
  if (rc != SQLITE_DONE) return SqlError(reader_, "listing messages");
  return out;
}

base::Result<std::optional<MessageRecord>> Store::FindMessage(std::uint64_t id) const {
  const std::string sql = std::string("SELECT ") + kMessageColumns + " FROM messages WHERE id = ?";
  std::lock_guard lock(read_mu_);
  Statement s(reader_, sql.c_str());
  if (!s.ok()) return SqlError(reader_, "prepare find");
  s.Bind(1, static_cast<std::int64_t>(id));
  int rc = s.Step();
  if (rc == SQLITE_ROW) return std::optional<MessageRecord>(ReadMessageRow(s));
  if (rc != SQLITE_DONE) return SqlError(reader_, "reading message");
  return std::optional<MessageRecord>();
}

base::Result<std::string> Store::ReadRaw(const MessageRecord& record) const {
  return fs_->ReadWholeFile(base::JoinPath(data_dir_, record.path));
}

base::Result<std::map<std::string, std::uint64_t>> Store::CountByAccount() const {
  std::lock_guard lock(read_mu_);
  Statement s(reader_, "SELECT account, COUNT(*) FROM messages GROUP BY account");
  if (!s.ok()) return SqlError(reader_, "prepare count");
  std::map<std::string, std::uint64_t> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out[s.Text(0)] = static_cast<std::uint64_t>(s.Int(1));
  if (rc != SQLITE_DONE) return SqlError(reader_, "counting messages");
  return out;
}

base::Result<std::uint64_t> Store::MaxMessageId() const {
  std::lock_guard lock(read_mu_);
  Statement s(reader_, "SELECT COALESCE(MAX(id), 0) FROM messages");
  if (!s.ok() || s.Step() != SQLITE_ROW) return SqlError(reader_, "reading the largest id");
  return static_cast<std::uint64_t>(s.Int(0));
}

base::Result<std::vector<AccountRecord>> Store::ListAccounts() const {
  std::lock_guard lock(read_mu_);
  Statement s(reader_,
              "SELECT name, intake_address, gateway_in_front, remote_ip_header, direction, "
              "visibility, created_at FROM accounts ORDER BY created_at, name");
  if (!s.ok()) return SqlError(reader_, "prepare accounts");
  std::vector<AccountRecord> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    AccountRecord a;
    a.name = s.Text(0);
    a.intake_address = s.Text(1);
    a.source = "console";
    a.gateway_in_front = s.Int(2) != 0;
    a.remote_ip_header = s.Text(3);
    a.direction = s.Text(4);
    a.visibility = s.Text(5);
    a.created = FromMillis(s.Int(6));
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return SqlError(reader_, "listing accounts");
  return out;
}

base::Status Store::InsertAccount(const AccountRecord& account) {
  std::lock_guard lock(write_mu_);
  Statement s(writer_,
              "INSERT INTO accounts (name, intake_address, gateway_in_front, remote_ip_header, "
              "direction, visibility, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!s.ok()) return SqlError(writer_, "prepare account insert");
  s.Bind(1, account.name);
  s.Bind(2, account.intake_address);
  s.Bind(3, std::int64_t{account.gateway_in_front ? 1 : 0});
  s.Bind(4, account.remote_ip_header);
  s.Bind(5, account.direction);
  s.Bind(6, account.visibility);
  s.Bind(7, ToMillis(account.created));
  if (s.Step() != SQLITE_DONE) return SqlError(writer_, "storing account " + account.name);
  return base::Status::Ok();
}

}  // namespace tidegate::intake
