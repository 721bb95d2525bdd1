// segment.h — segment files: names, the segment header, and the recovery scan of one file.
//
// A segment is `dir/seg-<16 hex digits>.log` (sequence numbers only grow, so name order is age
// order). It starts with a 24-byte header (magic, version, seq, salt, crc) and continues with
// records (record.h). ScanSegment() is the recovery half: it walks the records, cuts a torn tail,
// and copies damaged regions to `dir/corrupt/` before skipping them — it never drops bytes that a
// valid record follows without keeping a copy. Layout and rules: docs/spool-format.md.
// Free functions; callers serialise access to one directory (the spool does so by running
// recovery in Open() before its commit thread starts).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/filesystem.h"
#include "base/result.h"
#include "spool/record.h"
#include "spool/spool.h"

namespace tidegate::spool {

inline constexpr std::uint32_t kSegmentMagic = 0x1A534754;  // "TGS\x1a" on disk
inline constexpr std::uint32_t kSegmentVersion = 1;
inline constexpr std::size_t kSegmentHeaderSize = 24;
inline constexpr const char* kCorruptDir = "corrupt";
// Written (atomically, synced) when the spool stops cleanly; removed durably when it opens.
inline constexpr const char* kCleanShutdownFile = "clean-shutdown";

struct SegmentHeader {
  std::uint64_t seq = 0;
  std::uint32_t salt = 0;  // mixed into every record crc of this segment (record.h)
};

std::string SegmentFileName(std::uint64_t seq);  // "seg-00000000000000ab.log"
std::string LiveMessages(std::uint64_t n);       // "1 live message", "3 live messages"
std::optional<std::uint64_t> ParseSegmentFileName(std::string_view name);

std::string EncodeSegmentHeader(const SegmentHeader& header);
// nullopt if the bytes are not a valid header (bad magic or crc); version is checked by the caller.
struct DecodedSegmentHeader {
  SegmentHeader header;
  std::uint32_t version = 0;
};
std::optional<DecodedSegmentHeader> DecodeSegmentHeader(std::string_view data);

struct ScanResult {
  enum class Outcome {
    kScanned,     // header valid; records visited; size is the size after any truncation
    kRemoved,     // shorter than a header: a roll interrupted before its sync; file removed
    kMovedAside,  // header damaged: the whole file was renamed into corrupt/
  };
  Outcome outcome = Outcome::kScanned;
  SegmentHeader header;
  std::uint64_t size = 0;
};

// What the clean-shutdown marker says of a segment: its size and how many live messages had
// their current copy in it when the last run stopped cleanly.
struct SegmentExpectation {
  bool listed = false;  // the marker names this segment
  std::uint64_t size = 0;
  std::uint64_t live = 0;
};

// Visits every valid record of dir/SegmentFileName(seq) in order, with its offset in the file.
// `visit` returns false when the payload cannot be decoded; that record is then moved aside like
// a corrupt region. `expected` is null after a crash: then a bad tail is an unfinished write and
// is cut, and a file shorter than a header is an interrupted roll and is removed (notes). After a
// clean shutdown (`expected` set) those are damage: the bytes the clean run had written go to
// corrupt/ first, only bytes past `expected->size` (a failed, unacknowledged write) are cut.
// Fails only when the file cannot be read or a repair cannot be made durable.
base::Result<ScanResult> ScanSegment(
    base::Filesystem& fs, const std::string& dir, std::uint64_t seq,
    const std::function<bool(const record::RawRecord&, std::uint64_t offset)>& visit,
    const SegmentExpectation* expected, RecoveryReport& report);

}  // namespace tidegate::spool
