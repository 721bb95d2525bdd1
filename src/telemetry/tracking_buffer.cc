// tracking_buffer.cc — the segment files of TrackingBuffer (see tracking_buffer.h).
#include "telemetry/tracking_buffer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

namespace tidegate::telemetry {
namespace {

constexpr std::size_t kHeader = 16;               // length, crc, seq
constexpr std::uint32_t kMaxPayload = 16u << 20;  // a longer length is damage
constexpr std::string_view kSuffix = ".seg";

void PutU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t GetLe(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::uint32_t Crc(std::uint64_t seq, std::string_view payload) {
  std::string seq_bytes;
  PutU64(seq_bytes, seq);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(seq_bytes.data()), 8);
  crc =
      crc32(crc, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size()));
  return static_cast<std::uint32_t>(crc);
}

std::string Encode(std::uint64_t seq, std::string_view payload) {
  std::string out;
  out.reserve(kHeader + payload.size());
  PutU32(out, static_cast<std::uint32_t>(payload.size()));
  PutU32(out, Crc(seq, payload));
  PutU64(out, seq);
  out.append(payload);
  return out;
}

// One record at `offset` of `data`: its seq, payload and size, or nullopt when it does not check.
struct Parsed {
  std::uint64_t seq;
  std::string_view payload;
  std::size_t size;
};
std::optional<Parsed> ParseAt(std::string_view data, std::size_t offset) {
  if (data.size() - offset < kHeader) return std::nullopt;
  const char* p = data.data() + offset;
  const auto length = static_cast<std::uint32_t>(GetLe(p, 4));
  if (length > kMaxPayload || data.size() - offset - kHeader < length) return std::nullopt;
  const auto crc = static_cast<std::uint32_t>(GetLe(p + 4, 4));
  const std::uint64_t seq = GetLe(p + 8, 8);
  const std::string_view payload(p + kHeader, length);
  if (Crc(seq, payload) != crc) return std::nullopt;
  return Parsed{seq, payload, kHeader + length};
}

base::Result<std::string> ReadFrom(const std::string& path, std::uint64_t offset) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return base::MakeError(path + ": " + std::strerror(errno));
  std::string data;
  char chunk[1 << 16];
  for (auto at = static_cast<off_t>(offset);;) {
    const ssize_t n = ::pread(fd, chunk, sizeof chunk, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string error = std::strerror(errno);
      ::close(fd);
      return base::MakeError(path + ": " + error);
    }
    if (n == 0) break;
    data.append(chunk, static_cast<std::size_t>(n));
    at += n;
  }
  ::close(fd);
  return data;
}

base::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::MakeError(std::strerror(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return base::Status::Ok();
}

}  // namespace

TrackingBuffer::TrackingBuffer(TrackingBufferOptions options) : opt_(std::move(options)) {
  opt_.segment_bytes = std::max<std::uint64_t>(
      1024, std::min(opt_.segment_bytes, std::max<std::uint64_t>(opt_.max_bytes / 4, 1)));
}

TrackingBuffer::~TrackingBuffer() {
  if (fd_ >= 0) ::close(fd_);
}

base::Result<std::unique_ptr<TrackingBuffer>> TrackingBuffer::Open(TrackingBufferOptions options) {
  if (options.dir.empty()) return base::MakeError("tracking buffer: no folder");
  std::unique_ptr<TrackingBuffer> buffer(new TrackingBuffer(std::move(options)));
  if (base::Status s = buffer->Load(); !s) return s.error();
  return buffer;
}

base::Status TrackingBuffer::Load() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(opt_.dir, ec);
  if (ec) return base::MakeError("tracking buffer " + opt_.dir + ": " + ec.message());
  std::vector<std::pair<std::uint64_t, std::string>> found;
  for (const auto& entry : fs::directory_iterator(opt_.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 20 + kSuffix.size() || !name.ends_with(kSuffix)) continue;
    if (!std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    found.emplace_back(std::stoull(name.substr(0, 20)), entry.path().string());
  }
  if (ec) return base::MakeError("tracking buffer " + opt_.dir + ": " + ec.message());
  std::sort(found.begin(), found.end());
  for (std::size_t i = 0; i < found.size(); ++i) {
    const bool last = i + 1 == found.size();
    auto data = ReadFrom(found[i].second, 0);
    if (!data) return data.error();
    Segment seg{
        .first = found[i].first, .last = found[i].first - 1, .size = 0, .path = found[i].second};
    std::size_t offset = 0;
    while (offset < data->size()) {
      auto rec = ParseAt(*data, offset);
      if (!rec || rec->seq != seg.last + 1) break;
      seg.last = rec->seq;
      offset += rec->size;
    }
    seg.size = offset;
    if (offset < data->size()) {
      const std::uint64_t lost = data->size() - offset;
      if (last) {
        // A crash in the middle of a write: cut the torn tail so that appending goes on.
        if (::truncate(seg.path.c_str(), static_cast<off_t>(offset)) != 0) {
          return base::MakeError(seg.path + ": " + std::strerror(errno));
        }
        notes_.push_back(
            fmt::format("tracking buffer {}: {} bytes of an unfinished write cut", seg.path, lost));
      } else {
        notes_.push_back(
            fmt::format("tracking buffer {}: damaged at byte {}, the last {} bytes skipped",
                        seg.path, offset, lost));
      }
    }
    if (!segments_.empty() && seg.first <= segments_.back().last) {
      notes_.push_back("tracking buffer " + seg.path + ": overlaps its predecessor, skipped");
      continue;
    }
    segments_.push_back(seg);
  }
  if (!segments_.empty()) next_seq_ = segments_.back().last + 1;
  if (!segments_.empty()) released_ = segments_.front().first - 1;
  if (segments_.empty()) {
    if (base::Status s = StartSegment(); !s) return s;
  } else {
    fd_ = ::open(segments_.back().path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0) return base::MakeError(segments_.back().path + ": " + std::strerror(errno));
  }
  UpdateGauges();
  return base::Status::Ok();
}

base::Status TrackingBuffer::StartSegment() {
  const std::string path = fmt::format("{}/{:020}{}", opt_.dir, next_seq_, kSuffix);
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return base::MakeError(path + ": " + std::strerror(errno));
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  segments_.push_back(Segment{.first = next_seq_, .last = next_seq_ - 1, .size = 0, .path = path});
  return base::Status::Ok();
}

base::Status TrackingBuffer::Append(const std::vector<std::string>& payloads) {
  if (payloads.empty()) return base::Status::Ok();
  if (segments_.back().size >= opt_.segment_bytes ||
      (segments_.back().last < segments_.back().first && segments_.back().first != next_seq_)) {
    if (base::Status s = StartSegment(); !s) return s;
  }
  std::string data;
  std::uint64_t seq = next_seq_;
  for (const std::string& p : payloads) data += Encode(seq++, p);
  Segment& seg = segments_.back();
  if (base::Status s = WriteAll(fd_, data); !s) {
    (void)::ftruncate(fd_, static_cast<off_t>(seg.size));  // keep the file whole records only
    return base::MakeError("tracking buffer " + seg.path + ": " + s.error().message);
  }
  seg.size += data.size();
  seg.last = seq - 1;
  next_seq_ = seq;
  Enforce();
  UpdateGauges();
  return base::Status::Ok();
}

void TrackingBuffer::Enforce() {
  std::uint64_t total = 0;
  for (const Segment& s : segments_) total += s.size;
  std::uint64_t lost = 0, first_lost = 0, last_lost = 0;
  while (total > opt_.max_bytes && segments_.size() > 1) {
    const Segment& s = segments_.front();
    const std::uint64_t from = std::max(s.first, released_ + 1);
    if (s.last >= from) {
      if (lost == 0) first_lost = from;
      lost += s.last - from + 1;
      last_lost = s.last;
    }
    total -= s.size;
    ::unlink(s.path.c_str());
    released_ = std::max(released_, s.last);
    segments_.erase(segments_.begin());
  }
  if (lost > 0) {
    dropped_ += lost;
    if (opt_.on_drop) {
      opt_.on_drop(fmt::format(
          "Message tracking buffer full ({} bytes): {} oldest changes dropped (seq {}-{})",
          opt_.max_bytes, lost, first_lost, last_lost));
    }
  }
}

base::Result<std::vector<TrackingBuffer::Record>> TrackingBuffer::Read(std::uint64_t after,
                                                                       std::size_t max) {
  std::vector<Record> out;
  after = std::max(after, released_);
  for (const Segment& s : segments_) {
    if (out.size() >= max) break;
    if (s.last <= after) continue;
    std::uint64_t offset = 0, expect = s.first;
    if (cursor_first_ == s.first && cursor_seq_ <= after + 1 && cursor_seq_ >= s.first) {
      offset = cursor_offset_;
      expect = cursor_seq_;
    }
    auto data = ReadFrom(s.path, offset);
    if (!data) return data.error();
    std::size_t at = 0;
    const std::size_t end = std::min<std::uint64_t>(data->size(), s.size - offset);
    const std::string_view view(data->data(), end);
    while (at < view.size() && out.size() < max) {
      auto rec = ParseAt(view, at);
      if (!rec || rec->seq != expect) break;  // damage found after Open: the rest is skipped
      if (rec->seq > after) out.push_back(Record{rec->seq, std::string(rec->payload)});
      at += rec->size;
      ++expect;
    }
    cursor_first_ = s.first;
    cursor_offset_ = offset + at;
    cursor_seq_ = expect;
  }
  return out;
}

void TrackingBuffer::Release(std::uint64_t seq) {
  released_ = std::max(released_, seq);
  // Every segment but the one being written goes once all its records are written; the one
  // being written is replaced by a fresh one when it is fully written and not empty.
  while (!segments_.empty() && segments_.front().last <= released_) {
    if (segments_.size() == 1) {
      if (segments_.front().size == 0) break;
      const std::string old = segments_.front().path;
      if (!StartSegment()) break;  // keep appending to the old one
      ::unlink(old.c_str());
      segments_.erase(segments_.begin());
      break;
    }
    ::unlink(segments_.front().path.c_str());
    segments_.erase(segments_.begin());
  }
  UpdateGauges();
}

void TrackingBuffer::SkipTo(std::uint64_t seq) {
  if (seq < next_seq_) return;
  next_seq_ = seq + 1;
  released_ = std::max(released_, seq);
  // Numbers must stay contiguous within a segment: the next record starts a new one.
  if (segments_.back().size > 0 || segments_.back().first != next_seq_) {
    const std::string old = segments_.back().size == 0 ? segments_.back().path : "";
    if (StartSegment() && !old.empty()) {
      ::unlink(old.c_str());
      segments_.erase(segments_.end() - 2);
    }
  }
  Release(released_);
}

void TrackingBuffer::UpdateGauges() {
  std::uint64_t total = 0;
  for (const Segment& s : segments_) total += s.size;
  bytes_ = total;
  records_ = next_seq_ - 1 > released_ ? next_seq_ - 1 - released_ : 0;
}

}  // namespace tidegate::telemetry
