// recovery.cc — Spool::Impl's recovery at Open (see spool.h, docs/spool-format.md): scanning the
// segments in order and rebuilding the index from their records, cutting torn tails and moving
// damage to corrupt/, checking the result against the clean-shutdown marker of the last run, and
// writing that marker at a clean stop. Runs before the commit thread starts (the marker: after
// it stopped).
#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "spool/ids.h"
#include "spool/record.h"
#include "spool/segment.h"
#include "spool/spool_internal.h"

namespace tidegate::spool {

using record::RecordType;

// ---- recovery -------------------------------------------------------------------------------

base::Status Spool::Impl::Recover() {
  if (base::Status s = fs_->CreateDirs(base::JoinPath(opts_.dir, kCorruptDir)); !s) return s;
  // Make the directories themselves durable before anything in them is acknowledged.
  if (base::Status s = fs_->SyncDir(base::DirName(base::JoinPath(opts_.dir, "x"))); !s) return s;
  if (base::Status s = fs_->SyncDir(base::DirName(opts_.dir)); !s) return s;
  auto names = fs_->List(opts_.dir);
  if (!names) return names.error();
  std::vector<std::uint64_t> seqs;
  for (const std::string& name : *names) {
    if (auto seq = ParseSegmentFileName(name)) seqs.push_back(*seq);
  }
  std::sort(seqs.begin(), seqs.end());
  std::uint64_t max_mid = 0;
  // Whether the last run stopped cleanly decides what a bad tail is: after a crash, a write
  // that never finished; after a clean stop, damage.
  const auto clean = ReadCleanMarker();
  report_.clean_shutdown = clean.has_value();
  report_.segments = seqs.size();

  for (std::uint64_t seq : seqs) {
    segments_[seq] = Segment{};
    auto visit = [&](const record::RawRecord& rec, std::uint64_t offset) -> bool {
      switch (rec.type) {
        case RecordType::kMessage:
        case RecordType::kRelocated: {
          auto decoded = record::DecodeMessage(rec.payload);
          if (!decoded) return false;
          max_mid = std::max(max_mid, decoded->meta.mid);
          AddLocked(std::move(decoded->meta), seq, offset, rec.size,
                    offset + record::kRecordHeaderSize + decoded->body_offset_in_payload);
          return true;
        }
        case RecordType::kState: {
          auto update = record::DecodeState(rec.payload);
          if (!update) return false;
          ApplyUpdateLocked(*update);
          return true;
        }
        case RecordType::kFinish: {
          auto mid = record::DecodeFinish(rec.payload);
          if (!mid) return false;
          RemoveLocked(*mid);
          return true;
        }
      }
      return false;  // a record type this version does not know
    };
    SegmentExpectation expected;
    if (clean) {
      if (auto it = clean->find(seq); it != clean->end()) expected = it->second;
    }
    auto scanned = ScanSegment(*fs_, opts_.dir, seq, visit, clean ? &expected : nullptr, report_);
    if (!scanned) return scanned.error();
    if (scanned->outcome != ScanResult::Outcome::kScanned) {
      segments_.erase(seq);  // nothing was visited in it
      continue;
    }
    auto reader = fs_->OpenRead(SegmentPath(seq));
    if (!reader) return reader.error();
    Segment& seg = segments_.at(seq);
    seg.size = scanned->size;
    seg.reader = std::shared_ptr<base::ReadFile>(std::move(*reader));
  }
  next_seq_ = seqs.empty() ? 1 : seqs.back() + 1;
  if (clean) {
    // Every live message of the clean run must be back where it was.
    for (const auto& [seq, expected] : *clean) {
      auto it = segments_.find(seq);
      const std::uint64_t found = it == segments_.end() ? 0 : it->second.live.size();
      if (it == segments_.end() && std::find(seqs.begin(), seqs.end(), seq) == seqs.end()) {
        if (expected.live > 0) {
          report_.damage.push_back("segment " + SegmentFileName(seq) + ": missing; it held " +
                                   LiveMessages(expected.live) + " at the clean shutdown");
        } else {
          report_.notes.push_back("segment " + SegmentFileName(seq) +
                                  ": missing; it held no live message, harmless");
        }
        continue;
      }
      if (found < expected.live) {
        report_.damage.push_back("segment " + SegmentFileName(seq) + ": held " +
                                 LiveMessages(expected.live) + " at the clean shutdown, " +
                                 std::to_string(found) + " recovered from it");
      }
    }
    next_seq_ = std::max(next_seq_, clean->empty() ? 1 : clean->rbegin()->first + 1);
  }
  // From here on this run writes: a crash must not be taken for a clean stop.
  if (fs_->Exists(base::JoinPath(opts_.dir, kCleanShutdownFile))) {
    if (base::Status s = fs_->Remove(base::JoinPath(opts_.dir, kCleanShutdownFile)); !s) return s;
    if (base::Status s = fs_->SyncDir(opts_.dir); !s) return s;
  }

  auto ids = IdAllocator::Open(*fs_, base::JoinPath(opts_.dir, "ids"), {max_mid + 1, 1, 1});
  if (!ids) return ids.error();
  ids_ = std::move(*ids);

  recovered_.reserve(index_.size());
  for (const auto& [mid, e] : index_) recovered_.push_back(e.meta);
  std::sort(recovered_.begin(), recovered_.end(),
            [](const MessageMeta& a, const MessageMeta& b) { return a.mid < b.mid; });
  report_.messages = recovered_.size();

  // Always write into a fresh segment: never append behind bytes a crashed process left.
  if (base::Status s = Roll(); !s) {
    report_.notes.push_back("could not create a head segment (" + s.error().message +
                            "); retrying at the first commit");
  }
  return base::Status::Ok();
}

std::optional<std::map<std::uint64_t, SegmentExpectation>> Spool::Impl::ReadCleanMarker() {
  const std::string path = base::JoinPath(opts_.dir, kCleanShutdownFile);
  if (!fs_->Exists(path)) return std::nullopt;
  auto text = fs_->ReadWholeFile(path);
  std::map<std::uint64_t, SegmentExpectation> out;
  std::istringstream in(text ? *text : std::string());
  std::string magic, version, word, end;
  bool ok = text && (in >> magic >> version) && magic == "tidegate-spool-clean" && version == "1";
  while (ok && in >> word) {
    std::string name;
    SegmentExpectation e;
    e.listed = true;
    if (word == "end") {
      end = word;
      break;
    }
    ok = word == "seg" && (in >> name >> e.size >> e.live) && ParseSegmentFileName(name) &&
         e.size >= kSegmentHeaderSize;
    if (ok) out[*ParseSegmentFileName(name)] = e;
  }
  if (!ok || end != "end") {
    // Written atomically, so this is damage too; without it, recover as after a crash.
    report_.damage.push_back(std::string(kCleanShutdownFile) +
                             ": unreadable marker, recovering as after a crash");
    return std::nullopt;
  }
  return out;
}

void Spool::Impl::WriteCleanMarker() {
  std::string text = "tidegate-spool-clean 1\n";
  {
    std::lock_guard lock(index_mu_);
    for (const auto& [seq, seg] : segments_) {
      text += "seg " + SegmentFileName(seq) + " " + std::to_string(seg.size) + " " +
              std::to_string(seg.live.size()) + "\n";
    }
  }
  text += "end\n";
  // Best effort: without the marker the next start recovers as after a crash, which is safe.
  (void)fs_->WriteFileAtomic(base::JoinPath(opts_.dir, kCleanShutdownFile), text);
}

}  // namespace tidegate::spool
