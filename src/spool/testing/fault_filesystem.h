// fault_filesystem.h — FaultFilesystem: a test-only base::Filesystem that can lose power.
//
// Wraps a real Filesystem (normally base::PosixFilesystem() over a temp dir) and remembers, per
// file, the size at its last successful Sync() and whether its directory entry was made durable
// by SyncDir() since the file was created. Crash() then does what a power cut may do: every file
// goes back to its synced size and files whose directory was never synced vanish. After Crash()
// the "process" is dead: every call fails (file objects opened before the crash fail forever)
// until Revive(), so a spool still running cannot write past the crash.
// It can also run out of space (ENOSPC after a byte budget), fail Remove(), and — as CONTROLS
// that prove a crash test can fail — let the syncs lie: they return ok without making anything
// durable (SetSyncLies: file Sync(), SyncDir() and the syncs inside WriteFileAtomic(), as with
// fsync disabled; SetDirSyncLies: SyncDir() only, as if a new file's directory entry were never
// synced). A WriteFileAtomic() made while syncs lie goes back, at Crash(), to the content it had
// when it was last durable (or vanishes), as a rename that never reached the disk would.
// Model limits: Remove() and CreateDirs() are durable at once; Rename() needs a SyncDir() of the
// target's directory. Thread-safe: one mutex serialises every call, real I/O included.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/filesystem.h"

namespace tidegate::spool::testing {

class FaultFilesystem final : public base::Filesystem {
 public:
  explicit FaultFilesystem(base::Filesystem& real) : real_(real) {}

  void Crash();
  void Revive();
  // Lets `bytes` more bytes be written; then Append() writes what still fits and fails with
  // "No space left on device", and WriteFileAtomic() fails without writing.
  void SetSpaceLeft(std::uint64_t bytes);
  void UnlimitedSpace();
  void SetSyncLies(bool lies);     // Sync(), SyncDir() and WriteFileAtomic() lie
  void SetDirSyncLies(bool lies);  // SyncDir() lies; file data syncs stay honest
  void SetFailRemove(bool fail);
  std::uint64_t syncs() const;  // successful Sync() calls

  base::Result<std::unique_ptr<base::AppendFile>> OpenAppend(const std::string& path) override;
  base::Result<std::unique_ptr<base::ReadFile>> OpenRead(const std::string& path) override;
  base::Status CreateDirs(const std::string& path) override;
  base::Status SyncDir(const std::string& path) override;
  base::Status Rename(const std::string& from, const std::string& to) override;
  base::Status Remove(const std::string& path) override;
  bool Exists(const std::string& path) override;
  base::Result<std::vector<std::string>> List(const std::string& dir) override;
  base::Status WriteFileAtomic(const std::string& path, const std::string& data) override;
  base::Result<std::string> ReadWholeFile(const std::string& path) override;

 private:
  friend class FaultAppendFile;
  struct FileState {
    std::uint64_t synced = 0;    // bytes that survive a crash
    bool entry_durable = false;  // the directory entry survives a crash
  };
  // Requires mu_. Error if crashed, or if `generation` is from before the last crash.
  base::Status CheckAliveLocked(std::uint64_t generation) const;

  base::Filesystem& real_;
  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;  // guarded by mu_; only files touched since creation
  bool dead_ = false;
  std::uint64_t generation_ = 0;
  std::optional<std::uint64_t> space_left_;
  bool sync_lies_ = false;
  bool dir_sync_lies_ = false;
  // Files written by WriteFileAtomic() while syncs lied: the content a crash brings back
  // (nullopt: the file did not exist durably, so it vanishes).
  std::map<std::string, std::optional<std::string>> atomic_undo_;
  bool fail_remove_ = false;
  std::uint64_t syncs_ = 0;
};

}  // namespace tidegate::spool::testing
