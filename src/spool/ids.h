// ids.h — IdAllocator: MIDs, ICIDs and DCIDs unique for the life of a spool directory.
//
// `dir/ids` holds, for each kind, the first value not yet reserved. Ids are handed out from a
// block that was made durable (Filesystem::WriteFileAtomic) before its first id left; after a
// crash, counting restarts at the reserved value, so ids may skip (gaps) but never repeat.
// Owned by the Spool; every method is thread-safe (one mutex; the file write is rare).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "base/filesystem.h"
#include "base/result.h"

namespace tidegate::spool {

class IdAllocator {
 public:
  enum Kind { kMid = 0, kIcid = 1, kDcid = 2 };
  static constexpr std::uint64_t kDefaultBlock = 1000;

  // Reads `path` (missing = a fresh directory: every kind starts at 1). `floor` raises each start,
  // e.g. above the largest MID found in the segments, in case `ids` was lost.
  static base::Result<std::unique_ptr<IdAllocator>> Open(base::Filesystem& fs, std::string path,
                                                         std::array<std::uint64_t, 3> floor,
                                                         std::uint64_t block = kDefaultBlock);

  // The next id of that kind, or 0 if a new block could not be reserved durably.
  std::uint64_t Next(Kind kind);

 private:
  IdAllocator(base::Filesystem& fs, std::string path, std::uint64_t block)
      : fs_(fs), path_(std::move(path)), block_(block) {}

  base::Filesystem& fs_;
  const std::string path_;
  const std::uint64_t block_;
  std::mutex mu_;
  std::array<std::uint64_t, 3> next_{};   // guarded by mu_: next id to hand out
  std::array<std::uint64_t, 3> limit_{};  // guarded by mu_: first id not covered by the file
};

}  // namespace tidegate::spool
