// content_security.h — wiring for CONTRACT §10: the scan stage, the quarantines and the operator
// actions on them, connected to the spool, the delivery queue, the reports and the journal.
//
// The Gateway hands every durable message to Route(): messages marked `scan=pending` go to the
// scan stage (scan/stage.h), everything else straight to the delivery queue. The stage's
// decisions come back here: a clean message's journal copy (made from its delivered form, within
// the TDC's quota), the quarantine store (written on a worker thread, never on the event loop),
// and delivery. Release() and Delete() are the operator's actions (CLI, API, Web UI); a released
// message is committed back into the spool (`scan=released`, not scanned again) with its journal
// copy in the same commit, then removed from the quarantine, then delivered.
// A sweeper removes what is past `quarantine.retention` and the oldest beyond `max_size`.
// Threading: Route() and ConfigChanged() from any thread; Release()/Delete()/Probe*() block and
// must be called off the event loop (the admin API runs them on this object's worker).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "quarantine/store.h"
#include "scan/stage.h"
#include "spool/spool.h"
#include "telemetry/counters.h"
#include "telemetry/mail_log.h"
#include "telemetry/reception_report.h"
#include "telemetry/scan_report.h"

namespace tidegate::server {

class ContentSecurity {
 public:
  struct Deps {
    boost::asio::io_context* io = nullptr;
    spool::Spool* spool = nullptr;
    telemetry::MailLog* log = nullptr;
    telemetry::Counters* counters = nullptr;
    std::function<std::shared_ptr<const config::GatewayConfig>()> config;
    std::function<void(std::vector<spool::MessageMeta>)> enqueue;  // the delivery queue
    std::function<std::size_t()> journal_backlog;
    telemetry::TrackingSink track;
  };
  static base::Result<std::unique_ptr<ContentSecurity>> Open(Deps deps);
  ~ContentSecurity();

  void Route(std::vector<spool::MessageMeta> metas);
  void ConfigChanged();
  void Stop();

  // Operator actions (blocking). user: who asked (logged).
  base::Status Release(std::uint64_t mid, const std::string& user);
  base::Status Delete(std::uint64_t mid, const std::string& user);
  quarantine::Store& store() { return *store_; }
  std::size_t scan_backlog() const { return stage_->backlog(); }
  boost::asio::thread_pool& worker() { return worker_; }

 private:
  explicit ContentSecurity(Deps deps);
  std::optional<spool::NewMessage> JournalCopy(const spool::MessageMeta& meta,
                                               std::string_view body);
  void JournalMade(const spool::MessageMeta& original, const spool::MessageMeta& copy);
  void Sweep();

  Deps deps_;
  telemetry::ScanReport scan_report_;
  telemetry::ReceptionReport reception_report_;
  std::unique_ptr<quarantine::Store> store_;
  boost::asio::thread_pool worker_{1};
  std::unique_ptr<scan::Stage> stage_;
  boost::asio::steady_timer sweep_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tidegate::server
