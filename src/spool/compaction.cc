// compaction.cc — Spool::Impl's maintenance between batches on the commit thread: deleting the
// oldest segment once nothing in it is live, and relocating (RELOCATED records) the live messages
// of a sparse oldest segment into the head so that it can be deleted (docs/spool-format.md).
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "spool/record.h"
#include "spool/segment.h"
#include "spool/spool_internal.h"

namespace tidegate::spool {
namespace {

using record::EncodedRecord;
using record::RecordType;

// Compaction copies at most this many bytes per step, so a commit waits at most one step.
constexpr std::uint64_t kRelocateChunk = 4 << 20;

}  // namespace

// ---- deletion and compaction ----------------------------------------------------------------

void Spool::Impl::Maintain() {
  // One step always runs, so a steady stream of commits cannot starve deletion; further steps
  // only while nobody waits.
  for (int step = 0;; ++step) {
    if (step > 0 && QueueHasWork()) return;
    std::uint64_t seq, size, live_bytes;
    std::size_t live_count, segment_count;
    {
      std::lock_guard lock(index_mu_);
      // The newest segment (the head) is never deleted: it also carries the highest sequence
      // number across restarts.
      if (segments_.size() < 2) return;
      auto it = segments_.begin();
      seq = it->first;
      size = it->second.size;
      live_bytes = it->second.live_bytes;
      live_count = it->second.live.size();
      segment_count = segments_.size();
    }
    if (live_count == 0) {
      // Oldest first and durable one at a time: a STATE/FINISH record never disappears before
      // the MESSAGE it refers to.
      base::Status s = fs_->Remove(SegmentPath(seq));
      if (s) {
        ++fsyncs_;
        s = fs_->SyncDir(opts_.dir);
      }
      if (!s) return;  // retried after the next batch
      std::lock_guard lock(index_mu_);
      segments_.erase(seq);
      continue;
    }
    const bool sparse =
        static_cast<double>(live_bytes) < opts_.compact_live_ratio * static_cast<double>(size);
    // Relocating a segment that is more than half live would not reduce the count: churn.
    const bool crowded =
        segment_count > opts_.max_segments_before_compaction && live_bytes * 2 <= size;
    if (!sparse && !crowded) return;
    if (!RelocateStep(seq)) return;
  }
}

bool Spool::Impl::RelocateStep(std::uint64_t seq) {
  struct Item {
    MessageMeta meta;
    std::uint64_t body_offset;
  };
  std::vector<Item> items;
  std::shared_ptr<base::ReadFile> reader;
  {
    std::lock_guard lock(index_mu_);
    const Segment& seg = segments_.at(seq);
    reader = seg.reader;
    std::uint64_t bytes = 0;
    for (std::uint64_t mid : seg.live) {
      if (bytes >= kRelocateChunk) break;
      const Entry& e = index_.at(mid);
      items.push_back({e.meta, e.body_offset});
      bytes += e.record_size;
    }
  }
  if (!EnsureHead()) return false;
  std::vector<std::string> bodies(items.size());
  std::vector<EncodedRecord> records;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!reader->ReadAt(items[i].body_offset, items[i].meta.body_size, bodies[i])) return false;
    records.push_back(
        record::EncodeMessage(RecordType::kRelocated, items[i].meta, bodies[i], head_salt_));
  }
  std::uint64_t offset = 0;
  if (!Write(records, offset)) return false;
  std::lock_guard lock(index_mu_);
  for (std::size_t i = 0; i < items.size(); ++i) {
    MoveLocked(index_.at(items[i].meta.mid), head_seq_, offset, records[i].size(),
               offset + records[i].head.size());
    offset += records[i].size();
    ++relocated_;
  }
  return true;
}

}  // namespace tidegate::spool
