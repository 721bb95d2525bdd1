// history.h — the configuration history (CONTRACT §12): every committed change of the gateway's
// configuration as a numbered snapshot {number, time, user, comment, text}, kept durably in a
// directory (data_dir/config-history), for `tidegate configs list|show|diff|rollback` and the
// Web UI's Configuration History page.
//
// Layout: one file per entry, `<number>.json` = {"number", "time" (RFC 3339 UTC), "user",
// "comment", "text"}, written to `<number>.json.tmp`, fsynced, renamed, and the directory
// fsynced before Record() returns — so an entry is either whole or absent (there is no separate
// index to get out of step with the files: the directory listing is the index). Leftover .tmp
// files (a crash during Record) are removed at Open and never count. Numbers only grow: the next
// number is one more than the highest present, and pruning removes only the oldest entries, so
// the highest is always kept.
//
// Bounded: after each Record the oldest entries beyond `keep` (default 1000) are removed; the
// newest `keep` are always there to roll back to.
//
// Thread-safety: every method may be called from any thread (one mutex). Nothing throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/filesystem.h"
#include "base/result.h"

namespace tidegate::config {

struct HistoryEntry {
  std::uint64_t number = 0;
  std::string time;  // RFC 3339 UTC, "2026-12-06T02:10:00Z"
  std::string user;
  std::string comment;
  std::string text;  // the configuration as committed (empty in List())
  // Cluster mode only: the level the commit was made at ("cluster", "group G", "machine M");
  // the text is then that level's sections (cluster/history.h). Empty on a single machine.
  std::string level;
};

class ConfigHistory {
 public:
  static constexpr std::size_t kDefaultKeep = 1000;

  // Creates the directory when missing and reads every entry's metadata. An unreadable or
  // malformed entry file is skipped and named in notes() (the rest stays usable).
  static base::Result<std::unique_ptr<ConfigHistory>> Open(
      std::string dir, std::size_t keep = kDefaultKeep,
      base::Filesystem* fs = &base::PosixFilesystem());

  // Writes a new entry (durable when this returns ok) and returns its number.
  base::Result<std::uint64_t> Record(const std::string& text, const std::string& user,
                                     const std::string& comment, base::SystemTime now);
  // Records only when `text` differs from the newest entry's (or there is none); nullopt when
  // it is the same.
  base::Result<std::optional<std::uint64_t>> RecordIfChanged(const std::string& text,
                                                             const std::string& user,
                                                             const std::string& comment,
                                                             base::SystemTime now);

  // Every entry, oldest first, without its text.
  std::vector<HistoryEntry> List() const;
  // One entry with its text; an error naming the number when there is none.
  base::Result<HistoryEntry> Get(std::uint64_t number) const;
  std::optional<std::uint64_t> newest() const;
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  ConfigHistory(std::string dir, std::size_t keep, base::Filesystem* fs);
  std::string PathOf(std::uint64_t number) const;
  base::Result<HistoryEntry> ReadEntry(std::uint64_t number) const;
  base::Result<std::uint64_t> RecordLocked(const std::string& text, const std::string& user,
                                           const std::string& comment, base::SystemTime now);

  const std::string dir_;
  const std::size_t keep_;
  base::Filesystem* const fs_;
  mutable std::mutex mu_;
  std::vector<HistoryEntry> entries_;  // metadata, oldest first
  std::string newest_text_;
  std::vector<std::string> notes_;
};

// "2026-12-06T02:10:00Z".
std::string Rfc3339Utc(base::SystemTime t);

}  // namespace tidegate::config
