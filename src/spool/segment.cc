// segment.cc — segment naming, header and recovery scan (see segment.h).
#include "spool/segment.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace tidegate::spool {
namespace {

std::uint32_t HeaderCrc(std::string_view bytes) {
  return static_cast<std::uint32_t>(
      ::crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

std::string Hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The next offset after `from` where a valid record starts, or npos. Only a record whose crc
// (salted with this segment's secret) matches counts, so message bodies cannot fake one.
std::size_t FindNextRecord(std::string_view data, std::size_t from, std::uint32_t salt) {
  std::string magic;
  record::PutU32(magic, record::kRecordMagic);
  for (std::size_t pos = data.find(magic, from); pos != std::string_view::npos;
       pos = data.find(magic, pos + 1)) {
    if (record::ParseRecordAt(data, pos, salt)) return pos;
  }
  return std::string_view::npos;
}

// Keeps a copy of damaged bytes before recovery skips them; returns the line for the operator.
base::Result<std::string> SaveCorrupt(base::Filesystem& fs, const std::string& dir,
                                      std::uint64_t seq, std::uint64_t offset,
                                      std::string_view bytes, RecoveryReport& report) {
  const std::string name = "seg-" + Hex16(seq) + "-" + std::to_string(offset) + ".bad";
  const std::string path = base::JoinPath(base::JoinPath(dir, kCorruptDir), name);
  if (base::Status s = fs.WriteFileAtomic(path, std::string(bytes)); !s) return s.error();
  ++report.corrupt_regions;
  return "segment " + SegmentFileName(seq) + ": " + std::to_string(bytes.size()) +
         " damaged bytes at offset " + std::to_string(offset) + " moved to " +
         std::string(kCorruptDir) + "/" + name;
}

// Renames a whole segment into corrupt/ (durably); returns its new name there.
base::Result<std::string> MoveAside(base::Filesystem& fs, const std::string& dir,
                                    const std::string& name, RecoveryReport& report) {
  const std::string to = base::JoinPath(base::JoinPath(dir, kCorruptDir), name + ".bad");
  if (base::Status s = fs.Rename(base::JoinPath(dir, name), to); !s) return s.error();
  // Both directory entries change: the old name must go and the new one must stay.
  if (base::Status s = fs.SyncDir(base::JoinPath(dir, kCorruptDir)); !s) return s.error();
  if (base::Status s = fs.SyncDir(dir); !s) return s.error();
  ++report.corrupt_regions;
  return std::string(kCorruptDir) + "/" + name + ".bad";
}

// " (it held N live messages at the clean shutdown)" when it did.
std::string Held(const SegmentExpectation* expected) {
  if (expected == nullptr || expected->live == 0) return "";
  return " (it held " + LiveMessages(expected->live) + " at the clean shutdown)";
}

}  // namespace

std::string SegmentFileName(std::uint64_t seq) { return "seg-" + Hex16(seq) + ".log"; }

std::string LiveMessages(std::uint64_t n) {
  return std::to_string(n) + (n == 1 ? " live message" : " live messages");
}

std::optional<std::uint64_t> ParseSegmentFileName(std::string_view name) {
  if (name.size() != 24 || name.substr(0, 4) != "seg-" || name.substr(20) != ".log") {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  for (char c : name.substr(4, 16)) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  return v;
}

std::string EncodeSegmentHeader(const SegmentHeader& header) {
  std::string out;
  record::PutU32(out, kSegmentMagic);
  record::PutU32(out, kSegmentVersion);
  record::PutU64(out, header.seq);
  record::PutU32(out, header.salt);
  record::PutU32(out, HeaderCrc(out));
  return out;
}

std::optional<DecodedSegmentHeader> DecodeSegmentHeader(std::string_view data) {
  if (data.size() < kSegmentHeaderSize) return std::nullopt;
  if (record::GetU32(data.data()) != kSegmentMagic) return std::nullopt;
  if (HeaderCrc(data.substr(0, 20)) != record::GetU32(data.data() + 20)) return std::nullopt;
  DecodedSegmentHeader out;
  out.version = record::GetU32(data.data() + 4);
  out.header.seq = record::GetU64(data.data() + 8);
  out.header.salt = record::GetU32(data.data() + 16);
  return out;
}

base::Result<ScanResult> ScanSegment(
    base::Filesystem& fs, const std::string& dir, std::uint64_t seq,
    const std::function<bool(const record::RawRecord&, std::uint64_t offset)>& visit,
    const SegmentExpectation* expected, RecoveryReport& report) {
  const std::string name = SegmentFileName(seq);
  const std::string path = base::JoinPath(dir, name);
  auto content = fs.ReadWholeFile(path);
  if (!content) return content.error();
  const std::string_view file = *content;
  ScanResult result;
  // After a clean shutdown the marker names every segment the run had synced, with its size.
  const bool clean = expected != nullptr;
  const bool listed = clean && expected->listed;

  if (file.size() < kSegmentHeaderSize) {
    if (listed) {
      // The clean run had synced this header (and what followed): the file was damaged since.
      auto moved = MoveAside(fs, dir, name, report);
      if (!moved) return moved.error();
      report.damage.push_back("segment " + name + ": only " + std::to_string(file.size()) +
                              " bytes, the clean shutdown left " + std::to_string(expected->size) +
                              Held(expected) + "; kept as " + *moved);
      result.outcome = ScanResult::Outcome::kMovedAside;
      return result;
    }
    // The header is written and synced before anything else goes into a segment, so a short
    // file is a roll that crashed (or failed) before its sync: nothing in it was ever
    // acknowledged.
    if (base::Status s = fs.Remove(path); !s) return s.error();
    report.truncated_bytes += file.size();
    report.notes.push_back("segment " + name + ": incomplete header (" +
                           std::to_string(file.size()) +
                           " bytes), removed: an interrupted roll, nothing in it was acknowledged");
    result.outcome = ScanResult::Outcome::kRemoved;
    return result;
  }
  auto header = DecodeSegmentHeader(file);
  if (header && header->version != kSegmentVersion) {
    return base::MakeError("segment " + path + ": unsupported format version " +
                           std::to_string(header->version));
  }
  if (!header || header->header.seq != seq) {
    // Without the header we do not know the salt, so no record can be trusted: keep the whole
    // file for the operator instead of guessing.
    auto moved = MoveAside(fs, dir, name, report);
    if (!moved) return moved.error();
    report.damage.push_back("segment " + name + ": damaged header" + Held(expected) +
                            ", whole file moved to " + *moved);
    result.outcome = ScanResult::Outcome::kMovedAside;
    return result;
  }
  result.header = header->header;
  const std::uint32_t salt = result.header.salt;
  // After a clean shutdown, bytes past the size the run had synced are a write that failed (and
  // was answered as failed): scan only what was acknowledged.
  const std::string_view data =
      listed && expected->size < file.size() ? file.substr(0, expected->size) : file;
  if (listed && file.size() < expected->size) {
    report.damage.push_back("segment " + name + ": " + std::to_string(file.size()) +
                            " bytes, the clean shutdown left " + std::to_string(expected->size) +
                            Held(expected) + "; its end is missing");
  }

  std::size_t pos = kSegmentHeaderSize;
  while (pos < data.size()) {
    if (auto rec = record::ParseRecordAt(data, pos, salt)) {
      if (!visit(*rec, pos)) {
        // Valid crc but a payload this version cannot read: keep it, skip it.
        auto saved = SaveCorrupt(fs, dir, seq, pos, data.substr(pos, rec->size), report);
        if (!saved) return saved.error();
        report.damage.push_back(*saved + " (a record this version cannot read)");
      }
      pos += rec->size;
      continue;
    }
    const std::size_t next = FindNextRecord(data, pos + 1, salt);
    if (next == std::string_view::npos) break;  // the tail: handled below
    // Valid records follow, so these bytes were once acknowledged data: real corruption.
    auto saved = SaveCorrupt(fs, dir, seq, pos, data.substr(pos, next - pos), report);
    if (!saved) return saved.error();
    report.damage.push_back(*saved);
    pos = next;
  }
  if (pos < data.size()) {
    if (clean) {
      // No crash, so no write was ever cut short: these bytes were written, synced and
      // acknowledged, and are damaged now. Keep them before cutting.
      auto saved = SaveCorrupt(fs, dir, seq, pos, data.substr(pos), report);
      if (!saved) return saved.error();
      report.damage.push_back(*saved + " (a damaged tail after a clean shutdown" + Held(expected) +
                              ")");
    } else {
      report.truncated_bytes += data.size() - pos;
      report.notes.push_back("segment " + name + ": torn tail of " +
                             std::to_string(data.size() - pos) + " bytes at offset " +
                             std::to_string(pos) + " truncated (unfinished writes of a crash)");
    }
  }
  if (pos < file.size()) {
    if (data.size() < file.size()) {
      report.truncated_bytes += file.size() - data.size();
      report.notes.push_back("segment " + name + ": " + std::to_string(file.size() - data.size()) +
                             " bytes of a failed write at offset " + std::to_string(data.size()) +
                             " truncated");
    }
    // Cut so that the next scan does not have to rediscover it (and appends never follow it).
    auto out = fs.OpenAppend(path);
    if (!out) return out.error();
    if (base::Status s = (*out)->Truncate(pos); !s) return s.error();
    if (base::Status s = (*out)->Sync(); !s) return s.error();
  }
  result.size = std::min<std::uint64_t>(pos, file.size());
  return result;
}

}  // namespace tidegate::spool
