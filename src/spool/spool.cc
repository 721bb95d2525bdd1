// spool.cc — Spool: commit thread, group commit and the in-memory index (see spool.h). Recovery
// is in recovery.cc, deletion and compaction in compaction.cc; Spool::Impl in spool_internal.h.
//
// Threads: callers enqueue requests (queue_mu_); the commit thread alone writes files and
// mutates the index; the index and segment table are guarded by index_mu_ so that ReadBody(),
// GetMeta() and stats() can run on any thread. Maintenance (deletion, compaction) runs on the
// commit thread between batches, so it never overlaps a write.
#include "spool/spool.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_set>
#include <utility>

#include "spool/ids.h"
#include "spool/record.h"
#include "spool/segment.h"
#include "spool/spool_internal.h"

namespace tidegate::spool {
namespace {

using record::EncodedRecord;
using record::RecordType;

constexpr std::uint64_t kMinSegmentSize = 1024;

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
        } else if (m.replace && !index_.count(mid)) {
          results[i] = base::MakeError("spool: MID " + std::to_string(mid) + " is not live");
        } else if ((!m.replace && index_.count(mid)) || batch_mids.count(mid) ||
                   !mids.insert(mid).second) {
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
          const RecordType type = m.replace ? RecordType::kRelocated : RecordType::kMessage;
          records.push_back(record::EncodeMessage(type, m.meta, m.body, head_salt_));
          applied.push_back({type, &m.meta, nullptr, m.meta.mid});
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
            case RecordType::kRelocated:  // a replacement (AddLocked supersedes the old copy)
              AddLocked(std::move(*a.meta), head_seq_, offset, records[k].size(),
                        offset + records[k].head.size());
              break;
            case RecordType::kState:
              ApplyUpdateLocked(*a.update);
              break;
            case RecordType::kFinish:
              RemoveLocked(a.mid);
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
