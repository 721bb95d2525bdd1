// spool_record_fuzz.cc — libFuzzer target for the spool's recovery path: the record decoders
// (record.h), the segment scan (segment.h), the ids file and Spool::Open()'s index rebuild,
// over an in-memory Filesystem whose files are made from the input.
//
// Record crcs are salted with a random per-segment secret, so random bytes almost never pass
// ParseRecordAt(). The input is therefore read as a list of items (FuzzedDataProvider): most are
// records with a chosen type and payload and a CORRECT header and crc, which takes the fuzzer
// straight to the payload decoders and the index; others are raw bytes (damaged regions, torn
// tails, fake magic) or a damaged header. Properties:
//  - every decoder returns a value or an error on any payload, and a decoded message's body
//    offset and size lie inside its payload;
//  - Spool::Open() succeeds (damage is repaired, never refused, except an unreadable ids file or
//    an unsupported version), recovers only live messages (a pending recipient), sorted and
//    unique, and ReadBody() of each returns body_size bytes;
//  - recovery is idempotent: opening the repaired directory again recovers the same messages.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <fuzzer/FuzzedDataProvider.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/filesystem.h"
#include "spool/record.h"
#include "spool/segment.h"
#include "spool/spool.h"

namespace {

namespace base = tidegate::base;
namespace spool = tidegate::spool;
namespace record = tidegate::spool::record;

// Says which property broke before aborting (a crash report alone does not show the line).
#define Check(condition) CheckAt((condition), #condition, __LINE__)
void CheckAt(bool condition, const char* text, int line) {
  if (condition) return;
  std::fprintf(stderr, "spool_record_fuzz.cc:%d: check failed: %s\n", line, text);
  std::abort();
}

// A Filesystem in memory: path -> file. Like POSIX, a file is an object that names point to, so
// a reader opened before Remove() or Rename() keeps reading it (the spool relies on that: its
// commit thread may relocate messages and unlink their old segment while ReadBody() runs).
// Directories are only names. One mutex serialises everything (the commit thread runs too).
class MemFs final : public base::Filesystem {
 public:
  using File = std::shared_ptr<std::string>;

  // For building the initial directory, before any Spool runs.
  void Put(const std::string& path, std::string bytes) {
    files_[path] = std::make_shared<std::string>(std::move(bytes));
  }
  void AddDir(const std::string& path) { dirs_.insert(path); }

  class MemAppend final : public base::AppendFile {
   public:
    MemAppend(MemFs* fs, File file) : fs_(fs), file_(std::move(file)) {}
    base::Status Append(std::span<const iovec> parts) override {
      std::lock_guard lock(fs_->mu_);
      for (const iovec& v : parts) file_->append(static_cast<const char*>(v.iov_base), v.iov_len);
      return base::Status::Ok();
    }
    base::Status Sync() override { return base::Status::Ok(); }
    base::Status Truncate(std::uint64_t size) override {
      std::lock_guard lock(fs_->mu_);
      if (size < file_->size()) file_->resize(size);
      return base::Status::Ok();
    }
    std::uint64_t Size() const override {
      std::lock_guard lock(fs_->mu_);
      return file_->size();
    }

   private:
    MemFs* fs_;
    File file_;
  };

  class MemRead final : public base::ReadFile {
   public:
    MemRead(MemFs* fs, File file) : fs_(fs), file_(std::move(file)) {}
    base::Status ReadAt(std::uint64_t offset, std::size_t n, std::string& out) const override {
      std::lock_guard lock(fs_->mu_);
      if (offset > file_->size() || file_->size() - offset < n) {
        return base::MakeError("short read");
      }
      out.assign(*file_, offset, n);
      return base::Status::Ok();
    }
    base::Result<std::uint64_t> Size() const override {
      std::lock_guard lock(fs_->mu_);
      return static_cast<std::uint64_t>(file_->size());
    }

   private:
    MemFs* fs_;
    File file_;
  };

  base::Result<std::unique_ptr<base::AppendFile>> OpenAppend(const std::string& path) override {
    std::lock_guard lock(mu_);
    File& file = files_[path];
    if (!file) file = std::make_shared<std::string>();
    return std::unique_ptr<base::AppendFile>(new MemAppend(this, file));
  }
  base::Result<std::unique_ptr<base::ReadFile>> OpenRead(const std::string& path) override {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return base::MakeError("missing " + path);
    return std::unique_ptr<base::ReadFile>(new MemRead(this, it->second));
  }
  base::Status CreateDirs(const std::string& path) override {
    std::lock_guard lock(mu_);
    dirs_.insert(path);
    return base::Status::Ok();
  }
  base::Status SyncDir(const std::string&) override { return base::Status::Ok(); }
  base::Status Rename(const std::string& from, const std::string& to) override {
    std::lock_guard lock(mu_);
    auto it = files_.find(from);
    if (it == files_.end()) return base::MakeError("missing " + from);
    File file = it->second;
    files_.erase(it);
    files_[to] = std::move(file);
    return base::Status::Ok();
  }
  base::Status Remove(const std::string& path) override {
    std::lock_guard lock(mu_);
    if (!files_.erase(path)) return base::MakeError("missing " + path);
    return base::Status::Ok();
  }
  bool Exists(const std::string& path) override {
    std::lock_guard lock(mu_);
    return files_.count(path) || dirs_.count(path);
  }
  base::Result<std::vector<std::string>> List(const std::string& dir) override {
    std::lock_guard lock(mu_);
    std::vector<std::string> names;
    const std::string prefix = dir + "/";
    for (const auto& [path, file] : files_) {
      if (path.rfind(prefix, 0) == 0 && path.find('/', prefix.size()) == std::string::npos) {
        names.push_back(path.substr(prefix.size()));
      }
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  base::Status WriteFileAtomic(const std::string& path, const std::string& data) override {
    std::lock_guard lock(mu_);
    files_[path] = std::make_shared<std::string>(data);  // a new file, as rename-over does
    return base::Status::Ok();
  }
  base::Result<std::string> ReadWholeFile(const std::string& path) override {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return base::MakeError("missing " + path);
    return *it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, File> files_;
  std::set<std::string> dirs_;
};

constexpr const char* kDir = "/spool";

// A record with a correct header: magic, type, length, crc(salt, type, length, payload).
std::string MakeRecord(std::uint8_t type, std::string_view payload, std::uint32_t salt) {
  std::string tl;
  tl.push_back(static_cast<char>(type));
  record::PutU32(tl, static_cast<std::uint32_t>(payload.size()));
  std::string salt_bytes;
  record::PutU32(salt_bytes, salt);
  uLong crc = ::crc32(0, reinterpret_cast<const Bytef*>(salt_bytes.data()), 4);
  crc = ::crc32(crc, reinterpret_cast<const Bytef*>(tl.data()), 5);
  if (!payload.empty()) {
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(payload.data()),
                  static_cast<uInt>(payload.size()));
  }
  std::string out;
  record::PutU32(out, record::kRecordMagic);
  out.append(tl);
  record::PutU32(out, static_cast<std::uint32_t>(crc));
  out.append(payload);
  return out;
}

void CheckDecoders(std::string_view payload) {
  if (auto m = record::DecodeMessage(payload)) {
    Check(m->body_offset_in_payload <= payload.size());
    Check(m->meta.body_size == payload.size() - m->body_offset_in_payload);
  }
  (void)record::DecodeState(payload);
  (void)record::DecodeFinish(payload);
}

// A payload that usually decodes: a message, a state update or a finish with fuzzed fields.
std::string MakePayload(std::uint8_t type, FuzzedDataProvider& fdp) {
  using spool::MessageMeta;
  if (type == 2) {
    spool::StateUpdate u;
    u.mid = fdp.ConsumeIntegralInRange<std::uint64_t>(0, 8);
    u.state = static_cast<spool::RecipientState>(fdp.ConsumeIntegralInRange<int>(0, 4));
    const int n = fdp.ConsumeIntegralInRange<int>(0, 4);
    for (int i = 0; i < n; ++i) u.rids.push_back(fdp.ConsumeIntegralInRange<std::uint32_t>(0, 5));
    if (u.state == spool::RecipientState::kPending) {  // a retry schedule
      u.attempts = fdp.ConsumeIntegralInRange<std::uint32_t>(0, 3);
      u.next_attempt = base::SystemTime(std::chrono::seconds(fdp.ConsumeIntegral<std::uint32_t>()));
    }
    auto rec = record::EncodeState(u, 0);
    return rec.head.substr(record::kRecordHeaderSize);
  }
  if (type == 3) {
    auto rec = record::EncodeFinish(fdp.ConsumeIntegralInRange<std::uint64_t>(0, 8), 0);
    return rec.head.substr(record::kRecordHeaderSize);
  }
  MessageMeta meta;
  meta.mid = fdp.ConsumeIntegralInRange<std::uint64_t>(0, 8);
  meta.kind = static_cast<spool::MessageKind>(fdp.ConsumeIntegralInRange<int>(0, 2));
  meta.sender = fdp.ConsumeRandomLengthString(16);
  const int n = fdp.ConsumeIntegralInRange<int>(0, 3);
  for (int i = 0; i < n; ++i) {
    meta.recipients.push_back({static_cast<std::uint32_t>(i), fdp.ConsumeRandomLengthString(16),
                               static_cast<spool::RecipientState>(
                                   fdp.ConsumeIntegralInRange<int>(0, 4))});
    if (fdp.ConsumeProbability<float>() < 0.2f) {  // a relocated message with a retry schedule
      meta.recipients.back().attempts = fdp.ConsumeIntegralInRange<std::uint32_t>(1, 3);
      meta.recipients.back().next_attempt =
          base::SystemTime(std::chrono::seconds(fdp.ConsumeIntegral<std::uint32_t>()));
    }
  }
  if (fdp.ConsumeBool()) meta.attrs[fdp.ConsumeRandomLengthString(8)] = "v";
  const std::string body = fdp.ConsumeRandomLengthString(64);
  auto rec = record::EncodeMessage(type == 4 ? record::RecordType::kRelocated
                                             : record::RecordType::kMessage,
                                   meta, body, 0);
  return rec.head.substr(record::kRecordHeaderSize) + std::string(rec.body);
}

// Builds one segment file from the input.
std::string MakeSegment(std::uint64_t seq, FuzzedDataProvider& fdp) {
  const std::uint32_t salt = fdp.ConsumeIntegral<std::uint32_t>();
  std::string seg = spool::EncodeSegmentHeader({seq, salt});
  if (fdp.ConsumeProbability<float>() < 0.05f) {
    // A damaged header (or a short file, a roll that crashed before its sync).
    seg.resize(fdp.ConsumeIntegralInRange<std::size_t>(0, seg.size()));
    seg.append(fdp.ConsumeRandomLengthString(32));
  }
  const int items = fdp.ConsumeIntegralInRange<int>(0, 12);
  for (int i = 0; i < items && fdp.remaining_bytes() > 0; ++i) {
    switch (fdp.ConsumeIntegralInRange<int>(0, 5)) {
      case 0: {  // raw bytes: damage, a torn write, or a fake magic
        std::string raw = fdp.ConsumeRandomLengthString(48);
        if (fdp.ConsumeBool()) {
          std::string magic;
          record::PutU32(magic, record::kRecordMagic);
          raw.insert(0, magic);
        }
        seg.append(raw);
        break;
      }
      case 1: {  // a record of any type with an arbitrary payload
        const std::uint8_t type = fdp.ConsumeIntegral<std::uint8_t>();
        const std::string payload = fdp.ConsumeRandomLengthString(96);
        CheckDecoders(payload);
        seg.append(MakeRecord(type, payload, salt));
        break;
      }
      default: {  // a well-formed payload, possibly cut or flipped
        const std::uint8_t type = static_cast<std::uint8_t>(fdp.ConsumeIntegralInRange<int>(1, 4));
        std::string payload = MakePayload(type, fdp);
        if (fdp.ConsumeProbability<float>() < 0.1f && !payload.empty()) {
          payload[fdp.ConsumeIntegralInRange<std::size_t>(0, payload.size() - 1)] ^=
              fdp.ConsumeIntegral<char>();
        }
        CheckDecoders(payload);
        std::string rec = MakeRecord(type, payload, salt);
        if (fdp.ConsumeProbability<float>() < 0.05f) {
          rec.resize(fdp.ConsumeIntegralInRange<std::size_t>(0, rec.size()));  // torn
        }
        seg.append(rec);
        break;
      }
    }
  }
  return seg;
}

std::vector<spool::MessageMeta> Recover(MemFs& fs, bool* opened) {
  spool::Options options;
  options.dir = kDir;
  options.fs = &fs;
  auto opened_spool = spool::Spool::Open(options);
  *opened = opened_spool.ok();
  if (!opened_spool) return {};
  spool::Spool& s = **opened_spool;
  std::vector<spool::MessageMeta> recovered = s.TakeRecovered();
  Check(s.recovery().messages == recovered.size());
  for (std::size_t i = 0; i < recovered.size(); ++i) {
    const spool::MessageMeta& m = recovered[i];
    if (i > 0) Check(recovered[i - 1].mid < m.mid);
    Check(std::any_of(m.recipients.begin(), m.recipients.end(), [](const spool::Recipient& r) {
      return r.state == spool::RecipientState::kPending;
    }));
    std::string body;
    Check(static_cast<bool>(s.ReadBody(m.mid, body)));
    Check(body.size() == m.body_size);
    auto meta = s.GetMeta(m.mid);
    Check(meta.ok() && *meta == m);
  }
  return recovered;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  MemFs fs;
  fs.AddDir(kDir);
  if (fdp.ConsumeProbability<float>() < 0.1f) {
    fs.Put(std::string(kDir) + "/ids", fdp.ConsumeRandomLengthString(64));
  }
  const int segments = fdp.ConsumeIntegralInRange<int>(1, 3);
  for (int i = 1; i <= segments; ++i) {
    fs.Put(base::JoinPath(kDir, spool::SegmentFileName(i)), MakeSegment(i, fdp));
  }

  bool opened = false;
  const std::vector<spool::MessageMeta> first = Recover(fs, &opened);
  if (!opened) return 0;
  bool reopened = false;
  const std::vector<spool::MessageMeta> second = Recover(fs, &reopened);
  Check(reopened);
  Check(first == second);
  return 0;
}
