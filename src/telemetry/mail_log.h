// mail_log.h — MailLog: the ESA-style mail log (CONTRACT §5), written asynchronously.
//
// Each line is `<Www Mmm dd HH:MM:SS YYYY> <Level>: <text>` (asctime layout, local time), e.g.
// `Fri Feb 16 21:19:22 2024 Info: Start MID 14501403 ICID 88`; existing ESA log parsers read it.
//
// Ownership: the server wiring owns the one MailLog (a unique_ptr from Open()); everything else
// holds a plain pointer that must not outlive it. The MailLog owns one writer thread.
//
// Threads: Write() and its shorthands, Flush(), path() and stats() may be called from any thread,
// concurrently. Write() never touches the disk: it takes the event's time from the injected
// Clock, appends to an in-memory queue under a short mutex and returns, so SMTP event loops never
// wait for I/O. The writer thread drains the queue, sanitizes and formats the lines, writes each
// batch with one write() (no fsync per line; at most one fdatasync a second), and rotates and
// prunes files. Nothing may call into a MailLog while its destructor runs.
//
// Failure: logging never stops mail. If the disk fails, or the queue grows beyond
// max_queue_bytes because the disk is slow, lines are dropped and counted, and once writing works
// again one `Critical:` line says how many were lost and why.
//
// Rotation (writer thread): when the current file (say mail.current) would grow beyond max_size,
// or is older than rotate_interval, it gets a last line `Info: End Logfile` and is renamed to
// `mail.@YYYYMMDDTHHMMSS.s` (local time of the rotation, which is the stamp of the first line of
// the new file, so stamps never go backwards across files; `mail.@…_1.s`, `_2`, … when several
// rotations fall in one second); a new file starts with `Info: Begin Logfile`,
// `Info: Version: …` and `Info: Time offset from UTC: N seconds`. A file holding only its header
// is not rotated on time. At most `keep` rotated files are kept (oldest, by name, go first). An
// existing file is continued after a restart; its age counts from its first line's stamp.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "base/clock.h"
#include "base/filesystem.h"
#include "base/result.h"

namespace tidegate::telemetry {

enum class Level { kDebug, kInfo, kWarning, kCritical };

// "Debug", "Info", "Warning", "Critical".
std::string_view LevelName(Level level);

struct MailLogOptions {
  // The current file, e.g. /var/lib/tidegate/mail_logs/mail.current. Rotated files go beside it,
  // named after it without its ".current" suffix ("mail.@20240216T211922.s").
  std::string path;
  std::uint64_t max_size = std::uint64_t{100} << 20;
  std::chrono::milliseconds rotate_interval = std::chrono::hours(24);
  std::uint32_t keep = 20;  // rotated files kept; 0 keeps none
  // Lines below this level are discarded at once by Write().
  Level min_level = Level::kInfo;
  // Bound on queued text (plus a small per-line overhead) not yet taken by the writer: beyond it
  // Write() drops and counts instead of growing. The batch being written is held besides, so
  // memory stays under about twice this.
  std::uint64_t max_queue_bytes = std::uint64_t{64} << 20;
  // Shown in the `Info: Version: …` line: in each new file's header, and after a restart that
  // continues an existing file (e.g. "0.9.0 Build: a928310 SN: gw.example.com").
  std::string version = "tidegate";
  // Called on the writer thread (and in Open()) with every line as it goes into the file, header
  // lines included: its time, level and the text after the timestamp ("Info: …", sanitized).
  // The syslog copy (syslog_sender.h) hangs here. Must not block and must not call into the log.
  std::function<void(base::SystemTime, Level, std::string_view)> mirror;
  const base::Clock* clock = &base::SystemClock::Instance();
  base::Filesystem* fs = &base::PosixFilesystem();
  // Tests: called by Flush(), under the log's lock, each time it finds its lines not yet written
  // and waits. Must not call into the log.
  std::function<void()> on_flush_wait;
};

struct MailLogStats {
  std::uint64_t lines_written = 0;  // event lines written (headers and reports not counted)
  std::uint64_t lines_dropped = 0;  // queue full or write failed
};

class MailLog {
 public:
  // Creates the folder, opens (or continues) the current file and starts the writer thread.
  // Fails when the folder or file cannot be created or opened, so a misconfigured gateway stops
  // at startup rather than running without a log.
  static base::Result<std::unique_ptr<MailLog>> Open(MailLogOptions options);

  // Writes everything queued so far, then stops the writer thread.
  ~MailLog();
  MailLog(const MailLog&) = delete;
  MailLog& operator=(const MailLog&) = delete;

  // Queues one line stamped with clock->Now() at this call; never blocks on I/O. Any text is
  // accepted: it is sanitized (see Sanitize) so that it stays exactly one line.
  void Write(Level level, std::string text);
  void Debug(std::string text) { Write(Level::kDebug, std::move(text)); }
  void Info(std::string text) { Write(Level::kInfo, std::move(text)); }
  void Warning(std::string text) { Write(Level::kWarning, std::move(text)); }
  void Critical(std::string text) { Write(Level::kCritical, std::move(text)); }

  template <typename... Args>
  void Infof(fmt::format_string<Args...> f, Args&&... args) {
    Write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Warningf(fmt::format_string<Args...> f, Args&&... args) {
    Write(Level::kWarning, fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Criticalf(fmt::format_string<Args...> f, Args&&... args) {
    Write(Level::kCritical, fmt::format(f, std::forward<Args>(args)...));
  }

  // Blocks until every line queued before this call has been handed to write() (not fsynced), or
  // counted as dropped if the disk failed. Also runs the writer's rotation check, so a test that
  // advanced a FakeClock sees a time-based rotation once Flush() returns.
  void Flush();

  std::string path() const;
  MailLogStats stats() const;

 private:
  class Impl;  // the queue and the writer thread; defined in mail_log.cc
  explicit MailLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "Fri Feb 16 21:19:22 2024": asctime layout in local time, day of month space-padded to 2,
// English names whatever the locale. Thread-safe.
std::string AsctimeStamp(base::SystemTime t);

// Makes untrusted text safe for one log line (also for header values shown in logs: Subject,
// Message-ID). CR, LF and NUL become \r, \n and \0; other C0 controls, DEL and the C1 controls
// U+0080..U+009F (which some terminals obey as escape sequences) become \xNN per byte; bytes that
// are not valid UTF-8 (stray continuations, overlong forms, surrogates, > U+10FFFF, truncated
// sequences) become \xNN; all other valid UTF-8 is kept. Backslashes are kept as they are, so
// header values read the same as in the message. Pure, thread-safe.
std::string Sanitize(std::string_view text);

}  // namespace tidegate::telemetry
