// gateway.h — the running gateway: owns the configuration snapshot, the mail log, the spool, the
// listeners and the event loop, and handles SIGTERM (drain) and SIGHUP (reload).
//
// This is the only place that knows every module. Construct, call Run() on the main thread; it
// returns after a graceful shutdown. Not thread-safe except where noted.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "base/result.h"
#include "config/config.h"
#include "config/history.h"
#include "delivery/queue_manager.h"
#include "admin/server.h"
#include "cluster/agent.h"
#include "inbound/listener.h"
#include "server/content_security.h"
#include "server/recipient_validation.h"
#include "server/message_pipeline.h"
#include "spool/spool.h"
#include "telemetry/counters.h"
#include "telemetry/mail_log.h"
#include "telemetry/syslog_sender.h"
#include "telemetry/tracking.h"

namespace tidegate::webui {
struct AdminContext;
}

namespace tidegate::server {

class Gateway {
 public:
  explicit Gateway(std::shared_ptr<const config::GatewayConfig> config);
  ~Gateway();
  // Opens the log and the spool (running recovery), binds the listeners. Errors are fatal.
  base::Status Start();
  // Runs until SIGTERM/SIGINT, then drains. Returns the process exit code.
  int Run();

  // The current configuration (thread-safe).
  std::shared_ptr<const config::GatewayConfig> config() const;

 private:
  std::shared_ptr<const inbound::SessionPolicy> MakeSessionPolicy(
      const std::shared_ptr<const config::GatewayConfig>& cfg);
  void WaitForSignals();
  // Re-reads the configuration file and applies it; a bad file is refused and the running
  // configuration stays. Used by SIGHUP and by live changes from the admin API.
  base::Status Reload();
  // Applies a validated configuration live (listeners, policies, engines, credentials); one that
  // cannot be applied is refused and the running configuration stays. The reload path of SIGHUP,
  // of live changes from the admin API and of cluster revisions.
  base::Status ApplyConfig(std::shared_ptr<const config::GatewayConfig> cfg);
  base::Status StartAdmin();
  // Records `text` in the configuration history when it differs from the newest entry (the
  // configuration at start, a hand edit loaded by SIGHUP); logs failures. A single machine's
  // only: in cluster mode the history is the agent's, in etcd.
  void RecordHistory(const std::string& text, const std::string& user,
                     const std::string& comment);
  // The text a single machine's history keeps: the configuration file.
  std::string CurrentText() const;
  base::Status StartMetrics(const webui::AdminContext& context);
  // The message tracking store of tracking.backend: SQLite in data_dir, or PostgreSQL with its
  // buffer in data_dir/tracking-buffer (CONTRACT §11).
  base::Result<std::unique_ptr<telemetry::TrackingStore>> OpenTracking(
      const config::GatewayConfig& cfg);
  void BeginShutdown();

  mutable std::mutex config_mu_;
  std::shared_ptr<const config::GatewayConfig> config_;
  boost::asio::io_context io_;
  // Derived from config_. After io_: it holds the recipient Validator, whose call-ahead method
  // lives on io_ (its resolver, sockets and posted answers) and must go before io_ does.
  std::shared_ptr<const inbound::SessionPolicy> session_policy_;
  boost::asio::signal_set signals_;
  // The syslog copy of the mail log (log.syslog); null without one. Before log_: the log's
  // writer thread hands it every line, so it must outlive the log.
  std::unique_ptr<telemetry::SyslogSender> syslog_;
  std::unique_ptr<telemetry::MailLog> log_;
  int lock_fd_ = -1;  // flock on data_dir/LOCK: one gateway per data_dir
  std::unique_ptr<spool::Spool> spool_;
  telemetry::Counters counters_;
  std::unique_ptr<delivery::QueueManager> queue_;
  std::unique_ptr<telemetry::TrackingStore> tracking_;
  std::unique_ptr<ContentSecurity> content_security_;  // scan stage and quarantines (§10)
  std::unique_ptr<RecipientValidation> validation_;    // RCPT-time validation (§13)
  std::unique_ptr<MessagePipeline> pipeline_;
  std::unique_ptr<admin::Server> admin_;
  std::unique_ptr<admin::Server> metrics_;  // metrics.bind (CONTRACT §12); null without it
  std::unique_ptr<cluster::Agent> cluster_;  // cluster mode (§11); null on a single machine
  // The configuration history (§12) in data_dir/config-history; null if it could not be opened
  // (logged; mail flows regardless).
  std::unique_ptr<config::ConfigHistory> history_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  inbound::SessionServices services_;
  std::map<std::string, std::unique_ptr<inbound::Listener>> listeners_;
  bool stopping_ = false;
  // True while io_ runs (read by the LDAP method's deleter, which may run on any thread).
  std::shared_ptr<std::atomic<bool>> loop_running_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace tidegate::server
