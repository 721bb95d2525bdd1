// metrics.cc — see metrics.h.
#include "webui/metrics.h"

#include "webui/admin_common.h"

namespace tidegate::webui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;
using telemetry::Exposition;

namespace {

void RenderQueues(Exposition& out, const AdminContext& ctx) {
  // The tophosts rows (CONTRACT §6): `queue` is the destination as tophosts names it.
  const std::vector<TophostsRow> rows = TophostsRows(ctx);
  for (const TophostsRow& r : rows) {
    out.Counter("tidegate_recipients_delivered_total",
                "Recipients delivered, per destination queue (tophosts Deliv. Recip.).",
                {{"queue", r.host}}, static_cast<double>(r.delivered));
  }
  for (const TophostsRow& r : rows) {
    constexpr std::string_view help =
        "Bounces per destination queue as tophosts counts them: soft = soft-bounce events (4xx, "
        "network errors, each retry), hard = recipients hard-bounced (the.tdc.queue: copies "
        "removed unsent).";
    out.Counter("tidegate_recipients_bounced_total", help, {{"queue", r.host}, {"kind", "soft"}},
                static_cast<double>(r.soft_bounced));
    out.Counter("tidegate_recipients_bounced_total", help, {{"queue", r.host}, {"kind", "hard"}},
                static_cast<double>(r.hard_bounced));
  }
  for (const TophostsRow& r : rows) {
    out.Gauge("tidegate_queue_active_recipients", "Recipients queued for the destination now.",
              {{"queue", r.host}}, static_cast<double>(r.active));
  }
  for (const TophostsRow& r : rows) {
    out.Gauge("tidegate_connections_out", "Open outbound connections to the destination now.",
              {{"queue", r.host}}, static_cast<double>(r.connections_out));
  }
  if (rows.empty()) {
    out.Declare("tidegate_recipients_delivered_total", "Recipients delivered.", "counter");
  }
}

}  // namespace

void RenderSingleCounter(Exposition& out, std::string_view name, std::string_view help,
                         std::uint64_t value) {
  out.Counter(name, help, {}, static_cast<double>(value));
}

std::string RenderMetrics(const AdminContext& ctx) {
  Exposition out;
  const telemetry::GlobalCounters g = ctx.counters->Global();
  RenderSingleCounter(out, "tidegate_messages_received_total",
                      "Messages accepted with a 250 over SMTP (not copies, DSNs or splits).",
                      g.messages_received);
  RenderQueues(out, ctx);

  constexpr std::string_view copies_help =
      "Journal copies that ended: delivered, failed (5xx, TLS) or removed (retries used up, "
      "max_queue_time).";
  out.Counter("tidegate_journal_copies_total", copies_help, {{"result", "delivered"}},
              static_cast<double>(g.journal_delivered));
  out.Counter("tidegate_journal_copies_total", copies_help, {{"result", "failed"}},
              static_cast<double>(g.journal_failed - g.journal_removed));
  out.Counter("tidegate_journal_copies_total", copies_help, {{"result", "removed"}},
              static_cast<double>(g.journal_removed));
  out.Histogram("tidegate_journal_delay_seconds",
                "Delivered journal copies: the original's 250 to the intake's 250.",
                {}, ctx.counters->journal_delay().Snapshot());

  out.Gauge("tidegate_spool_bytes", "Bytes of the spool's segment files.", {},
            static_cast<double>(ctx.spool->stats().bytes));

  struct Verdict {
    std::string_view family, help, verdict;
    std::uint64_t value;
  };
  constexpr std::string_view spam = "tidegate_spam_verdicts_total";
  constexpr std::string_view spam_help = "Anti-spam verdicts (rspamd), one per message scanned.";
  constexpr std::string_view virus = "tidegate_virus_verdicts_total";
  constexpr std::string_view virus_help = "Anti-virus verdicts (clamd), one per message scanned.";
  for (const Verdict& v : {Verdict{spam, spam_help, "negative", g.spam_negative},
                           Verdict{spam, spam_help, "suspect", g.spam_suspect},
                           Verdict{spam, spam_help, "positive", g.spam_positive},
                           Verdict{virus, virus_help, "negative", g.virus_negative},
                           Verdict{virus, virus_help, "positive", g.virus_positive},
                           Verdict{virus, virus_help, "unscannable", g.virus_unscannable}}) {
    out.Counter(v.family, v.help, {{"verdict", std::string(v.verdict)}},
                static_cast<double>(v.value));
  }
  constexpr std::string_view scan_help =
      "Time one engine call took (answered or failed), per engine.";
  out.Histogram("tidegate_scan_seconds", scan_help, {{"engine", "rspamd"}},
                ctx.counters->scan_seconds_rspamd().Snapshot());
  out.Histogram("tidegate_scan_seconds", scan_help, {{"engine", "clamd"}},
                ctx.counters->scan_seconds_clamd().Snapshot());

  if (ctx.syslog != nullptr) {  // only with log.syslog (CONTRACT §12)
    RenderSingleCounter(out, "tidegate_syslog_dropped_total",
                        "Mail-log lines not sent to syslog (the receiver slow or down).",
                        ctx.syslog->dropped());
  }
  return out.Take();
}

void RegisterMetrics(admin::Server& server, std::shared_ptr<const AdminContext> ctx, bool open) {
  admin::Handler handler = [ctx](Request&) -> asio::awaitable<Response> {
    Response r;
    r.status = 200;
    r.content_type = std::string(telemetry::kExpositionContentType);
    r.body = RenderMetrics(*ctx);
    co_return r;
  };
  if (open) {
    server.Open("GET", "/metrics", std::move(handler));
  } else {
    server.Api("GET", "/metrics", std::move(handler));
  }
}

}  // namespace tidegate::webui
