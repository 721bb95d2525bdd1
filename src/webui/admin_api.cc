// admin_api.cc — see admin_api.h.
#include "webui/admin_api.h"

#include <fmt/format.h>

#include <map>

#include <nlohmann/json.hpp>

#include "config/editor.h"
#include "webui/admin_common.h"
#include "webui/recipient_check.h"
#include "webui/tracking_params.h"

namespace tidegate::webui {

namespace asio = boost::asio;
using nlohmann::json;
using admin::Request;
using admin::Response;

namespace {


json PolicyJson(const config::GatewayConfig& cfg, const config::Policy& p, std::size_t order) {
  json j;
  j["order"] = order;
  j["name"] = p.name;
  j["recipients"] = p.recipients;
  j["senders"] = p.senders;
  json tdc;
  tdc["mode"] = PolicyTdcModeName(p.tdc.mode);
  if (p.tdc.intake_address) tdc["intake_address"] = p.tdc.intake_address->str();
  tdc["display"] = PolicyTdcDisplay(cfg, p);
  auto effective = cfg.JournalAddress(p);
  tdc["effective_intake_address"] = effective ? json(effective->str()) : json(nullptr);
  j["threat_defense_connector"] = tdc;
  const config::AntiSpamSettings as = cfg.AntiSpamFor(p);
  j["anti_spam"] = {{"mode", PolicyScanModeName(p.anti_spam.mode)},
                    {"display", PolicyAntiSpamDisplay(cfg, p)},
                    {"enabled", as.enabled},
                    {"positive", config::ScanActionName(as.positive)},
                    {"suspect", config::ScanActionName(as.suspect)},
                    {"subject_tag", as.subject_tag}};
  const config::AntiVirusSettings av = cfg.AntiVirusFor(p);
  j["anti_virus"] = {{"mode", PolicyScanModeName(p.anti_virus.mode)},
                     {"display", PolicyAntiVirusDisplay(cfg, p)},
                     {"enabled", av.enabled},
                     {"infected", config::ScanActionName(av.infected)},
                     {"unscannable", config::ScanActionName(av.unscannable)},
                     {"subject_tag", av.subject_tag}};
  return j;
}

json TdcJson(const config::GatewayConfig& cfg) {
  const auto& t = cfg.tdc;
  return json{{"enabled", t.enabled},
              {"intake_address", t.intake_address ? json(t.intake_address->str()) : json(nullptr)},
              {"service_name", t.service_name},
              {"remote_ip_header", t.remote_ip_header},
              {"min_connections", t.min_connections},
              {"max_connections", t.max_connections},
              {"max_queue_time_seconds",
               std::chrono::duration_cast<std::chrono::seconds>(t.max_queue_time).count()},
              {"retry_delay_seconds",
               std::chrono::duration_cast<std::chrono::seconds>(t.retry_delay).count()},
              {"max_queued", t.max_queued}};
}

json TophostsJson(const AdminContext& ctx) {
  json out = json::array();
  for (const TophostsRow& r : TophostsRows(ctx)) {
    out.push_back({{"host", r.host},
                   {"active", r.active},
                   {"connections_out", r.connections_out},
                   {"delivered", r.delivered},
                   {"soft_bounced", r.soft_bounced},
                   {"hard_bounced", r.hard_bounced},
                   {"down", r.down}});
  }
  return out;
}

// Epoch seconds, or null for "never" (a default time point).
json EpochOrNull(base::SystemTime t) {
  return t == base::SystemTime{} ? json(nullptr) : json(Epoch(t));
}

// GET /api/v1/hoststatus: the fields of docs/admin-api.md; an unknown destination has only
// domain, known (false), status ("unknown"), active_recipients and window (0).
json HostStatusJson(const std::string& domain, const std::optional<HostStatus>& h) {
  json j{{"domain", domain}, {"known", h && h->counted}};
  j["active_recipients"] = h ? h->active : 0;
  j["window"] = h ? h->window : 0;
  if (!h) {
    j["status"] = "unknown";
    return j;
  }
  j["journal"] = h->journal;
  j["entries_ready"] = h->ready;
  j["entries_scheduled"] = h->scheduled;
  j["entries_in_flight"] = h->in_flight;
  j["next_attempt"] = h->next_attempt ? EpochOrNull(*h->next_attempt) : json(nullptr);
  if (!h->counted) {
    j["status"] = h->down ? "down" : "unknown";
    return j;
  }
  const telemetry::DestinationCounters& d = h->counters;
  j["status"] = d.down ? "down" : "up";
  j["connections_out"] = d.connections_out;
  j["delivered"] = d.delivered;
  // "Recipients delivered" split: the.tdc.queue delivers journal copies, every other row mail.
  j["delivered_mail"] = h->journal ? 0 : d.delivered;
  j["delivered_journal"] = h->journal ? d.delivered : 0;
  j["soft_bounced"] = d.soft_bounced;
  j["hard_bounced"] = d.hard_bounced;
  j["next_hops"] = d.next_hops;
  j["ips_used"] = d.ips_used;
  j["last_activity"] = EpochOrNull(d.last_activity);
  j["last_error"] = d.last_error;
  j["last_error_at"] = EpochOrNull(d.last_error_at);
  j["last_4xx"] = d.last_4xx;
  j["last_5xx"] = d.last_5xx;
  j["last_tls_error"] = d.last_tls_error;
  return j;
}

void Audit(const AdminContext& ctx, const Request& req, const std::string& what) {
  ctx.log->Info(fmt::format("admin: user {} from {}: {}", req.user, req.remote_ip, what));
}

json BodyJson(const Request& req) {
  if (!req.form.empty()) {
    json j = json::object();
    for (const auto& [k, v] : req.form) j[k] = v;
    return j;
  }
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : json(nullptr);
}

// Applies one ConfigEditor change: validate, commit atomically, reload live.
boost::asio::awaitable<Response> ApplyEdit(const AdminContext& ctx, const Request& req, const std::string& what,
                   const std::function<base::Status(config::ConfigEditor&)>& edit) {
  auto editor = LoadEditor(ctx);
  if (!editor) co_return Response::Error(500, editor.error().message);
  if (base::Status s = edit(*editor); !s) co_return Response::Error(400, s.error().message);
  if (EditOutcome r = co_await CommitEdit(ctx, *editor, req); !r.ok()) {
    co_return Response::Error(r.http_status, r.message);
  }
  Audit(ctx, req, what);
  co_return Response::Json(200, json{{"ok", true}});
}

}  // namespace

std::string PolicyTdcDisplay(const config::GatewayConfig& cfg, const config::Policy& policy) {
  if (policy.tdc.mode == config::PolicyTdcMode::kDefault) return "(use default)";
  return cfg.JournalAddress(policy) ? "Enabled" : "Disabled";
}

namespace {
std::string ScanDisplay(const config::Policy& policy, config::PolicyScanMode own, bool enabled) {
  if (own == config::PolicyScanMode::kDefault && policy.name != config::kDefaultPolicyName) {
    return "(use default)";
  }
  return enabled ? "Enabled" : "Disabled";
}

// POST /api/v1/policies/<name>/antispam|antivirus: the body's fields as the form's.
boost::asio::awaitable<Response> ScanPost(const AdminContext& ctx, const Request& req, const std::string& name,
                  std::string_view kind) {
  json body = BodyJson(req);
  if (!body.is_object()) co_return Response::Error(400, "expected a JSON object");
  ScanFields fields;
  for (auto& [key, value] : body.items()) {
    if (key == "base_revision") continue;  // a number; CommitFields reads it from the body
    if (!value.is_string()) co_return Response::Error(400, key + " must be a string");
    fields[key] = value.get<std::string>();
  }
  auto change = ParseScanChange(kind, fields);
  if (!change) co_return Response::Error(400, change.error().message);
  const std::string what = ScanAuditLine(name, *change);
  const std::function<base::Status(config::ConfigEditor&)> edit =
      [&](config::ConfigEditor& e) { return ApplyScanChange(e, name, *change); };
  co_return co_await ApplyEdit(ctx, req, what, edit);
}
}  // namespace

std::string PolicyAntiSpamDisplay(const config::GatewayConfig& cfg, const config::Policy& policy) {
  return ScanDisplay(policy, policy.anti_spam.mode, cfg.AntiSpamFor(policy).enabled);
}

std::string PolicyAntiVirusDisplay(const config::GatewayConfig& cfg, const config::Policy& policy) {
  return ScanDisplay(policy, policy.anti_virus.mode, cfg.AntiVirusFor(policy).enabled);
}

void RegisterAdminApi(admin::Server& server, AdminContext ctx) {
  auto c = std::make_shared<AdminContext>(std::move(ctx));

  server.Api("GET", "/api/v1/status", [c](Request&) -> asio::awaitable<Response> {
    const auto g = c->counters->Global();
    const auto spool = c->spool->stats();
    std::size_t quarantined = 0;
    if (c->quarantine != nullptr) {
      for (const auto& [name, n] : c->quarantine->stats().messages) quarantined += n;
    }
    std::size_t ready = 0, scheduled = 0, in_flight = 0, active = 0;
    for (const auto& s : c->queue->Status()) {
      ready += s.ready_entries;
      scheduled += s.scheduled_entries;
      in_flight += s.in_flight_entries;
      active += s.active_recipients;
    }
    json j{{"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::steady_clock::now() - c->started)
                                  .count()},
           {"hostname", c->config()->hostname},
           {"counters",
            {{"connections_in", g.connections_in},
             {"messages_received", g.messages_received},
             {"recipients_received", g.recipients_received},
             {"recipients_delivered", g.recipients_delivered},
             {"recipients_delivered_mail", g.recipients_delivered_mail},
             {"recipients_delivered_journal", g.recipients_delivered_journal},
             {"recipients_bounced", g.recipients_bounced},
             {"journal_copies", g.journal_copies},
             {"journal_delivered", g.journal_delivered},
             {"journal_failed", g.journal_failed},
             {"dsns_generated", g.dsns_generated},
             {"spam_negative", g.spam_negative},
             {"spam_suspect", g.spam_suspect},
             {"spam_positive", g.spam_positive},
             {"virus_negative", g.virus_negative},
             {"virus_positive", g.virus_positive},
             {"virus_unscannable", g.virus_unscannable},
             {"quarantined", g.quarantined},
             {"dropped", g.dropped},
             {"released", g.released},
             {"scan_failures", g.scan_failures},
             {"recipients_known", g.recipients_known},
             {"recipients_unknown", g.recipients_unknown},
             {"recipient_lookup_failures", g.recipient_lookup_failures},
             {"harvest_limited", g.harvest_limited}}},
           {"gauges",
            {{"connections_in", c->connections_in()},
             {"connections_out", c->queue->open_connections()},
             {"active_recipients", active},
             {"entries_ready", ready},
             {"entries_scheduled", scheduled},
             {"entries_in_flight", in_flight},
             {"journal_backlog", c->queue->journal_backlog()},
             {"spool_messages", spool.live_messages},
             {"spool_segments", spool.segments},
             {"spool_bytes", spool.bytes},
             {"scan_backlog", c->scan_backlog ? c->scan_backlog() : 0},
             {"quarantine_messages", quarantined}}},
           {"tdc_enabled", c->config()->tdc.enabled}};
    if (c->cluster != nullptr) j["cluster"] = ClusterStateJson(c->cluster->State());
    // CONTRACT §11: the cluster-wide store's connection and buffer (absent with SQLite, whose
    // status output stays as it was).
    if (c->tracking != nullptr) {
      const telemetry::TrackingStatus t = c->tracking->status();
      if (t.backend != "sqlite") {
        j["tracking"] = {{"backend", t.backend},           {"connected", t.connected},
                         {"buffer_bytes", t.buffer_bytes}, {"buffer_records", t.buffer_records},
                         {"dropped", t.dropped},           {"last_error", t.last_error}};
      }
    }
    if (c->syslog != nullptr) {  // CONTRACT §12: present only with log.syslog
      const telemetry::SyslogStats s = c->syslog->stats();
      j["syslog"] = {{"target", s.target}, {"connected", s.connected}, {"sent", s.sent},
                     {"dropped", s.dropped}, {"queued", s.queued},   {"last_error", s.last_error}};
    }
    co_return Response::Json(200, j);
  });

  server.Api("GET", "/api/v1/tophosts", [c](Request&) -> asio::awaitable<Response> {
    co_return Response::Json(
        200, json{{"as_of", Epoch(base::SystemClock::Instance().Now())}, {"rows", TophostsJson(*c)}});
  });

  server.Api("GET", "/api/v1/workqueue", [c](Request&) -> asio::awaitable<Response> {
    json rows = json::array();
    std::size_t total = 0;
    for (const auto& s : c->queue->Status()) {
      total += s.active_recipients;
      rows.push_back({{"destination", s.destination.Name()},
                      {"queue", s.destination.Display()},
                      {"active_recipients", s.active_recipients},
                      {"ready", s.ready_entries},
                      {"scheduled", s.scheduled_entries},
                      {"in_flight", s.in_flight_entries},
                      {"window", s.window},
                      {"down", s.down}});
    }
    co_return Response::Json(200, json{{"active_recipients", total},
                                       {"spool_messages", c->spool->stats().live_messages},
                                       {"destinations", rows}});
  });

  server.Api("GET", "/api/v1/hoststatus", [c](Request& req) -> asio::awaitable<Response> {
    auto it = req.query.find("domain");
    if (it == req.query.end() || it->second.empty()) {
      co_return Response::Error(400, "domain parameter required");
    }
    const std::optional<std::string> domain = DestinationName(it->second);
    if (!domain) co_return Response::Error(400, "not a destination name");
    co_return Response::Json(200, HostStatusJson(*domain, FindHostStatus(*c, *domain)));
  });

  server.Api("GET", "/api/v1/tracking", [c](Request& req) -> asio::awaitable<Response> {
    // CONTRACT §7, §12: the search keys, paging (limit up to 1000, offset); anything else is 400.
    const TrackingParams params = ParseTrackingParams(req.query, 100, 1000);
    if (!params.errors.empty()) co_return Response::Error(400, TrackingParamsError(params));
    const telemetry::TrackingQuery& q = params.query;
    if (c->tracking == nullptr) co_return Response::Error(503, "message tracking unavailable");
    auto found = c->tracking->Find(q);
    if (!found) co_return Response::Error(500, found.error().message);
    json out = json::array();
    for (const auto& m : *found) {
      json row = {{"mid", m.mid},
                  {"icid", m.icid},
                  {"received", Epoch(m.received)},
                  {"sender", m.sender},
                  {"sender_ip", m.sender_ip},
                  {"recipients", m.recipients},
                  {"message_id", m.message_id},
                  {"subject", m.subject},
                  {"policy", m.policy},
                  {"parent_mid", m.parent_mid},
                  {"journal", m.journal},
                  {"status", m.status}};
      if (!m.machine.empty()) row["machine"] = m.machine;  // the PostgreSQL backend (§11)
      out.push_back(std::move(row));
    }
    co_return Response::Json(200, out);
  });

  server.Api("GET", "/api/v1/tracking/events", [c](Request& req) -> asio::awaitable<Response> {
    auto it = req.query.find("mid");
    auto mid = it == req.query.end() ? std::nullopt : ParseU64(it->second);
    if (!mid) co_return Response::Error(400, "mid must be a number");
    if (c->tracking == nullptr) co_return Response::Error(503, "message tracking unavailable");
    auto mit = req.query.find("machine");  // MIDs are per machine (§11); "" = this one
    const std::string machine = mit == req.query.end() ? std::string() : mit->second;
    auto events = c->tracking->Events(*mid, machine);
    if (!events) co_return Response::Error(500, events.error().message);
    json out = json::array();
    for (const auto& e : *events) {
      out.push_back({{"time", Epoch(e.time)},
                     {"text", e.text},
                     {"line", telemetry::FormatTrackingLine(e)}});
    }
    co_return Response::Json(200, json{{"mid", *mid}, {"events", out}});
  });

  server.Api("GET", "/api/v1/tdc", [c](Request&) -> asio::awaitable<Response> {
    co_return Response::Json(200, TdcJson(*c->config()));
  });

  server.Api("POST", "/api/v1/tdc", [c](Request& req) -> asio::awaitable<Response> {
    json body = BodyJson(req);
    if (!body.is_object()) co_return Response::Error(400, "expected a JSON object");
    std::optional<bool> enabled;
    std::optional<std::string> address;
    if (body.contains("enabled")) {
      const auto& e = body["enabled"];
      if (e.is_boolean()) enabled = e.get<bool>();
      else if (e.is_string()) enabled = e.get<std::string>() == "true" || e.get<std::string>() == "on";
      else co_return Response::Error(400, "enabled must be true or false");
    }
    if (body.contains("intake_address")) {
      if (!body["intake_address"].is_string()) {
        co_return Response::Error(400, "intake_address must be a string");
      }
      address = body["intake_address"].get<std::string>();
    }
    if (!enabled && !address) co_return Response::Error(400, "nothing to change");
    std::string what = "tdcconfig";
    if (address) what += " intake_address " + *address;
    if (enabled) what += *enabled ? " enable" : " disable";
    const std::function<base::Status(config::ConfigEditor&)> edit =
        [&](config::ConfigEditor& e) -> base::Status {
      if (address) {
        if (base::Status s = e.SetTdcIntakeAddress(*address); !s) return s;
      }
      if (enabled) return e.SetTdcEnabled(*enabled);
      return base::Status::Ok();
    };
    co_return co_await ApplyEdit(*c, req, what, edit);
  });

  server.Api("GET", "/api/v1/policies", [c](Request&) -> asio::awaitable<Response> {
    auto cfg = c->config();
    json out = json::array();
    for (std::size_t i = 0; i < cfg->policies.size(); ++i) {
      out.push_back(PolicyJson(*cfg, cfg->policies[i], i + 1));
    }
    co_return Response::Json(200, json{{"global_intake_address",
                                        cfg->tdc.intake_address
                                            ? json(cfg->tdc.intake_address->str())
                                            : json(nullptr)},
                                       {"tdc_enabled", cfg->tdc.enabled},
                                       {"policies", out}});
  });

  server.Api("GET", "/api/v1/policies/*", [c](Request& req) -> asio::awaitable<Response> {
    const std::string name = req.path.substr(std::string("/api/v1/policies/").size());
    auto cfg = c->config();
    for (std::size_t i = 0; i < cfg->policies.size(); ++i) {
      if (cfg->policies[i].name == name) co_return Response::Json(200, PolicyJson(*cfg, cfg->policies[i], i + 1));
    }
    co_return Response::Error(404, "no such policy");
  });

  server.Api("POST", "/api/v1/policies/*", [c](Request& req) -> asio::awaitable<Response> {
    std::string rest = req.path.substr(std::string("/api/v1/policies/").size());
    for (std::string_view kind : {"antispam", "antivirus"}) {
      const std::string suffix = "/" + std::string(kind);
      if (!rest.ends_with(suffix)) continue;
      const std::string name = rest.substr(0, rest.size() - suffix.size());
      if (c->config()->FindPolicy(name) == nullptr) co_return Response::Error(404, "no such policy");
      co_return co_await ScanPost(*c, req, name, kind);
    }
    if (!rest.ends_with("/tdc")) co_return Response::Error(404, "unknown endpoint");
    const std::string name = rest.substr(0, rest.size() - 4);
    if (c->config()->FindPolicy(name) == nullptr) co_return Response::Error(404, "no such policy");
    json body = BodyJson(req);
    if (!body.is_object() || !body.contains("mode") || !body["mode"].is_string()) {
      co_return Response::Error(400, "mode must be global, default, off or custom");
    }
    const std::string mode = body["mode"].get<std::string>();
    config::PolicyTdc tdc;
    if (mode == "global") tdc.mode = config::PolicyTdcMode::kGlobal;
    else if (mode == "default") tdc.mode = config::PolicyTdcMode::kDefault;
    else if (mode == "off") tdc.mode = config::PolicyTdcMode::kOff;
    else if (mode == "custom") {
      tdc.mode = config::PolicyTdcMode::kCustom;
      if (!body.contains("intake_address") || !body["intake_address"].is_string()) {
        co_return Response::Error(400, "custom needs intake_address");
      }
      auto address = mail::ParseMailbox(body["intake_address"].get<std::string>());
      if (!address) {
        co_return Response::Error(400, "invalid intake_address: " + address.error().message);
      }
      tdc.intake_address = *address;
    } else {
      co_return Response::Error(400, "mode must be global, default, off or custom");
    }
    // Named, not temporaries of the co_await expression: GCC 12 frees such temporaries wrongly.
    const std::string what = fmt::format("policyconfig tdc {} {}{}", name, mode,
                                         tdc.intake_address ? " " + tdc.intake_address->str() : "");
    const std::function<base::Status(config::ConfigEditor&)> edit =
        [&](config::ConfigEditor& e) { return e.SetPolicyTdc(name, tdc); };
    co_return co_await ApplyEdit(*c, req, what, edit);
  });
  server.Api("POST", "/api/v1/recipient-validation/test",
             [c](Request& req) -> asio::awaitable<Response> {
               json body = BodyJson(req);
               if (!body.is_object() || !body.contains("address") ||
                   !body["address"].is_string()) {
                 co_return Response::Error(400, "address must be a string");
               }
               auto check = co_await CheckRecipient(*c, body["address"].get<std::string>());
               if (!check) {
                 co_return Response::Error(CheckErrorStatus(check.error()),
                                           check.error().message);
               }
               const validation::Verdict& v = check->verdict;
               co_return Response::Json(200, json{{"address", check->address},
                                                  {"verdict", VerdictName(v)},
                                                  {"method", VerdictMethod(v)},
                                                  {"reason", v.reason},
                                                  {"cached", v.cached},
                                                  {"always_accept", v.always_accept},
                                                  {"validated", VerdictValidated(v)},
                                                  {"failure", v.failure},
                                                  {"summary", VerdictSummary(v, check->address)},
                                                  {"source", VerdictSource(v)}});
             });
  RegisterQuarantineApi(server, c);
  RegisterClusterApi(server, c);
  RegisterConfigsApi(server, c);
}

}  // namespace tidegate::webui
