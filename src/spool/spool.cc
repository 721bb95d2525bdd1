// spool.cc — Spool: commit thread, in-memory index, recovery and compaction (see spool.h).
//
// Threads: callers enqueue requests (queue_mu_); the commit thread alone writes files and
// mutates the index; the index and segment table are guarded by index_mu_ so that ReadBody(),
// GetMeta() and stats() can run on any thread. Maintenance (deletion, compaction) runs on the
// commit thread between batches, so it never overlaps a write.
#include "spool/spool.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <cassert>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <sstream>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "spool/ids.h"
#include "spool/record.h"
#include "spool/segment.h"

namespace tidegate::spool {
namespace {

using record::EncodedRecord;
using record::RecordType;

// Compaction copies at most this many bytes per step, so a commit waits at most one step.
constexpr std::uint64_t kRelocateChunk = 4 << 20;
constexpr std::uint64_t kMinSegmentSize = 1024;

struct Request {
  enum class Kind { kCommit, kFinish };
  Kind kind = Kind::kCommit;
  std::vector<NewMessage> messages;
  std::vector<StateUpdate> updates;
  std::uint64_t finish_mid = 0;
  std::function<void(base::Status)> done;
};

// Where the current copy of a live message sits, and its meta.
struct Entry {
  MessageMeta meta;
  std::uint64_t seq = 0;
  std::uint64_t record_offset = 0;
  std::uint64_t record_size = 0;
  std::uint64_t body_offset = 0;
};

struct Segment {
  std::uint64_t size = 0;
  std::uint64_t live_bytes = 0;            // sum of record_size of the live copies in it
  std::unordered_set<std::uint64_t> live;  // mids whose current copy is here
  std::shared_ptr<base::ReadFile> reader;
};

bool IsLive(const MessageMeta& meta) {
  return std::any_of(meta.recipients.begin(), meta.recipients.end(),
                     [](const Recipient& r) { return !IsFinal(r.state); });
}

// What one encoded record means for the index once it is durable.
struct Applied {
  RecordType type;
  MessageMeta* meta = nullptr;          // kMessage / kRelocated
  const StateUpdate* update = nullptr;  // kState
  std::uint64_t mid = 0;                // kFinish / kRelocated
};

}  // namespace

class Spool::Impl {
 public:
  explicit Impl(Options options)
      : opts_(std::move(options)),
        fs_(opts_.fs != nullptr ? opts_.fs : &base::PosixFilesystem()),
        clock_(opts_.clock != nullptr ? opts_.clock : &base::SystemClock::Instance()) {}

  ~Impl() {
    {
      std::lock_guard lock(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_one();
    if (thread_.joinable()) {
      thread_.join();
      WriteCleanMarker();
    }
  }

  base::Status Recover();
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }

  void Enqueue(Request request) {
    {
      std::lock_guard lock(queue_mu_);
      queue_.push_back(std::move(request));
    }
    queue_cv_.notify_one();
  }

  base::Status ReadBody(std::uint64_t mid, std::string& out) const;
  base::Result<MessageMeta> GetMeta(std::uint64_t mid) const;
  Stats GetStats() const;

  RecoveryReport report_;
  std::vector<MessageMeta> recovered_;
  std::unique_ptr<IdAllocator> ids_;

 private:
  void Run();
  void ProcessBatch(std::vector<Request>& batch);
  base::Status EnsureHead();
  base::Status Roll();
  // Fails the requests of `batch` that carry messages and would eat into the free-space reserve.
  void CheckReserve(std::vector<Request>& batch, std::vector<base::Status>& results);
  base::Result<std::uint64_t> FreeSpace() const;
  base::Status Write(const std::vector<EncodedRecord>& records, std::uint64_t& offset);
  void Maintain();
  bool QueueHasWork() {
    std::lock_guard lock(queue_mu_);
    return !queue_.empty();
  }
  bool RelocateStep(std::uint64_t seq);
  // The clean-shutdown marker: every segment with its synced size and live-message count.
  void WriteCleanMarker();
  // Reads (and checks) the marker left by the last run; empty when it did not stop cleanly.
  std::optional<std::map<std::uint64_t, SegmentExpectation>> ReadCleanMarker();

  // Index mutations; callers hold index_mu_ (or run before the commit thread starts).
  void AddLocked(MessageMeta meta, std::uint64_t seq, std::uint64_t offset, std::uint64_t size,
                 std::uint64_t body_offset);
  void RemoveLocked(std::uint64_t mid);
  void ApplyUpdateLocked(const StateUpdate& update);
  void MoveLocked(Entry& e, std::uint64_t seq, std::uint64_t offset, std::uint64_t size,
                  std::uint64_t body_offset);

  std::string SegmentPath(std::uint64_t seq) const {
    return base::JoinPath(opts_.dir, SegmentFileName(seq));
  }

  const Options opts_;
  base::Filesystem* const fs_;
  const base::Clock* const clock_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Request> queue_;  // guarded by queue_mu_
  bool stopping_ = false;       // guarded by queue_mu_
  std::thread thread_;

  mutable std::mutex index_mu_;
  std::unordered_map<std::uint64_t, Entry> index_;  // guarded by index_mu_
  std::map<std::uint64_t, Segment> segments_;       // guarded by index_mu_; seq → segment

  // Commit thread only (and Recover(), before the thread starts).
  std::unique_ptr<base::AppendFile> head_;
  std::uint64_t head_seq_ = 0;
  std::uint32_t head_salt_ = 0;
  bool head_broken_ = false;  // a write or sync failed: never append to it again
  std::uint64_t next_seq_ = 1;
  std::random_device random_;

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> fsyncs_{0};
  std::atomic<std::uint64_t> relocated_{0};
};

// ---- index ----------------------------------------------------------------------------------

void Spool::Impl::AddLocked(MessageMeta meta, std::uint64_t seq, std::uint64_t offset,
                            std::uint64_t size, std::uint64_t body_offset) {
  RemoveLocked(meta.mid);  // a later copy (relocation) supersedes an earlier one
  // Recovery and the live path share this rule: a message with no pending recipient is done.
  if (!IsLive(meta)) return;
  Segment& seg = segments_.at(seq);
  seg.live.insert(meta.mid);
  seg.live_bytes += size;
  const std::uint64_t mid = meta.mid;
  index_[mid] = Entry{std::move(meta), seq, offset, size, body_offset};
}

void Spool::Impl::RemoveLocked(std::uint64_t mid) {
  auto it = index_.find(mid);
  if (it == index_.end()) return;
  Segment& seg = segments_.at(it->second.seq);
  seg.live.erase(mid);
  seg.live_bytes -= it->second.record_size;
  index_.erase(it);
}

void Spool::Impl::ApplyUpdateLocked(const StateUpdate& update) {
  auto it = index_.find(update.mid);
  if (it == index_.end()) return;  // finished already: nothing to do
  for (Recipient& r : it->second.meta.recipients) {
    if (std::find(update.rids.begin(), update.rids.end(), r.rid) == update.rids.end()) continue;
    if (update.state == RecipientState::kPending) {
      // A retry schedule: never revives a final recipient.
      if (r.state == RecipientState::kPending) {
        r.attempts = update.attempts;
        r.next_attempt = update.next_attempt;
      }
    } else {
      r.state = update.state;
    }
  }
  if (!IsLive(it->second.meta)) RemoveLocked(update.mid);
}

void Spool::Impl::MoveLocked(Entry& e, std::uint64_t seq, std::uint64_t offset, std::uint64_t size,
                             std::uint64_t body_offset) {
  Segment& from = segments_.at(e.seq);
  from.live.erase(e.meta.mid);
  from.live_bytes -= e.record_size;
  Segment& to = segments_.at(seq);
  to.live.insert(e.meta.mid);
  to.live_bytes += size;
  e.seq = seq;
  e.record_offset = offset;
  e.record_size = size;
  e.body_offset = body_offset;
}

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

// ---- writing --------------------------------------------------------------------------------

base::Status Spool::Impl::EnsureHead() {
  if (head_ && !head_broken_ && head_->Size() < opts_.segment_size) return base::Status::Ok();
  return Roll();
}

base::Status Spool::Impl::Roll() {
  const std::uint64_t seq = next_seq_++;  // a failed roll burns its number: names never repeat
  const std::string path = SegmentPath(seq);
  const SegmentHeader header{seq, static_cast<std::uint32_t>(random_())};
  auto fail = [&](base::Status s) {
    (void)fs_->Remove(path);  // best effort; recovery removes a short file anyway
    return base::Status(base::MakeError("spool: cannot create segment: " + s.error().message));
  };
  auto file = fs_->OpenAppend(path);
  if (!file) return fail(file.error());
  std::string bytes = EncodeSegmentHeader(header);
  iovec iov{bytes.data(), bytes.size()};
  if (base::Status s = (*file)->Append({&iov, 1}); !s) return fail(s);
  ++fsyncs_;
  if (base::Status s = (*file)->Sync(); !s) return fail(s);
  // The new name must be durable before anything written into the file is acknowledged.
  ++fsyncs_;
  if (base::Status s = fs_->SyncDir(opts_.dir); !s) return fail(s);
  auto reader = fs_->OpenRead(path);
  if (!reader) return fail(reader.error());

  head_ = std::move(*file);
  head_seq_ = seq;
  head_salt_ = header.salt;
  head_broken_ = false;
  std::lock_guard lock(index_mu_);
  Segment& seg = segments_[seq];
  seg.size = head_->Size();
  seg.reader = std::shared_ptr<base::ReadFile>(std::move(*reader));
  return base::Status::Ok();
}

base::Status Spool::Impl::Write(const std::vector<EncodedRecord>& records, std::uint64_t& offset) {
  std::vector<iovec> iov;
  iov.reserve(records.size() * 2);
  for (const EncodedRecord& r : records) {
    iov.push_back({const_cast<char*>(r.head.data()), r.head.size()});
    if (!r.body.empty()) iov.push_back({const_cast<char*>(r.body.data()), r.body.size()});
  }
  offset = head_->Size();
  base::Status s = head_->Append(iov);
  if (s) {
    ++fsyncs_;
    s = head_->Sync();
  }
  if (!s) {
    // Try to take the batch back so recovery cannot resurrect what we report as failed; either
    // way, never append to this file again: a torn record may sit at its end.
    if (head_->Truncate(offset)) (void)head_->Sync();
    head_broken_ = true;
    return base::MakeError("spool: write failed: " + s.error().message);
  }
  std::lock_guard lock(index_mu_);
  segments_.at(head_seq_).size = head_->Size();
  return base::Status::Ok();
}

void Spool::Impl::ProcessBatch(std::vector<Request>& batch) {
  std::vector<base::Status> results(batch.size());
  {
    // Validate before writing: one bad request must not fail the others of its batch.
    std::unordered_set<std::uint64_t> batch_mids;
    std::lock_guard lock(index_mu_);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      std::unordered_set<std::uint64_t> mids;
      for (NewMessage& m : batch[i].messages) {
        m.meta.body_size = m.body.size();
        if (m.meta.received == base::SystemTime{}) m.meta.received = clock_->Now();
        const std::uint64_t mid = m.meta.mid;
        if (mid == 0) {
          results[i] = base::MakeError("spool: message without a MID");
        } else if (index_.count(mid) || batch_mids.count(mid) || !mids.insert(mid).second) {
          results[i] = base::MakeError("spool: MID " + std::to_string(mid) + " already stored");
        } else if (record::MessagePayloadSize(m.meta, m.body.size()) > record::kMaxPayload) {
          results[i] = base::MakeError("spool: message too large");
        }
      }
      if (results[i]) batch_mids.insert(mids.begin(), mids.end());
    }
  }

  if (opts_.min_free_bytes > 0) CheckReserve(batch, results);

  bool any_records = false;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const Request& r = batch[i];
    if (results[i] &&
        (r.kind == Request::Kind::kFinish || !r.messages.empty() || !r.updates.empty())) {
      any_records = true;
    }
  }
  if (any_records) {
    base::Status s = EnsureHead();
    if (s) {
      std::vector<EncodedRecord> records;
      std::vector<Applied> applied;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (!results[i]) continue;
        Request& r = batch[i];
        if (r.kind == Request::Kind::kFinish) {
          records.push_back(record::EncodeFinish(r.finish_mid, head_salt_));
          applied.push_back({RecordType::kFinish, nullptr, nullptr, r.finish_mid});
          continue;
        }
        for (NewMessage& m : r.messages) {
          records.push_back(
              record::EncodeMessage(RecordType::kMessage, m.meta, m.body, head_salt_));
          applied.push_back({RecordType::kMessage, &m.meta, nullptr, m.meta.mid});
        }
        for (const StateUpdate& u : r.updates) {
          records.push_back(record::EncodeState(u, head_salt_));
          applied.push_back({RecordType::kState, nullptr, &u, u.mid});
        }
      }
      std::uint64_t offset = 0;
      s = Write(records, offset);
      if (s) {
        // Durable: now (and only now) the index may show it, before any callback runs.
        std::lock_guard lock(index_mu_);
        for (std::size_t k = 0; k < records.size(); ++k) {
          const Applied& a = applied[k];
          switch (a.type) {
            case RecordType::kMessage:
              AddLocked(std::move(*a.meta), head_seq_, offset, records[k].size(),
                        offset + records[k].head.size());
              break;
            case RecordType::kState:
              ApplyUpdateLocked(*a.update);
              break;
            case RecordType::kFinish:
              RemoveLocked(a.mid);
              break;
            case RecordType::kRelocated:
              assert(false);  // only compaction writes these
              break;
          }
          offset += records[k].size();
        }
      }
    }
    if (!s) {
      for (base::Status& r : results) {
        if (r) r = s;
      }
    }
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (results[i]) ++commits_;
    if (batch[i].done) batch[i].done(results[i]);
  }
}

base::Result<std::uint64_t> Spool::Impl::FreeSpace() const {
  if (opts_.free_space) return opts_.free_space();
  struct statvfs st {};
  if (::statvfs(opts_.dir.c_str(), &st) != 0) {
    return base::MakeError("statvfs " + opts_.dir + ": " + std::strerror(errno));
  }
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

void Spool::Impl::CheckReserve(std::vector<Request>& batch, std::vector<base::Status>& results) {
  bool any_messages = false;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (results[i] && !batch[i].messages.empty()) any_messages = true;
  }
  if (!any_messages) return;
  auto free = FreeSpace();
  // Not knowing is no reason to refuse mail: the write itself still reports a full disk.
  if (!free) return;
  std::uint64_t left = *free;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!results[i] || batch[i].messages.empty()) continue;
    std::uint64_t need = 0;
    for (const NewMessage& m : batch[i].messages) {
      need += record::MessagePayloadSize(m.meta, m.body.size()) + record::kRecordHeaderSize;
    }
    if (left < need || left - need < opts_.min_free_bytes) {
      results[i] = base::MakeError(
          "spool: disk full: " + std::to_string(left) + " bytes free, " +
          std::to_string(opts_.min_free_bytes) + " kept in reserve for delivery records");
      continue;
    }
    left -= need;
  }
}

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

void Spool::Impl::Run() {
  Maintain();  // segments emptied before the last shutdown or crash
  for (;;) {
    std::vector<Request> batch;
    bool stopping;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and all work done
      batch.swap(queue_);
      stopping = stopping_;
    }
    ProcessBatch(batch);
    if (!stopping) Maintain();
  }
}

// ---- readers --------------------------------------------------------------------------------

base::Status Spool::Impl::ReadBody(std::uint64_t mid, std::string& out) const {
  std::shared_ptr<base::ReadFile> reader;
  std::uint64_t offset, size;
  {
    std::lock_guard lock(index_mu_);
    auto it = index_.find(mid);
    if (it == index_.end()) return base::MakeError("spool: no live message " + std::to_string(mid));
    reader = segments_.at(it->second.seq).reader;
    offset = it->second.body_offset;
    size = it->second.meta.body_size;
  }
  // The reader stays valid even if compaction unlinks the segment meanwhile (open descriptor).
  return reader->ReadAt(offset, size, out);
}

base::Result<MessageMeta> Spool::Impl::GetMeta(std::uint64_t mid) const {
  std::lock_guard lock(index_mu_);
  auto it = index_.find(mid);
  if (it == index_.end()) return base::MakeError("spool: no live message " + std::to_string(mid));
  return it->second.meta;
}

Spool::Stats Spool::Impl::GetStats() const {
  Stats s;
  std::lock_guard lock(index_mu_);
  s.live_messages = index_.size();
  s.segments = segments_.size();
  for (const auto& [seq, seg] : segments_) s.bytes += seg.size;
  s.commits = commits_;
  s.fsyncs = fsyncs_;
  s.relocated = relocated_;
  return s;
}

// ---- Spool ----------------------------------------------------------------------------------

base::Result<std::unique_ptr<Spool>> Spool::Open(Options options) {
  if (options.dir.empty()) return base::MakeError("spool: no directory given");
  if (options.segment_size < kMinSegmentSize)
    return base::MakeError("spool: segment_size too small");
  if (!(options.compact_live_ratio >= 0 && options.compact_live_ratio <= 1)) {
    return base::MakeError("spool: compact_live_ratio must be within 0..1");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  if (base::Status s = impl->Recover(); !s) return s.error();
  impl->Start();
  return std::unique_ptr<Spool>(new Spool(std::move(impl)));
}

Spool::Spool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Spool::~Spool() = default;

const RecoveryReport& Spool::recovery() const { return impl_->report_; }
std::vector<MessageMeta> Spool::TakeRecovered() { return std::exchange(impl_->recovered_, {}); }

std::uint64_t Spool::NextMid() { return impl_->ids_->Next(IdAllocator::kMid); }
std::uint64_t Spool::NextIcid() { return impl_->ids_->Next(IdAllocator::kIcid); }
std::uint64_t Spool::NextConnectionId() { return impl_->ids_->Next(IdAllocator::kDcid); }

void Spool::Commit(std::vector<NewMessage> messages, std::vector<StateUpdate> updates,
                   std::function<void(base::Status)> done) {
  Request r;
  r.kind = Request::Kind::kCommit;
  r.messages = std::move(messages);
  r.updates = std::move(updates);
  r.done = std::move(done);
  impl_->Enqueue(std::move(r));
}

void Spool::Finish(std::uint64_t mid, std::function<void(base::Status)> done) {
  Request r;
  r.kind = Request::Kind::kFinish;
  r.finish_mid = mid;
  r.done = std::move(done);
  impl_->Enqueue(std::move(r));
}

base::Status Spool::ReadBody(std::uint64_t mid, std::string& out) const {
  return impl_->ReadBody(mid, out);
}
base::Result<MessageMeta> Spool::GetMeta(std::uint64_t mid) const { return impl_->GetMeta(mid); }
Spool::Stats Spool::stats() const { return impl_->GetStats(); }

}  // namespace tidegate::spool
