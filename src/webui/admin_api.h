// admin_api.h — the gateway's JSON API under /api/v1 (CONTRACT §9), one handler per endpoint,
// registered on the admin HTTP server (admin/server.h), which does authentication, sessions and
// CSRF. Everything runs on the gateway's io thread, so handlers read the delivery engine directly.
//
// Endpoints (docs/admin-api.md has the fields):
//   GET  /api/v1/status               counters, gauges, queue sizes
//   GET  /api/v1/tophosts             the tophosts rows (the.tdc.queue included while enabled)
//   GET  /api/v1/workqueue            queue sizes per destination and stage
//   GET  /api/v1/hoststatus?domain=D  one destination: up/down, next hops, last errors, counters
//   GET  /api/v1/tracking?mid=|message_id=|sender=|recipient=|since=|until=|limit=
//   GET  /api/v1/tracking/events?mid=N[&machine=M]  the event lines of one message (CONTRACT §7
//                                     format); machine: the PostgreSQL backend's (§11)
//   GET  /api/v1/tdc                  TDC settings;  POST /api/v1/tdc {enabled?, intake_address?}
//   GET  /api/v1/policies             the policy table; GET /api/v1/policies/<name>
//   POST /api/v1/policies/<name>/tdc  {mode: global|default|off|custom, intake_address?}
//   POST /api/v1/policies/<name>/antispam   {mode: default|off|on, positive?, suspect?, subject_tag?}
//   POST /api/v1/policies/<name>/antivirus  {mode: default|off|on, infected?, unscannable?,
//                                            subject_tag?}
//   POST /api/v1/recipient-validation/test  {address} → the lookup test's verdict (CONTRACT §13)
//   GET  /api/v1/quarantine?quarantine=Spam|Virus&search=&offset=&limit=   (quarantine_api.cc)
//   GET  /api/v1/quarantine/<mid>     one message: its meta and header section
//   POST /api/v1/quarantine/<mid>/release | /delete
//   GET  /api/v1/configs              the configuration history (configs_api.cc); /configs/<n>,
//   GET  /api/v1/configs/diff?from=N&to=M;  POST /api/v1/configs/<n>/rollback {comment?}
// Changes go through config::ConfigEditor (validated, atomic, previous file kept), are applied
// live through `reload`, and leave an audit line in the mail log.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "admin/server.h"
#include "config/config.h"
#include "config/history.h"
#include "delivery/queue_manager.h"
#include "quarantine/store.h"
#include "spool/spool.h"
#include "telemetry/counters.h"
#include "telemetry/mail_log.h"
#include "telemetry/syslog_sender.h"
#include "telemetry/tracking.h"
#include "cluster/agent.h"
#include "telemetry/tracking_store.h"
#include "validation/validator.h"

namespace tidegate::webui {

struct AdminContext {
  telemetry::Counters* counters = nullptr;
  delivery::QueueManager* queue = nullptr;
  telemetry::TrackingStore* tracking = nullptr;
  telemetry::MailLog* log = nullptr;
  spool::Spool* spool = nullptr;
  std::function<std::shared_ptr<const config::GatewayConfig>()> config;
  // Re-reads the configuration file and applies it (the same path as SIGHUP).
  std::function<base::Status()> reload;
  std::function<std::uint32_t()> connections_in;
  std::chrono::steady_clock::time_point started;
  // Content security (CONTRACT §10); null/empty when not wired (unit tests).
  quarantine::Store* quarantine = nullptr;
  // Release / delete a quarantined message (blocking: run on `worker`, never on the io thread).
  std::function<base::Status(std::uint64_t mid, const std::string& user)> quarantine_release;
  std::function<base::Status(std::uint64_t mid, const std::string& user)> quarantine_delete;
  boost::asio::thread_pool* worker = nullptr;
  std::function<std::size_t()> scan_backlog;  // messages waiting for or in a scan
  // Recipient validation's lookup test (CONTRACT §13): "would this address be accepted, and
  // why" — the RCPT-time path without the harvest count. Called on the io thread; `done` runs on
  // it too, exactly once. Empty when not wired (unit tests).
  std::function<void(const mail::Address&, std::function<void(validation::Verdict)>)>
      test_recipient;
  // Cluster mode (CONTRACT §11): the Centralized Management agent; null on a single machine.
  cluster::Agent* cluster = nullptr;
  // The syslog copy of the mail log (CONTRACT §12); null without log.syslog.
  telemetry::SyslogSender* syslog = nullptr;
  // The configuration history (CONTRACT §12; configs_api.cc); null when it could not be opened
  // (its endpoints then answer 503) or not wired (unit tests).
  config::ConfigHistory* history = nullptr;
};

void RegisterQuarantineApi(admin::Server& server, std::shared_ptr<const AdminContext> context);
// The cluster endpoints (cluster_api.cc; CONTRACT §11): 404 unless ctx.cluster is set.
void RegisterClusterApi(admin::Server& server, std::shared_ptr<const AdminContext> context);
// The configuration history endpoints under /api/v1/configs (configs_api.cc; CONTRACT §12).
void RegisterConfigsApi(admin::Server& server, std::shared_ptr<const AdminContext> context);
// The `cluster` object of /api/v1/status and GET /api/v1/cluster.
nlohmann::json ClusterStateJson(const cluster::ClusterState& state);
// The header section of a message (up to the blank line, at most 64 KiB), for showing it safely.
std::string HeaderSection(std::string_view message);

void RegisterAdminApi(admin::Server& server, AdminContext context);

// "Enabled" / "Disabled" / "(use default)" — the policy table's Threat Defense Connector column.
std::string PolicyTdcDisplay(const config::GatewayConfig& cfg, const config::Policy& policy);
// The same for its Anti-Spam and Anti-Virus columns: "(use default)" for a policy (not DEFAULT)
// that says `default`, else whether the resolved setting (AntiSpamFor / AntiVirusFor) scans.
std::string PolicyAntiSpamDisplay(const config::GatewayConfig& cfg, const config::Policy& policy);
std::string PolicyAntiVirusDisplay(const config::GatewayConfig& cfg, const config::Policy& policy);

}  // namespace tidegate::webui
