// store.h — the quarantines (CONTRACT §10: "Spam" and "Virus"): messages held durably until an
// operator releases or deletes them, or they expire (retention; oldest first beyond max_size).
//
// One file per message, `<dir>/<quarantine>/<mid>.msg`: a fixed first line `TGQ1 <n>\n`, n bytes
// of JSON (the message's spool meta, why and when it was quarantined), a newline, then the message
// in its delivered form (CRLF lines). Written to a temporary name, fsynced, renamed, the directory
// fsynced: a Put() that returned ok survives kill -9; a file is whole or absent. The files are the
// truth: the index in memory is rebuilt from their first lines at Open() (no second store to
// disagree with). Keyed by MID: storing a MID again replaces it (a crash between the store and
// the spool's FINISH scans the message again and stores it again — one copy).
// Thread-safety: every method may be called from any thread (one mutex; file I/O outside it only
// for the body of Put()). Calls block on disk I/O: keep them off the event loop.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/filesystem.h"
#include "base/result.h"
#include "config/config.h"
#include "spool/spool.h"

namespace tidegate::quarantine {

inline constexpr const char* kSpam = "Spam";
inline constexpr const char* kVirus = "Virus";

struct Entry {
  std::string quarantine;  // "Spam" | "Virus"
  base::SystemTime stored;
  std::string reason;  // "spam score 60.00", "virus Eicar-Test-Signature"
  spool::MessageMeta meta;
  std::uint64_t size = 0;  // bytes of the message
};

struct Query {
  std::string quarantine;  // "" = both
  std::string search;      // "" = all; else a case-insensitive substring of sender, recipients,
                           // subject, Message-ID or reason
  std::size_t offset = 0;
  std::size_t limit = 100;
};

struct Page {
  std::size_t total = 0;       // matches before paging
  std::vector<Entry> entries;  // newest first
};

class Store {
 public:
  // Opens (creating) dir; rebuilds the index from the files; damaged files are moved aside to
  // dir/damaged/ and named in notes().
  static base::Result<std::unique_ptr<Store>> Open(std::string dir, base::Filesystem* fs,
                                                   const base::Clock* clock);
  const std::vector<std::string>& notes() const { return notes_; }

  base::Status Put(const std::string& quarantine, const spool::MessageMeta& meta,
                   std::string_view body, const std::string& reason);
  Page List(const Query& query) const;
  std::optional<Entry> Get(std::uint64_t mid) const;
  base::Status ReadMessage(std::uint64_t mid, std::string& out) const;
  base::Status Delete(std::uint64_t mid);
  // Removes what is past retention, then the oldest while the total is above max_size. Returns
  // the entries removed (for the log).
  std::vector<Entry> Expire(const config::QuarantineSettings& settings);

  struct Stats {
    std::map<std::string, std::size_t> messages;  // per quarantine
    std::map<std::string, std::uint64_t> bytes;
  };
  Stats stats() const;

 private:
  Store(std::string dir, base::Filesystem* fs, const base::Clock* clock)
      : dir_(std::move(dir)), fs_(fs), clock_(clock) {}
  std::string PathOf(const std::string& quarantine, std::uint64_t mid) const;
  base::Status Load();

  std::string dir_;
  base::Filesystem* fs_;
  const base::Clock* clock_;
  std::vector<std::string> notes_;
  mutable std::mutex mu_;
  std::map<std::uint64_t, Entry> index_;  // by MID
};

// The JSON form of a spool meta (the file's first part, and the API's).
std::string MetaToJson(const spool::MessageMeta& meta);
base::Result<spool::MessageMeta> MetaFromJson(std::string_view json);

}  // namespace tidegate::quarantine
