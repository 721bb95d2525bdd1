// tracking.cc — Tracking's queue, writer thread, batches and recovery (see tracking.h); the SQL
// is in tracking_db.cc.
#include "telemetry/tracking.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <atomic>
#include <cassert>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "base/filesystem.h"
#include "telemetry/mail_log.h"
#include "telemetry/tracking_db.h"
#include "telemetry/tracking_queue.h"

namespace tidegate::telemetry {
namespace {

using base::SystemTime;
using tracking_db::Change;
using tracking_db::IsCorruption;
using tracking_db::ReadDb;
using tracking_db::WriteDb;
using SteadyTime = std::chrono::steady_clock::time_point;

// The writer prunes this often (and once at start).
constexpr auto kPruneEvery = std::chrono::hours(1);

// "20240216T211924", local time, for the name of a file moved aside.
std::string CompactStamp(SystemTime t) {
  const std::time_t tt = static_cast<std::time_t>(
      std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count());
  std::tm tm{};
  localtime_r(&tt, &tm);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Tracking::Impl: the queue (ChangeQueue, its own lock), the writer thread's connection (writer_,
// touched only by that thread once it runs), the query connection (guarded by read_mu_) and what
// is reported (guarded by info_mu_). Lock order: read_mu_ before info_mu_.
class Tracking::Impl {
 public:
  explicit Impl(TrackingOptions options)
      : opt_(std::move(options)),
        queue_(Tracking::kMaxQueued, Tracking::kBatchSize, opt_.flush_interval, opt_.on_gathering) {
  }
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  base::Status Start();
  void Enqueue(Change change);
  void Flush();
  base::Status Prune();
  base::Result<std::vector<MessageSummary>> Find(const TrackingQuery& q);
  base::Result<std::vector<TrackingEvent>> Events(std::uint64_t mid);

  std::uint64_t dropped() const { return dropped_.load(); }
  std::string last_error() const {
    std::lock_guard lock(info_mu_);
    return last_error_;
  }
  std::vector<std::string> notes() const {
    std::lock_guard lock(info_mu_);
    return notes_;
  }
  const std::string& path() const { return opt_.path; }
  const base::Clock& clock() const { return *opt_.clock; }

 private:
  void Run();
  // Opens (creating) the store: the write connection with its schema, then the query connection.
  // On failure returns the SQLite code and sets *error.
  int OpenStore(std::string* error);
  // Closes both connections and renames the file (and its WAL) aside.
  void MoveAside(const std::string& why);
  void CloseAll();
  // Commits a batch, recovering from corruption once; counts what is lost.
  void Commit(const std::vector<Change>& batch);
  // One transaction; a change failing on its own is skipped and counted in *skipped.
  int ApplyBatch(const std::vector<Change>& batch, std::uint64_t* skipped);
  base::Status RunPrune();
  void SetError(std::string error);
  void AddNote(std::string note);

  const TrackingOptions opt_;

  ChangeQueue queue_;
  std::atomic<std::uint64_t> dropped_{0};

  std::unique_ptr<WriteDb> writer_;  // null after a failed recovery; reopened per batch

  mutable std::mutex read_mu_;
  std::unique_ptr<ReadDb> reader_;

  mutable std::mutex info_mu_;
  std::string last_error_;
  std::vector<std::string> notes_;

  std::thread thread_;
};

Tracking::Impl::~Impl() {
  queue_.Stop();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(read_mu_);
  CloseAll();
}

base::Status Tracking::Impl::Start() {
  const std::string dir = base::DirName(opt_.path);
  if (!dir.empty()) {
    if (base::Status s = base::PosixFilesystem().CreateDirs(dir); !s) {
      return base::MakeError("tracking " + opt_.path + ": " + s.error().message);
    }
  }
  std::string error;
  int rc = OpenStore(&error);
  if (IsCorruption(rc)) {
    // Never lose the gateway over tracking: keep the damaged file for forensics, start fresh.
    MoveAside(error);
    rc = OpenStore(&error);
  }
  if (rc != SQLITE_OK) {
    CloseAll();
    return base::MakeError("tracking " + opt_.path + ": " + error);
  }
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {  // no threads left: report, never throw
    CloseAll();
    return base::MakeError("tracking " + opt_.path + ": cannot start the writer: " + e.what());
  }
  return base::Status::Ok();
}

int Tracking::Impl::OpenStore(std::string* error) {
  int rc = WriteDb::Open(opt_.path, &writer_, error);
  if (rc != SQLITE_OK) return rc;
  std::lock_guard lock(read_mu_);
  rc = ReadDb::Open(opt_.path, &reader_, error);
  if (rc != SQLITE_OK) CloseAll();  // both or neither, so that the next batch retries both
  return rc;
}

void Tracking::Impl::CloseAll() {
  reader_.reset();
  writer_.reset();
}

void Tracking::Impl::MoveAside(const std::string& why) {
  {
    std::lock_guard lock(read_mu_);
    CloseAll();
  }
  base::Filesystem& fs = base::PosixFilesystem();
  const std::string stamp = CompactStamp(opt_.clock->Now());
  std::string target;
  for (int n = 0;; ++n) {
    target = opt_.path + ".corrupt-" + stamp + (n == 0 ? "" : "_" + std::to_string(n));
    if (!fs.Exists(target)) break;
  }
  std::string note = "tracking: " + opt_.path + " is damaged (" + why + ")";
  if (base::Status s = fs.Rename(opt_.path, target); !s) {
    // Without the rename the fresh store cannot start; OpenStore() will report why.
    note += "; cannot move it aside: " + s.error().message;
  } else {
    note += "; moved aside to " + target + ", starting an empty store";
    // The WAL belongs to the damaged file: keep it beside it under the name SQLite would look
    // for. The shared-memory index is rebuilt from the WAL, so it goes.
    if (fs.Exists(opt_.path + "-wal")) (void)fs.Rename(opt_.path + "-wal", target + "-wal");
    if (fs.Exists(opt_.path + "-shm")) (void)fs.Remove(opt_.path + "-shm");
  }
  AddNote(std::move(note));
}

void Tracking::Impl::AddNote(std::string note) {
  std::lock_guard lock(info_mu_);
  notes_.push_back(std::move(note));
}

void Tracking::Impl::SetError(std::string error) {
  std::lock_guard lock(info_mu_);
  last_error_ = std::move(error);
}

void Tracking::Impl::Enqueue(Change change) {
  if (!queue_.Push(std::move(change))) ++dropped_;
}

void Tracking::Impl::Flush() { queue_.Flush(); }

base::Status Tracking::Impl::Prune() { return queue_.Prune(); }

void Tracking::Impl::Run() {
  ChangeQueue::Pass pass;
  SteadyTime next_prune = std::chrono::steady_clock::now();  // once at start
  for (;;) {
    // Idle until something is queued or asked for, or the hourly prune is due.
    queue_.Next(next_prune, &pass);
    if (!pass.batch.empty()) Commit(pass.batch);
    std::optional<base::Status> pruned;
    if (pass.prune_requested || std::chrono::steady_clock::now() >= next_prune) {
      pruned = RunPrune();
      next_prune = std::chrono::steady_clock::now() + kPruneEvery;
    }
    if (queue_.Done(pass, pruned)) break;
  }
}

void Tracking::Impl::Commit(const std::vector<Change>& batch) {
  std::string error;
  int rc = SQLITE_OK;
  if (!writer_) {
    // An earlier recovery failed (say the folder went read-only): try again with each batch.
    rc = OpenStore(&error);
  }
  std::uint64_t skipped = 0;
  if (rc == SQLITE_OK) {
    rc = ApplyBatch(batch, &skipped);
    if (rc != SQLITE_OK) error = writer_->ErrorText(rc);
  }
  if (IsCorruption(rc)) {
    MoveAside(error);
    skipped = 0;
    rc = OpenStore(&error);
    if (rc == SQLITE_OK) {
      rc = ApplyBatch(batch, &skipped);
      if (rc != SQLITE_OK) error = writer_->ErrorText(rc);
    }
  }
  if (rc != SQLITE_OK) {
    dropped_ += batch.size();
    SetError(fmt::format("{} changes lost: {}", batch.size(), error));
  } else {
    dropped_ += skipped;
  }
}

int Tracking::Impl::ApplyBatch(const std::vector<Change>& batch, std::uint64_t* skipped) {
  WriteDb& w = *writer_;
  int rc = w.Begin();
  if (rc != SQLITE_OK) return rc;
  for (const Change& change : batch) {
    rc = w.Apply(change);
    if (rc == SQLITE_OK) continue;
    if (tracking_db::IsStatementLevel(rc)) {
      // One bad change (say an absurdly long text) must not cost the rest of the batch.
      ++*skipped;
      SetError("a change was lost: " + w.ErrorText(rc));
      rc = SQLITE_OK;
      continue;
    }
    break;
  }
  if (rc == SQLITE_OK) rc = w.Commit();
  if (rc != SQLITE_OK) w.RollbackIfOpen();
  return rc;
}

base::Status Tracking::Impl::RunPrune() {
  std::string error;
  if (!writer_ && OpenStore(&error) != SQLITE_OK)
    return base::MakeError("tracking prune: " + error);
  const int rc = writer_->Prune(opt_.clock->Now() - opt_.retention);
  if (rc == SQLITE_OK) return base::Status::Ok();
  // Corruption is dealt with by the next batch that meets it; pruning only reports.
  error = writer_->ErrorText(rc);
  SetError("prune failed: " + error);
  return base::MakeError("tracking prune: " + error);
}

base::Result<std::vector<MessageSummary>> Tracking::Impl::Find(const TrackingQuery& q) {
  std::lock_guard lock(read_mu_);
  if (!reader_) return base::MakeError("tracking " + opt_.path + ": the store is not open");
  return reader_->Find(q);
}

base::Result<std::vector<TrackingEvent>> Tracking::Impl::Events(std::uint64_t mid) {
  std::lock_guard lock(read_mu_);
  if (!reader_) return base::MakeError("tracking " + opt_.path + ": the store is not open");
  return reader_->Events(mid);
}

// ---------------------------------------------------------------------------------------------

base::Result<std::unique_ptr<Tracking>> Tracking::Open(TrackingOptions options) {
  assert(options.clock != nullptr);
  if (options.path.empty() || options.path.back() == '/') {
    return base::MakeError("tracking: the path must name a file");
  }
  if (options.retention <= std::chrono::hours::zero()) {
    return base::MakeError("tracking: retention must be positive");
  }
  if (options.flush_interval < std::chrono::milliseconds::zero()) {
    return base::MakeError("tracking: flush_interval must not be negative");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  if (base::Status s = impl->Start(); !s) return s.error();
  return std::unique_ptr<Tracking>(new Tracking(std::move(impl)));
}

Tracking::Tracking(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tracking::~Tracking() = default;

void Tracking::RecordMessage(MessageSummary summary) {
  const SystemTime at = impl_->clock().Now();
  impl_->Enqueue(tracking_db::RecordChange{std::move(summary), at});
}

void Tracking::AddEvent(std::uint64_t mid, base::SystemTime time, std::string text) {
  impl_->Enqueue(tracking_db::EventChange{mid, time, std::move(text)});
}

void Tracking::SetStatus(std::uint64_t mid, std::string status) {
  const SystemTime at = impl_->clock().Now();
  impl_->Enqueue(tracking_db::StatusChange{mid, std::move(status), at});
}

void Tracking::Flush() { impl_->Flush(); }
base::Status Tracking::Prune() { return impl_->Prune(); }

base::Result<std::vector<MessageSummary>> Tracking::Find(const TrackingQuery& q) const {
  return impl_->Find(q);
}
base::Result<std::vector<TrackingEvent>> Tracking::Events(std::uint64_t mid,
                                                          const std::string& /*machine*/) const {
  return impl_->Events(mid);
}

std::uint64_t Tracking::dropped() const { return impl_->dropped(); }
std::string Tracking::last_error() const { return impl_->last_error(); }
std::vector<std::string> Tracking::notes() const { return impl_->notes(); }
const std::string& Tracking::path() const { return impl_->path(); }

TrackingStatus Tracking::status() const {
  return TrackingStatus{.backend = "sqlite",
                        .connected = true,
                        .dropped = impl_->dropped(),
                        .last_error = impl_->last_error()};
}

std::string FormatTrackingLine(const TrackingEvent& event) {
  const std::time_t tt = static_cast<std::time_t>(
      std::chrono::floor<std::chrono::seconds>(event.time.time_since_epoch()).count());
  std::tm tm{};
  localtime_r(&tt, &tm);
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // The offset of that moment (tm_gmtoff), so lines on both sides of a DST change are right.
  const long offset = tm.tm_gmtoff;
  const long magnitude = offset < 0 ? -offset : offset;
  return fmt::format("{:02} {} {:04} {:02}:{:02}:{:02} (GMT {}{:02}:{:02}) {}", tm.tm_mday,
                     kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     offset < 0 ? '-' : '+', magnitude / 3600, magnitude % 3600 / 60,
                     Sanitize(event.text));
}

}  // namespace tidegate::telemetry
