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
//   GET  /api/v1/tracking/events?mid=N  the event lines of one message (CONTRACT §7 format)
//   GET  /api/v1/tdc                  TDC settings;  POST /api/v1/tdc {enabled?, intake_address?}
//   GET  /api/v1/policies             the policy table; GET /api/v1/policies/<name>
//   POST /api/v1/policies/<name>/tdc  {mode: global|default|off|custom, intake_address?}
// Changes go through config::ConfigEditor (validated, atomic, previous file kept), are applied
// live through `reload`, and leave an audit line in the mail log.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "admin/server.h"
#include "config/config.h"
#include "delivery/queue_manager.h"
#include "spool/spool.h"
#include "telemetry/counters.h"
#include "telemetry/mail_log.h"
#include "telemetry/tracking.h"

namespace tidegate::webui {

struct AdminContext {
  telemetry::Counters* counters = nullptr;
  delivery::QueueManager* queue = nullptr;
  telemetry::Tracking* tracking = nullptr;
  telemetry::MailLog* log = nullptr;
  spool::Spool* spool = nullptr;
  std::function<std::shared_ptr<const config::GatewayConfig>()> config;
  // Re-reads the configuration file and applies it (the same path as SIGHUP).
  std::function<base::Status()> reload;
  std::function<std::uint32_t()> connections_in;
  std::chrono::steady_clock::time_point started;
};

void RegisterAdminApi(admin::Server& server, AdminContext context);

// "Enabled" / "Disabled" / "(use default)" — the policy table's Threat Defense Connector column.
std::string PolicyTdcDisplay(const config::GatewayConfig& cfg, const config::Policy& policy);

}  // namespace tidegate::webui
