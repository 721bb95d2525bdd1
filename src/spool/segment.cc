// segment.cc — segment naming, header and recovery scan (see segment.h).
#include "spool/segment.h"

#include <zlib.h>

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

// Keeps a copy of damaged bytes before recovery skips them.
base::Status SaveCorrupt(base::Filesystem& fs, const std::string& dir, std::uint64_t seq,
                         std::uint64_t offset, std::string_view bytes, RecoveryReport& report) {
  const std::string name = "seg-" + Hex16(seq) + "-" + std::to_string(offset) + ".bad";
  const std::string path = base::JoinPath(base::JoinPath(dir, kCorruptDir), name);
  if (base::Status s = fs.WriteFileAtomic(path, std::string(bytes)); !s) return s;
  ++report.corrupt_regions;
  report.notes.push_back("segment " + SegmentFileName(seq) + ": " + std::to_string(bytes.size()) +
                         " damaged bytes at offset " + std::to_string(offset) + " moved to " +
                         std::string(kCorruptDir) + "/" + name);
  return base::Status::Ok();
}

}  // namespace

std::string SegmentFileName(std::uint64_t seq) { return "seg-" + Hex16(seq) + ".log"; }

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
    RecoveryReport& report) {
  const std::string name = SegmentFileName(seq);
  const std::string path = base::JoinPath(dir, name);
  auto content = fs.ReadWholeFile(path);
  if (!content) return content.error();
  const std::string_view data = *content;
  ScanResult result;

  if (data.size() < kSegmentHeaderSize) {
    // The header is written and synced before anything else goes into a segment, so a short
    // file is a roll that crashed before its sync: nothing in it was ever acknowledged.
    if (base::Status s = fs.Remove(path); !s) return s.error();
    report.truncated_bytes += data.size();
    report.notes.push_back("segment " + name + ": incomplete header (" +
                           std::to_string(data.size()) + " bytes), removed");
    result.outcome = ScanResult::Outcome::kRemoved;
    return result;
  }
  auto header = DecodeSegmentHeader(data);
  if (header && header->version != kSegmentVersion) {
    return base::MakeError("segment " + path + ": unsupported format version " +
                           std::to_string(header->version));
  }
  if (!header || header->header.seq != seq) {
    // Without the header we do not know the salt, so no record can be trusted: keep the whole
    // file for the operator instead of guessing.
    const std::string to = base::JoinPath(base::JoinPath(dir, kCorruptDir), name + ".bad");
    if (base::Status s = fs.Rename(path, to); !s) return s.error();
    // Both directory entries change: the old name must go and the new one must stay.
    if (base::Status s = fs.SyncDir(base::JoinPath(dir, kCorruptDir)); !s) return s.error();
    if (base::Status s = fs.SyncDir(dir); !s) return s.error();
    ++report.corrupt_regions;
    report.notes.push_back("segment " + name + ": damaged header, whole file moved to " +
                           std::string(kCorruptDir) + "/" + name + ".bad");
    result.outcome = ScanResult::Outcome::kMovedAside;
    return result;
  }
  result.header = header->header;
  const std::uint32_t salt = result.header.salt;

  std::size_t pos = kSegmentHeaderSize;
  while (pos < data.size()) {
    if (auto rec = record::ParseRecordAt(data, pos, salt)) {
      if (!visit(*rec, pos)) {
        // Valid crc but a payload this version cannot read: keep it, skip it.
        if (base::Status s = SaveCorrupt(fs, dir, seq, pos, data.substr(pos, rec->size), report);
            !s) {
          return s.error();
        }
      }
      pos += rec->size;
      continue;
    }
    const std::size_t next = FindNextRecord(data, pos + 1, salt);
    if (next == std::string_view::npos) {
      // Nothing valid follows: a write that never completed its sync (torn tail). Cut it so the
      // next scan does not have to rediscover it.
      auto file = fs.OpenAppend(path);
      if (!file) return file.error();
      if (base::Status s = (*file)->Truncate(pos); !s) return s.error();
      if (base::Status s = (*file)->Sync(); !s) return s.error();
      report.truncated_bytes += data.size() - pos;
      report.notes.push_back("segment " + name + ": torn tail of " +
                             std::to_string(data.size() - pos) + " bytes at offset " +
                             std::to_string(pos) + " truncated");
      result.size = pos;
      return result;
    }
    // Valid records follow, so these bytes were once acknowledged data: real corruption.
    if (base::Status s = SaveCorrupt(fs, dir, seq, pos, data.substr(pos, next - pos), report); !s) {
      return s.error();
    }
    pos = next;
  }
  result.size = data.size();
  return result;
}

}  // namespace tidegate::spool
