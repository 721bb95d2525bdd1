// filesystem.h — Filesystem: the narrow file API the spool and other durable stores use.
//
// Injected (never called through globals) so that crash tests can run over a layer that drops
// every byte not yet fsynced (see FaultInjectionFilesystem in fault_filesystem.h), as LevelDB's
// fault-injection test does. All paths are plain strings; errors are Status values that name the
// path and errno text. Implementations are thread-safe; a single file object is not (its owner
// serialises use), except that reads of already-written ranges may run concurrently with appends.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace tidegate::base {

// A file opened for appending. Append() data is visible to readers at once but durable only
// after Sync() returns ok.
class AppendFile {
 public:
  virtual ~AppendFile() = default;
  virtual Status Append(std::span<const iovec> parts) = 0;
  virtual Status Sync() = 0;                       // fdatasync
  virtual Status Truncate(std::uint64_t size) = 0; // cut a torn tail (then Sync)
  virtual std::uint64_t Size() const = 0;
};

// A file opened for positional reads.
class ReadFile {
 public:
  virtual ~ReadFile() = default;
  // Reads exactly n bytes at offset into out (resized); short reads are errors.
  virtual Status ReadAt(std::uint64_t offset, std::size_t n, std::string& out) const = 0;
  virtual Result<std::uint64_t> Size() const = 0;
};

class Filesystem {
 public:
  virtual ~Filesystem() = default;
  // Opens (creating if missing) for append; the file position starts at its current end.
  virtual Result<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path) = 0;
  virtual Result<std::unique_ptr<ReadFile>> OpenRead(const std::string& path) = 0;
  virtual Status CreateDirs(const std::string& path) = 0;  // mkdir -p
  virtual Status SyncDir(const std::string& path) = 0;     // fsync a directory (new names durable)
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Names (not paths) in a directory, sorted, without "." and "..".
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;
  // Whole small files (ids, state): write to path.tmp, fsync, rename, fsync the directory.
  virtual Status WriteFileAtomic(const std::string& path, const std::string& data) = 0;
  virtual Result<std::string> ReadWholeFile(const std::string& path) = 0;
};

// The real POSIX filesystem. Thread-safe.
Filesystem& PosixFilesystem();

// "dir/name" joining that tolerates a trailing slash.
std::string JoinPath(const std::string& dir, const std::string& name);
std::string DirName(const std::string& path);

}  // namespace tidegate::base
