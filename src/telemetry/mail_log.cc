// mail_log.cc — MailLog's queue, writer thread, rotation and line format (see mail_log.h).
#include "telemetry/mail_log.h"

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <limits>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "telemetry/log_quote.h"

namespace tidegate::telemetry {
namespace {

using base::SystemTime;

// English names whatever the locale: log parsers expect exactly these.
constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// What a queued line costs besides its text, so that a flood of empty lines is bounded too.
constexpr std::uint64_t kEntryOverhead = 64;
constexpr std::string_view kCurrentSuffix = ".current";
constexpr std::string_view kRotatedSuffix = ".s";
constexpr std::size_t kCompactStampSize = 15;  // "20240216T211922"
// After a failed rename, rotation is retried no sooner than this, so that a folder gone read-only
// costs one failed rename a minute rather than one per line.
constexpr auto kRotationRetry = std::chrono::minutes(1);
// fdatasync at most this often: the mail log is for forensics, not for durability of mail.
constexpr auto kSyncInterval = std::chrono::seconds(1);
// The writer wakes this often when idle, to rotate a quiet log on time and sync written lines.
constexpr auto kIdleWake = std::chrono::seconds(1);
// After a pass that wrote lines, the writer lets new lines gather this long before the next pass
// (a Flush() or stop cuts it short). Under load the lines come in a steady trickle from the event
// loops, and a pass per trickle cost a thread wake-up (two context switches) per few lines: about
// a tenth of the gateway's CPU at 1,400 messages/s. The log is not the durability path.
constexpr auto kCoalesce = std::chrono::milliseconds(10);

std::tm LocalTime(SystemTime t) {
  // floor, not to_time_t's truncation, so that a stamp never shows a later second than the event.
  const std::time_t tt = static_cast<std::time_t>(
      std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count());
  std::tm tm{};
  localtime_r(&tt, &tm);
  return tm;
}

std::string FormatAsctime(const std::tm& tm) {
  return fmt::format("{} {} {:>2} {:02}:{:02}:{:02} {}", kDays[tm.tm_wday % 7],
                     kMonths[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     tm.tm_year + 1900);
}

// "20240216T211922": the local rotation time in a rotated file's name.
std::string CompactStamp(SystemTime t) {
  const std::tm tm = LocalTime(t);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// Reads back the stamp at the start of a line (local time), to learn an existing file's age.
std::optional<SystemTime> ParseAsctime(std::string_view line) {
  if (line.size() < 24) return std::nullopt;
  const std::string text(line.substr(0, 24));
  char wday[4] = {};
  char mon[4] = {};
  int mday = 0, hour = 0, min = 0, sec = 0, year = 0;
  if (std::sscanf(text.c_str(), "%3s %3s %d %d:%d:%d %d", wday, mon, &mday, &hour, &min, &sec,
                  &year) != 7) {
    return std::nullopt;
  }
  const auto month = std::find(kMonths.begin(), kMonths.end(), std::string_view(mon));
  if (month == kMonths.end()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = static_cast<int>(month - kMonths.begin());
  tm.tm_mday = mday;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  tm.tm_isdst = -1;
  const std::time_t tt = std::mktime(&tm);
  if (tt == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(tt);
}

void AppendHex(std::string& out, unsigned char c) { out += fmt::format("\\x{:02x}", c); }

// A rotated file's name, split into what orders it: rotation stamp, then collision suffix.
struct RotatedName {
  std::string name;
  std::string stamp;
  std::uint64_t suffix = 0;
};

std::optional<RotatedName> ParseRotatedName(const std::string& name, const std::string& prefix) {
  const std::string head = prefix + ".@";
  if (name.size() < head.size() + kCompactStampSize + kRotatedSuffix.size() ||
      name.compare(0, head.size(), head) != 0 || !name.ends_with(kRotatedSuffix)) {
    return std::nullopt;
  }
  RotatedName r{name, name.substr(head.size(), kCompactStampSize), 0};
  std::string_view rest(name);
  rest = rest.substr(head.size() + kCompactStampSize);
  rest.remove_suffix(kRotatedSuffix.size());
  if (!rest.empty()) {
    if (rest.size() < 2 || rest.size() > 10 || rest[0] != '_') return std::nullopt;
    for (char c : rest.substr(1)) {
      if (c < '0' || c > '9') return std::nullopt;
      r.suffix = r.suffix * 10 + static_cast<std::uint64_t>(c - '0');
    }
  }
  return r;
}

}  // namespace

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "Debug";
    case Level::kInfo:
      return "Info";
    case Level::kWarning:
      return "Warning";
    case Level::kCritical:
      return "Critical";
  }
  assert(false && "unknown Level");
  return "Info";
}

std::string AsctimeStamp(base::SystemTime t) { return FormatAsctime(LocalTime(t)); }

std::string Sanitize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '\r') {
        out += "\\r";
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\0') {
        out += "\\0";
      } else if (c < 0x20 || c == 0x7F) {
        AppendHex(out, c);
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    const std::size_t len = Utf8Length(text, i);
    if (len == 0) {
      AppendHex(out, c);  // resynchronise on the next byte
      ++i;
    } else if (len == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
      AppendHex(out, c);  // a C1 control: well-formed, but a terminal may act on it
      AppendHex(out, static_cast<unsigned char>(text[i + 1]));
      i += 2;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// MailLog::Impl: the shared queue (guarded by mu_) and the writer thread's state (touched only by
// the writer thread, or by Start() before that thread exists).
class MailLog::Impl {
 public:
  explicit Impl(MailLogOptions options);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  base::Status Start();
  void Write(Level level, std::string text);
  void Flush();
  const std::string& path() const { return opt_.path; }
  MailLogStats stats() const { return {lines_written_.load(), lines_dropped_.load()}; }

 private:
  struct Entry {
    SystemTime time;
    Level level;
    std::string text;
  };

  void Run();
  void Pass(std::vector<Entry>& batch);
  void AppendLine(std::string& buf, SystemTime t, Level level, std::string_view text);
  bool OpenCurrent(SystemTime now);
  bool WriteHeader(SystemTime now);
  bool EndsWithNewline();
  bool WriteOut(std::string& buf, std::uint64_t entries);
  void Drop(std::uint64_t n);
  bool HasLines() const { return file_ && file_->Size() > header_end_; }
  // False for a while after a rename failed (see kRotationRetry).
  bool RotationAllowed(SystemTime t) const { return t >= next_rotation_attempt_; }
  void Rotate(SystemTime now);
  void Prune();
  void MaybeSync(bool force);

  const MailLogOptions opt_;
  const std::string dir_;
  const std::string prefix_;  // "mail" for ".../mail.current"

  // Shared between callers and the writer.
  std::mutex mu_;
  std::condition_variable wake_;  // the writer waits here for lines, Flush() or stop
  std::condition_variable done_;  // Flush() waits here for a finished writer pass
  std::vector<Entry> queue_;
  std::uint64_t queued_bytes_ = 0;
  std::uint64_t queue_dropped_ = 0;  // refused by Write() since the writer last looked
  std::uint64_t pass_requested_ = 0;
  std::uint64_t pass_done_ = 0;
  bool stop_ = false;
  bool writer_waiting_ = false;  // the writer sleeps for lines: the first new line must wake it
  std::atomic<std::uint64_t> lines_written_{0};
  std::atomic<std::uint64_t> lines_dropped_{0};

  // Writer thread only.
  std::unique_ptr<base::AppendFile> file_;
  std::optional<SystemTime> file_start_;  // when the current file began (for time rotation)
  std::uint64_t header_end_ = 0;          // file size once its header lines were written
  SystemTime next_rotation_attempt_{};
  std::uint64_t disk_dropped_ = 0;  // lost to write failures, not yet reported
  std::uint64_t queue_lost_ = 0;    // lost to a full queue, not yet reported
  std::uint64_t disk_in_buf_ = 0;   // the part of disk_dropped_ reported in the pending buffer
  std::uint64_t queue_in_buf_ = 0;  // the part of queue_lost_ reported in the pending buffer
  std::string disk_error_;
  bool unsynced_ = false;
  std::chrono::steady_clock::time_point last_sync_{};
  std::int64_t stamp_second_ = std::numeric_limits<std::int64_t>::min();
  std::string stamp_;  // AsctimeStamp of stamp_second_: one localtime_r per second, not per line

  std::thread thread_;
};

namespace {

std::string PrefixOf(const std::string& path) {
  const auto slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.size() > kCurrentSuffix.size() && base.ends_with(kCurrentSuffix)) {
    base.resize(base.size() - kCurrentSuffix.size());
  }
  return base;
}

}  // namespace

MailLog::Impl::Impl(MailLogOptions options)
    : opt_(std::move(options)), dir_(base::DirName(opt_.path)), prefix_(PrefixOf(opt_.path)) {}

MailLog::Impl::~Impl() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

base::Status MailLog::Impl::Start() {
  // A path that cannot be opened is a configuration error. A file that exists but cannot be
  // written now (a full disk) is not: the writer reopens it on its next pass with lines and
  // reports the lost lines once a write succeeds — a full disk must not keep the gateway down.
  const SystemTime now = opt_.clock->Now();
  const bool opened = OpenCurrent(now);
  if (!opened && !opt_.fs->Exists(opt_.path)) {
    return base::MakeError("mail log " + opt_.path + ": " + disk_error_);
  }
  if (opened && header_end_ == 0) {
    // A file continued from an earlier run: this run's version goes on record too.
    std::string buf;
    AppendLine(buf, now, Level::kInfo, "Version: " + opt_.version);
    const iovec part{buf.data(), buf.size()};
    if (base::Status s = file_->Append({&part, 1}); !s) {
      disk_error_ = s.error().message;
      file_.reset();
    }
    unsynced_ = true;
  }
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {  // no threads left: report, never throw
    return base::MakeError("mail log " + opt_.path + ": cannot start the writer: " + e.what());
  }
  return base::Status::Ok();
}

void MailLog::Impl::Write(Level level, std::string text) {
  if (level < opt_.min_level) return;
  const std::uint64_t cost = text.size() + kEntryOverhead;
  std::unique_lock lock(mu_);
  if (queued_bytes_ + cost > opt_.max_queue_bytes) {
    // The disk cannot keep up: losing a log line is better than stalling an event loop or
    // growing without bound. The writer reports the count.
    ++queue_dropped_;
    lock.unlock();
    ++lines_dropped_;
    return;
  }
  const bool was_empty = queue_.empty();
  // Stamped under the lock, so that stamps never go backwards in file order.
  queue_.push_back(Entry{opt_.clock->Now(), level, std::move(text)});
  queued_bytes_ += cost;
  const bool wake = was_empty && writer_waiting_;
  lock.unlock();
  // Only the first line of a batch wakes the writer, and only when it waits for lines (not while it
  // writes or lets a batch gather); later ones ride along.
  if (wake) wake_.notify_one();
}

void MailLog::Impl::Flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t wanted = ++pass_requested_;
  wake_.notify_one();
  // A pass that starts after this request takes every line queued before it.
  done_.wait(lock, [&] {
    const bool done = pass_done_ >= wanted;
    if (!done && opt_.on_flush_wait) opt_.on_flush_wait();
    return done;
  });
}

void MailLog::Impl::Run() {
  std::vector<Entry> batch;
  std::unique_lock lock(mu_);
  for (;;) {
    writer_waiting_ = true;
    wake_.wait_for(lock, kIdleWake,
                   [&] { return !queue_.empty() || pass_requested_ > pass_done_ || stop_; });
    writer_waiting_ = false;
    batch.swap(queue_);  // queue_ gets the previous batch's storage back, already cleared
    queued_bytes_ = 0;
    queue_lost_ += std::exchange(queue_dropped_, 0);
    const std::uint64_t request = pass_requested_;
    const bool stopping = stop_;
    lock.unlock();

    Pass(batch);
    const bool wrote = !batch.empty();
    batch.clear();

    lock.lock();
    pass_done_ = request;
    done_.notify_all();
    if (stopping && queue_.empty()) break;
    if (wrote) {
      wake_.wait_for(lock, kCoalesce, [&] { return pass_requested_ > pass_done_ || stop_; });
    }
  }
  lock.unlock();
  MaybeSync(true);
}

void MailLog::Impl::AppendLine(std::string& buf, SystemTime t, Level level, std::string_view text) {
  const std::int64_t second =
      std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  if (second != stamp_second_) {
    stamp_ = AsctimeStamp(t);
    stamp_second_ = second;
  }
  buf += stamp_;
  buf += ' ';
  const std::size_t message = buf.size();
  buf += LevelName(level);
  buf += ": ";
  buf += Sanitize(text);
  if (opt_.mirror) opt_.mirror(t, level, std::string_view(buf).substr(message));
  buf += '\n';
}

void MailLog::Impl::Pass(std::vector<Entry>& batch) {
  const SystemTime now = opt_.clock->Now();
  if (batch.empty() && disk_dropped_ == 0 && queue_lost_ == 0) {
    // An idle wake-up or a Flush(): a quiet log still rotates on time.
    if (HasLines() && RotationAllowed(now) && now - *file_start_ >= opt_.rotate_interval) {
      Rotate(now);
    }
    MaybeSync(false);
    return;
  }
  // After a write failure the file was closed; every pass with lines tries again.
  if (!file_ && !OpenCurrent(now)) return Drop(batch.size());

  // Report lines carry the time of the first line after them, so stamps stay in order.
  const SystemTime report_time = batch.empty() ? now : batch.front().time;
  std::string buf;
  std::uint64_t in_buf = 0;  // event lines in buf (report lines are not counted)
  if (disk_dropped_ > 0) {
    AppendLine(buf, report_time, Level::kCritical,
               fmt::format("mail log: {} lines were lost because writing failed: {}", disk_dropped_,
                           disk_error_));
    disk_in_buf_ = disk_dropped_;
  }
  if (queue_lost_ > 0) {
    AppendLine(buf, report_time, Level::kCritical,
               fmt::format("mail log: {} lines were lost because more than {} bytes were "
                           "waiting to be written",
                           queue_lost_, opt_.max_queue_bytes));
    queue_in_buf_ = queue_lost_;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const Entry& entry = batch[i];
    const std::size_t mark = buf.size();
    AppendLine(buf, entry.time, entry.level, entry.text);
    const std::uint64_t before = file_->Size() + mark;
    const bool too_big = before + (buf.size() - mark) > opt_.max_size;
    const bool too_old = entry.time - *file_start_ >= opt_.rotate_interval;
    if ((too_big || too_old) && before > header_end_ && RotationAllowed(entry.time)) {
      // This line starts the next file. Rotating at its time (not the writer's "now") keeps
      // the stamps of End Logfile / Begin Logfile in order with the lines around them.
      std::string line = buf.substr(mark);
      buf.resize(mark);
      if (!WriteOut(buf, in_buf)) return Drop(batch.size() - i);
      Rotate(entry.time);
      if (!file_) return Drop(batch.size() - i);
      buf = std::move(line);
      in_buf = 0;
    }
    ++in_buf;
  }
  WriteOut(buf, in_buf);
  MaybeSync(false);
}

bool MailLog::Impl::OpenCurrent(SystemTime now) {
  if (base::Status s = opt_.fs->CreateDirs(dir_); !s) {
    disk_error_ = s.error().message;
    return false;
  }
  auto file = opt_.fs->OpenAppend(opt_.path);
  if (!file) {
    disk_error_ = file.error().message;
    return false;
  }
  file_ = std::move(*file);
  if (file_->Size() == 0) return WriteHeader(now);

  // Continuing a file from an earlier run (or after a write failure): its age counts from its
  // first line, so restarts do not postpone time-based rotation.
  if (!file_start_) {
    std::optional<SystemTime> start;
    if (auto reader = opt_.fs->OpenRead(opt_.path)) {
      std::string first;
      if ((*reader)->ReadAt(0, 24, first)) start = ParseAsctime(first);
    }
    file_start_ = start.value_or(now);
  }
  header_end_ = 0;
  if (!EndsWithNewline()) {
    // A crash or a failed write left half a line: finish it so that ours start on a new line.
    char nl = '\n';
    const iovec part{&nl, 1};
    if (base::Status s = file_->Append({&part, 1}); !s) {
      disk_error_ = s.error().message;
      file_.reset();
      return false;
    }
  }
  return true;
}

bool MailLog::Impl::WriteHeader(SystemTime now) {
  std::string buf;
  AppendLine(buf, now, Level::kInfo, "Begin Logfile");
  AppendLine(buf, now, Level::kInfo, "Version: " + opt_.version);
  AppendLine(buf, now, Level::kInfo,
             fmt::format("Time offset from UTC: {} seconds", LocalTime(now).tm_gmtoff));
  const iovec part{buf.data(), buf.size()};
  if (base::Status s = file_->Append({&part, 1}); !s) {
    disk_error_ = s.error().message;
    file_.reset();
    return false;
  }
  unsynced_ = true;
  file_start_ = now;
  header_end_ = file_->Size();
  return true;
}

bool MailLog::Impl::EndsWithNewline() {
  const std::uint64_t size = file_->Size();
  if (size == 0) return true;
  auto reader = opt_.fs->OpenRead(opt_.path);
  std::string last;
  if (!reader || !(*reader)->ReadAt(size - 1, 1, last)) return false;  // unsure: a blank line
  return last == "\n";
}

bool MailLog::Impl::WriteOut(std::string& buf, std::uint64_t entries) {
  if (buf.empty()) return true;
  const iovec part{buf.data(), buf.size()};
  base::Status s = file_->Append({&part, 1});
  buf.clear();
  if (!s) {
    // Reopened on the next pass with lines; the count is reported once a write succeeds.
    disk_error_ = s.error().message;
    disk_in_buf_ = queue_in_buf_ = 0;
    file_.reset();
    Drop(entries);
    return false;
  }
  disk_dropped_ -= std::exchange(disk_in_buf_, 0);
  queue_lost_ -= std::exchange(queue_in_buf_, 0);
  lines_written_ += entries;
  unsynced_ = true;
  return true;
}

void MailLog::Impl::Drop(std::uint64_t n) {
  disk_dropped_ += n;
  lines_dropped_ += n;
}

void MailLog::Impl::Rotate(SystemTime now) {
  assert(file_);
  std::string end;
  AppendLine(end, now, Level::kInfo, "End Logfile");
  const iovec part{end.data(), end.size()};
  if (base::Status s = file_->Append({&part, 1}); !s) disk_error_ = s.error().message;
  // A rotated file is finished: make it durable once. A failure here loses nothing yet, and the
  // next write to the new file will report a failing disk.
  (void)file_->Sync();
  file_.reset();
  unsynced_ = false;

  // Several rotations within one second get _1, _2, …: one past the highest suffix in use, not
  // the first free one, since pruning frees the oldest names and reusing one would make a new
  // file sort as the oldest.
  const std::string stamp = CompactStamp(now);
  std::uint64_t n = 0;
  if (auto names = opt_.fs->List(dir_)) {
    for (const std::string& name : *names) {
      auto r = ParseRotatedName(name, prefix_);
      if (r && r->stamp == stamp) n = std::max(n, r->suffix + 1);
    }
  }
  std::string target;
  for (;; ++n) {  // in case List() failed
    const std::string suffix = n == 0 ? "" : "_" + std::to_string(n);
    target = base::JoinPath(dir_, prefix_ + ".@" + stamp + suffix + std::string(kRotatedSuffix));
    if (!opt_.fs->Exists(target)) break;
  }
  if (base::Status moved = opt_.fs->Rename(opt_.path, target); !moved) {
    // Keep logging into the same file; say why it keeps growing.
    next_rotation_attempt_ = now + kRotationRetry;
    if (!OpenCurrent(now)) return;
    std::string line;
    AppendLine(line, now, Level::kCritical,
               "mail log: cannot rotate " + opt_.path + ": " + moved.error().message);
    const iovec critical{line.data(), line.size()};
    if (base::Status s = file_->Append({&critical, 1}); !s) {
      disk_error_ = s.error().message;
      file_.reset();
    }
    return;
  }
  file_start_.reset();
  if (!OpenCurrent(now)) return;
  Prune();
}

void MailLog::Impl::Prune() {
  auto names = opt_.fs->List(dir_);
  if (!names) return;  // retried after the next rotation
  std::vector<RotatedName> rotated;
  for (const std::string& name : *names) {
    if (auto r = ParseRotatedName(name, prefix_)) rotated.push_back(std::move(*r));
  }
  if (rotated.size() <= opt_.keep) return;
  // Stamps are fixed-width digits, so string order is time order; suffixes are numbers.
  std::sort(rotated.begin(), rotated.end(), [](const RotatedName& a, const RotatedName& b) {
    return std::tie(a.stamp, a.suffix) < std::tie(b.stamp, b.suffix);
  });
  const std::size_t excess = rotated.size() - opt_.keep;
  for (std::size_t i = 0; i < excess; ++i) {
    (void)opt_.fs->Remove(base::JoinPath(dir_, rotated[i].name));
  }
}

void MailLog::Impl::MaybeSync(bool force) {
  if (!file_ || !unsynced_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_sync_ < kSyncInterval) return;
  // A failed sync loses nothing that a later write will not also report; the lines are written.
  (void)file_->Sync();
  last_sync_ = now;
  unsynced_ = false;
}

// ---------------------------------------------------------------------------------------------

base::Result<std::unique_ptr<MailLog>> MailLog::Open(MailLogOptions options) {
  assert(options.clock != nullptr && options.fs != nullptr);
  if (options.path.empty() || options.path.back() == '/') {
    return base::MakeError("mail log: the path must name a file");
  }
  if (options.max_size == 0) return base::MakeError("mail log: max_size must be positive");
  if (options.rotate_interval <= std::chrono::milliseconds::zero()) {
    return base::MakeError("mail log: rotate_interval must be positive");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  if (base::Status s = impl->Start(); !s) return s.error();
  return std::unique_ptr<MailLog>(new MailLog(std::move(impl)));
}

MailLog::MailLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MailLog::~MailLog() = default;

void MailLog::Write(Level level, std::string text) { impl_->Write(level, std::move(text)); }
void MailLog::Flush() { impl_->Flush(); }
std::string MailLog::path() const { return impl_->path(); }
MailLogStats MailLog::stats() const { return impl_->stats(); }

}  // namespace tidegate::telemetry
