// store.h — Store: the intake's durable storage. An SQLite index (data_dir/intake.db, WAL) of the
// messages received per account and of the accounts created in the console, plus each stored
// message's raw bytes in data_dir/messages/<account>/<id>.eml.
//
// Durability protocol (SaveMessage): the .eml file is written to a temporary name, fsynced,
// renamed and its directory fsynced; only then is the index row committed (synchronous=FULL).
// A message is therefore either fully stored or absent from the index; a crash between the two
// steps leaves at most an unindexed file, and the sender, which got no 250, sends it again.
//
// Ownership: the intake server owns the one Store; the acceptor and the console hold plain
// pointers. Thread-safety: every method may be called from any thread. Writes go through one
// connection and reads through another (WAL lets them run concurrently), each behind its own
// mutex; all methods block on disk I/O, so no event loop thread should call the writing ones.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/filesystem.h"
#include "base/result.h"

struct sqlite3;

namespace tidegate::intake {

// An account as the console shows it. Accounts from the config have source "config" and the
// config's remote_ip_header; those created on the setup page have source "console" and the
// answers given there.
struct AccountRecord {
  std::string name;
  std::string intake_address;
  std::string source = "config";  // "config" | "console"
  bool gateway_in_front = true;   // setup question: is a gateway in front?
  // Where the sending client's IP is read from: this header of the original when a gateway is in
  // front, else the topmost Received: header (see unwrap.h).
  std::string remote_ip_header;
  std::string direction = "incoming";
  std::string visibility = "visibility only";
  base::SystemTime created{};
};

// One stored message (one row of the index).
struct MessageRecord {
  std::uint64_t id = 0;  // unique for the life of the data_dir
  std::string account;
  base::SystemTime received_at{};
  std::string remote_ip;  // "" = unknown
  std::string sender;     // envelope sender of the original ("" = null sender)
  std::vector<std::string> recipients;  // envelope recipients of the original
  std::string subject;
  std::string message_id;
  bool journal = false;  // false: not a journal report, stored as received
  std::uint64_t size = 0;  // bytes of the stored file
  std::string path;        // of the .eml file, relative to data_dir
};

// Account names that are safe as a folder name: 1–64 of [A-Za-z0-9_.-], not starting with '.'.
bool IsSafeAccountName(std::string_view name);

class Store {
 public:
  // Creates data_dir, data_dir/messages and the database when missing; opens both connections.
  static base::Result<std::unique_ptr<Store>> Open(const std::string& data_dir,
                                                   base::Filesystem* fs);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& data_dir() const { return data_dir_; }

  // Stores `raw` durably as messages/<account>/<id>.eml, then indexes `record` (id, account and
  // the metadata must be set; path and size are filled in here). Fails, storing nothing
  // indexed, on an unsafe account name, a duplicate id or any I/O error.
  base::Status SaveMessage(MessageRecord& record, const std::string& raw);

  // The account's messages in arrival order (ascending id); with limit > 0 only the newest
  // `limit` ones (still ascending).
  base::Result<std::vector<MessageRecord>> ListMessages(std::string_view account,
                                                        std::size_t limit = 0) const;
  base::Result<std::optional<MessageRecord>> FindMessage(std::uint64_t id) const;
  // The stored bytes of a message.
  base::Result<std::string> ReadRaw(const MessageRecord& record) const;
  // Messages stored per account name.
  base::Result<std::map<std::string, std::uint64_t>> CountByAccount() const;
  // The largest id stored (0 when empty): ids continue above it even if the id file was lost.
  base::Result<std::uint64_t> MaxMessageId() const;

  // Accounts created in the console, in creation order.
  base::Result<std::vector<AccountRecord>> ListAccounts() const;
  // Fails if the name or the intake address (case-insensitive) is already stored.
  base::Status InsertAccount(const AccountRecord& account);

 private:
  Store(std::string data_dir, base::Filesystem* fs) : data_dir_(std::move(data_dir)), fs_(fs) {}

  const std::string data_dir_;
  base::Filesystem* fs_;
  mutable std::mutex write_mu_;  // guards writer_ and the messages/ folder creation
  sqlite3* writer_ = nullptr;
  mutable std::mutex read_mu_;  // guards reader_
  sqlite3* reader_ = nullptr;
};

}  // namespace tidegate::intake
