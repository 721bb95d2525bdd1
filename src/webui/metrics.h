// metrics.h — GET /metrics in the Prometheus text exposition format (CONTRACT §12 "Metrics"):
// the tophosts figures per queue, the journal copies and their delay, the spool, the engines.
//
// Rendered from what the admin API already reads (the counters, the tophosts rows, the spool's
// stats), on the gateway's io thread, like every admin handler; the histograms are lock-free
// atomics (telemetry/histogram.h). docs/metrics.md lists every series, its labels and buckets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "admin/server.h"
#include "telemetry/exposition.h"
#include "webui/admin_api.h"

namespace tidegate::webui {

// The whole exposition.
std::string RenderMetrics(const AdminContext& ctx);

// One counter without labels — the shape of a component's own drop or error counter (e.g. the
// syslog sender's tidegate_syslog_dropped_total), rendered next to the others.
void RenderSingleCounter(telemetry::Exposition& out, std::string_view name,
                         std::string_view help, std::uint64_t value);

// GET /metrics on `server`: behind the admin login (HTTP Basic, 401 without) when `open` is
// false (admin.bind); without a login when true (the `metrics.bind` listener).
void RegisterMetrics(admin::Server& server, std::shared_ptr<const AdminContext> ctx, bool open);

}  // namespace tidegate::webui
