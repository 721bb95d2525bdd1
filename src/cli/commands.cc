// commands.cc — see commands.h.
#include "cli/commands.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <tuple>

#include <pwd.h>
#include <unistd.h>

#include "admin/http_client.h"
#include "base/filesystem.h"
#include "base/units.h"
#include "cli/tophosts.h"

namespace tidegate::cli {

using nlohmann::json;

namespace {

constexpr int kOk = 0;
constexpr int kError = 1;
constexpr int kUsage = 2;

struct Api {
  const config::GatewayConfig& cfg;
  std::ostream& err;
  std::string password;
  json extra = json::object();  // --comment / --base-revision: sent with every change (POST)

  // Returns the parsed JSON body, or nullopt after printing an error.
  std::optional<json> Call(const std::string& method, const std::string& target,
                           const json* body = nullptr) {
    const std::string host = cfg.admin.bind.host == "0.0.0.0" ? "127.0.0.1"
                             : cfg.admin.bind.host == "::"    ? "::1"
                                                              : cfg.admin.bind.host;
    std::string error;
    auto j = CallAt(host, cfg.admin.bind.port, method, target, body, &error);
    if (!j) err << "tidegate: " << error << "\n";
    return j;
  }

  // The same against another machine's admin API (cluster mode); errors go to *error.
  std::optional<json> CallAt(const std::string& host, std::uint16_t port,
                             const std::string& method, const std::string& target,
                             const json* body, std::string* error) {
    json sent = body ? *body : json();
    if (method == "POST" && !extra.empty()) {
      if (!sent.is_object()) sent = json::object();
      sent.update(extra);
    }
    const bool has_body = !sent.is_null();
    auto r = admin::HttpCall(host, port, method, target, cfg.admin.user, password,
                             has_body ? sent.dump() : std::string(),
                             has_body ? "application/json" : "", std::chrono::seconds(30));
    if (!r) {
      *error = "cannot reach the admin API at " + config::Endpoint{host, port}.str() + ": " +
               r.error().message;
      return std::nullopt;
    }
    json j = json::parse(r->body, nullptr, false);
    if (r->status != 200) {
      std::string msg = j.is_object() && j.contains("error") && j["error"].is_string()
                            ? j["error"].get<std::string>()
                            : r->body;
      // CONTRACT §11: a change refused while etcd is unreachable says "error: ...".
      *error = (r->status == 503 ? "error: " : "") + msg + " (HTTP " +
               std::to_string(r->status) + ")";
      return std::nullopt;
    }
    if (j.is_discarded()) {
      *error = "the admin API answered something that is not JSON";
      return std::nullopt;
    }
    return j;
  }
};

std::string ReadPassword(const std::string& path, std::string& error) {
  if (path.empty()) {
    error = "admin.password_file is not configured";
    return "";
  }
  auto text = base::PosixFilesystem().ReadWholeFile(path);
  if (!text) {
    error = text.error().message;
    return "";
  }
  std::string p = *text;
  auto nl = p.find_first_of("\r\n");
  if (nl != std::string::npos) p.resize(nl);
  return p;
}

std::uint64_t U(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<std::uint64_t>() : 0;
}

std::string S(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// "05 Dec 2026 22:50:00 UTC".
std::string When(std::int64_t epoch) {
  return fmt::format("{:%d %b %Y %H:%M:%S}", fmt::gmtime(static_cast<std::time_t>(epoch)));
}

std::int64_t I(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number_integer() ? j[key].get<std::int64_t>() : 0;
}

// CONTRACT §11's status line.
std::string ClusterLine(const json& c) {
  if (c.value("connected", false)) {
    return fmt::format("Cluster configuration: connected, running revision {}\n",
                       I(c, "applied_revision"));
  }
  return fmt::format("Cluster configuration: disconnected (since {} UTC), running revision {}\n",
                     When(I(c, "disconnected_since")), I(c, "applied_revision"));
}

// One machine of the registry and its answer (cluster-wide status and tophosts).
struct MachineAnswer {
  json machine;
  std::optional<json> answer;
  std::string error;
};

// Asks every registered machine's admin API for `target`; a machine that does not answer is
// kept with its error, never left out.
std::optional<std::vector<MachineAnswer>> AskMachines(Api& api, const std::string& target) {
  auto machines = api.Call("GET", "/api/v1/cluster/machines");
  if (!machines) return std::nullopt;
  std::vector<MachineAnswer> out;
  for (const json& m : (*machines)["machines"]) {
    MachineAnswer a{m, std::nullopt, ""};
    std::string url = S(m, "admin_url");
    if (url.starts_with("http://")) url = url.substr(7);
    const auto colon = url.rfind(':');
    std::uint16_t port = 0;
    std::string host = colon == std::string::npos ? url : url.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (colon != std::string::npos) {
      port = static_cast<std::uint16_t>(std::atoi(url.c_str() + colon + 1));
    }
    if (host.empty() || port == 0) {
      a.error = "no admin URL registered";
    } else {
      a.answer = api.CallAt(host, port, "GET", target, nullptr, &a.error);
    }
    out.push_back(std::move(a));
  }
  return out;
}

int ClusterStatus(Api& api, const CommandOptions& o, std::ostream& out) {
  auto answers = AskMachines(api, "/api/v1/status");
  if (!answers) return kError;
  json counters = json::object(), gauges = json::object(), machines = json::array();
  for (const MachineAnswer& a : *answers) {
    json m{{"name", S(a.machine, "name")},
           {"group", S(a.machine, "group")},
           {"applied_revision", I(a.machine, "applied_revision")},
           {"healthy", a.machine.value("healthy", false)},
           {"answered", a.answer.has_value()}};
    if (!a.answer) {
      m["error"] = a.error;
      machines.push_back(m);
      continue;
    }
    m["uptime_seconds"] = U(*a.answer, "uptime_seconds");
    for (const auto& [k, v] : (*a.answer)["counters"].items()) {
      counters[k] = counters.value(k, std::uint64_t{0}) + v.get<std::uint64_t>();
    }
    for (const auto& [k, v] : (*a.answer)["gauges"].items()) {
      gauges[k] = gauges.value(k, std::uint64_t{0}) + v.get<std::uint64_t>();
    }
    machines.push_back(m);
  }
  if (o.json) {
    out << json{{"machines", machines}, {"counters", counters}, {"gauges", gauges}}.dump(2)
        << "\n";
    return kOk;
  }
  out << fmt::format("Cluster status: {} machine(s)\n", machines.size());
  for (const json& m : machines) {
    if (!m.value("answered", false)) {
      out << fmt::format("  {:<16} not answering: {}\n", S(m, "name"), S(m, "error"));
      continue;
    }
    const auto up = U(m, "uptime_seconds");
    out << fmt::format("  {:<16} revision {:<8} {:<9} up {}d {:02}h {:02}m {:02}s\n", S(m, "name"),
                       I(m, "applied_revision"), m.value("healthy", false) ? "healthy" : "unhealthy",
                       up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
  }
  out << "\nCounters (sum over the machines that answered):\n";
  for (const auto& [k, v] : counters.items()) {
    out << fmt::format("  {:<28}{:>14}\n", k, base::WithThousands(v.get<std::uint64_t>()));
  }
  out << "\nGauges (now, sum):\n";
  for (const auto& [k, v] : gauges.items()) {
    out << fmt::format("  {:<28}{:>14}\n", k, base::WithThousands(v.get<std::uint64_t>()));
  }
  return kOk;
}

int ClusterTophosts(Api& api, SortKey key, const CommandOptions& o, std::ostream& out) {
  auto answers = AskMachines(api, "/api/v1/tophosts");
  if (!answers) return kError;
  std::map<std::string, HostRow> sum;
  json machines = json::array();
  std::uint64_t as_of = 0;
  for (const MachineAnswer& a : *answers) {
    machines.push_back(json{{"name", S(a.machine, "name")},
                            {"answered", a.answer.has_value()},
                            {"error", a.error}});
    if (!a.answer) continue;
    as_of = std::max(as_of, U(*a.answer, "as_of"));
    for (const auto& r : (*a.answer)["rows"]) {
      HostRow& row = sum[S(r, "host")];
      row.host = S(r, "host");
      row.active += U(r, "active");
      row.connections += U(r, "connections_out");
      row.delivered += U(r, "delivered");
      row.soft_bounced += U(r, "soft_bounced");
      row.hard_bounced += U(r, "hard_bounced");
      row.down = row.down || r.value("down", false);
    }
  }
  if (o.json) {
    json rows = json::array();
    for (const auto& [host, r] : sum) {
      rows.push_back(json{{"host", r.host},
                      {"active", r.active},
                      {"connections_out", r.connections},
                      {"delivered", r.delivered},
                      {"soft_bounced", r.soft_bounced},
                      {"hard_bounced", r.hard_bounced},
                      {"down", r.down}});
    }
    out << json{{"machines", machines}, {"as_of", as_of}, {"rows", rows}}.dump(2) << "\n";
    return kOk;
  }
  for (const json& m : machines) {
    if (!m.value("answered", false)) {
      out << fmt::format("Machine {} not answering: {}\n", S(m, "name"), S(m, "error"));
    }
  }
  std::vector<HostRow> rows;
  for (auto& [host, r] : sum) rows.push_back(r);
  out << FormatTophosts(std::move(rows), key, base::SystemTime(std::chrono::seconds(as_of)));
  return kOk;
}

constexpr const char* kClusterUsage =
    "usage: clusterconfig [show | machines | mode cluster|group NAME|machine NAME\n"
    "         | inherit SECTION group NAME|machine NAME | override SECTION group NAME|machine "
    "NAME] [--comment TEXT] [--base-revision N]\n";

int Clusterconfig(Api& api, const std::vector<std::string>& args, const CommandOptions& o,
                  std::ostream& out) {
  const std::string sub = args.empty() ? "show" : args[0];
  auto usage = [&] {
    api.err << kClusterUsage;
    return kUsage;
  };
  if (sub == "show" && args.size() <= 1) {
    auto j = api.Call("GET", "/api/v1/cluster");
    if (!j) return kError;
    if (o.json) {
      out << j->dump(2) << "\n";
      return kOk;
    }
    auto level = [](const json& l) {
      const std::string kind = S(l, "level");
      return kind == "cluster" || kind == "none" ? kind : kind + " " + S(l, "name");
    };
    out << fmt::format("Cluster: {}\nMachine: {}{}\nMode: {}\n", S(*j, "cluster"),
                       S(*j, "machine"),
                       S(*j, "group").empty() ? "" : " (group " + S(*j, "group") + ")",
                       level((*j)["mode"]));
    out << ClusterLine(*j);
    out << fmt::format("\n{:<28}{}\n", "Section", "Level");
    for (const auto& sct : (*j)["sections"]) {
      out << fmt::format("{:<28}{}\n", S(sct, "section"),
                         S(sct, "level") == "none" ? "(not set: defaults)" : level(sct));
    }
    return kOk;
  }
  if (sub == "machines" && args.size() == 1) {
    auto j = api.Call("GET", "/api/v1/cluster/machines");
    if (!j) return kError;
    if (o.json) {
      out << j->dump(2) << "\n";
      return kOk;
    }
    out << fmt::format("{:<16}{:<16}{:<10}{:<10}{}\n", "Machine", "Group", "Revision", "Health",
                       "Admin URL");
    for (const auto& m : (*j)["machines"]) {
      out << fmt::format("{:<16}{:<16}{:<10}{:<10}{}\n", S(m, "name"),
                         S(m, "group").empty() ? "-" : S(m, "group"), I(m, "applied_revision"),
                         m.value("healthy", false) ? "healthy" : "unhealthy", S(m, "admin_url"));
    }
    return kOk;
  }
  if (sub == "mode" && (args.size() == 2 || args.size() == 3)) {
    json body{{"level", args[1]}, {"name", args.size() == 3 ? args[2] : ""}};
    auto j = api.Call("POST", "/api/v1/cluster/mode", &body);
    if (!j) return kError;
    out << (o.json ? j->dump(2) + "\n"
                   : "Mode: " + args[1] + (args.size() == 3 ? " " + args[2] : "") +
                         " (changes from this machine go there)\n");
    return kOk;
  }
  if ((sub == "inherit" || sub == "override") && args.size() == 4) {
    json body{{"section", args[1]}, {"level", args[2]}, {"name", args[3]}};
    auto j = api.Call("POST", "/api/v1/cluster/" + sub, &body);
    if (!j) return kError;
    if (o.json) {
      out << j->dump(2) << "\n";
    } else {
      out << fmt::format("{} {} at {} {}: committed as revision {}\n",
                         sub == "inherit" ? "Inherited" : "Overrode", args[1], args[2], args[3],
                         I(*j, "revision"));
    }
    return kOk;
  }
  return usage();
}

int Tophosts(Api& api, const std::vector<std::string>& args, const CommandOptions& o,
             std::ostream& out) {
  if (args.size() > 1) {
    api.err << "usage: tophosts [active|conn|delivered|hard|soft]\n";
    return kUsage;
  }
  auto key = ParseSortKey(args.empty() ? "" : args[0]);
  if (!key) {
    api.err << "tidegate: " << key.error().message << "\n";
    return kUsage;
  }
  if (o.cluster) return ClusterTophosts(api, *key, o, out);
  auto j = api.Call("GET", "/api/v1/tophosts");
  if (!j) return kError;
  if (o.json) {
    out << j->dump(2) << "\n";
    return kOk;
  }
  std::vector<HostRow> rows;
  for (const auto& r : (*j)["rows"]) {
    rows.push_back(HostRow{S(r, "host"), U(r, "active"), U(r, "connections_out"),
                           U(r, "delivered"), U(r, "soft_bounced"), U(r, "hard_bounced"),
                           r.value("down", false)});
  }
  out << FormatTophosts(std::move(rows), *key,
                        base::SystemTime(std::chrono::seconds(U(*j, "as_of"))));
  return kOk;
}

int Status(Api& api, const CommandOptions& o, std::ostream& out) {
  if (o.cluster) return ClusterStatus(api, o, out);
  auto j = api.Call("GET", "/api/v1/status");
  if (!j) return kError;
  if (o.json) {
    out << j->dump(2) << "\n";
    return kOk;
  }
  const auto up = U(*j, "uptime_seconds");
  out << fmt::format("Status of {}: up {}d {:02}h {:02}m {:02}s\n", S(*j, "hostname"),
                     up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
  out << "\nCounters (since start):\n";
  for (const auto& [k, v] : (*j)["counters"].items()) {
    out << fmt::format("  {:<28}{:>14}\n", k, base::WithThousands(v.get<std::uint64_t>()));
  }
  out << "\nGauges (now):\n";
  for (const auto& [k, v] : (*j)["gauges"].items()) {
    out << fmt::format("  {:<28}{:>14}\n", k, base::WithThousands(v.get<std::uint64_t>()));
  }
  out << "\nThreat Defense Connector: " << ((*j)["tdc_enabled"].get<bool>() ? "enabled" : "disabled")
      << "\n";
  if (j->contains("cluster") && (*j)["cluster"].is_object()) out << ClusterLine((*j)["cluster"]);
  if (j->contains("tracking")) {  // CONTRACT §11: the PostgreSQL backend only
    const json& t = (*j)["tracking"];
    out << fmt::format("Tracking: {}, {}, buffer {} B ({} changes)", S(t, "backend"),
                       t.value("connected", false) ? "connected" : "disconnected",
                       base::WithThousands(U(t, "buffer_bytes")),
                       base::WithThousands(U(t, "buffer_records")));
    if (U(t, "dropped") > 0) out << fmt::format(", {} dropped", U(t, "dropped"));
    if (!t.value("connected", false) && !S(t, "last_error").empty()) {
      out << ": " << S(t, "last_error");
    }
    out << "\n";
  }
  if (j->contains("syslog")) {  // CONTRACT §12: with log.syslog only
    const json& s = (*j)["syslog"];
    out << fmt::format("Syslog: {}, {}, {} sent, {} dropped, {} queued", S(s, "target"),
                       s.value("connected", false) ? "connected" : "not connected",
                       base::WithThousands(U(s, "sent")), base::WithThousands(U(s, "dropped")),
                       base::WithThousands(U(s, "queued")));
    if (!S(s, "last_error").empty()) out << " (last error: " << S(s, "last_error") << ")";
    out << "\n";
  }
  return kOk;
}

int Workqueue(Api& api, const CommandOptions& o, std::ostream& out) {
  auto j = api.Call("GET", "/api/v1/workqueue");
  if (!j) return kError;
  if (o.json) {
    out << j->dump(2) << "\n";
    return kOk;
  }
  out << fmt::format("Messages in the spool: {}\nRecipients queued:     {}\n\n",
                     base::WithThousands(U(*j, "spool_messages")),
                     base::WithThousands(U(*j, "active_recipients")));
  out << fmt::format("{:<40}{:>10}{:>8}{:>11}{:>10}{:>8}\n", "Destination", "Recip.", "Ready",
                     "Scheduled", "In flight", "Window");
  for (const auto& d : (*j)["destinations"]) {
    out << fmt::format("{:<40}{:>10}{:>8}{:>11}{:>10}{:>8}\n",
                       S(d, "destination") + (d.value("down", false) ? " *" : ""),
                       base::WithThousands(U(d, "active_recipients")), U(d, "ready"),
                       U(d, "scheduled"), U(d, "in_flight"), U(d, "window"));
  }
  return kOk;
}

int Hoststatus(Api& api, const std::vector<std::string>& args, const CommandOptions& o,
               std::ostream& out) {
  if (args.size() != 1) {
    api.err << "usage: hoststatus DOMAIN\n";
    return kUsage;
  }
  auto j = api.Call("GET", "/api/v1/hoststatus?domain=" + UrlEncode(args[0]));
  if (!j) return kError;
  if (o.json) {
    out << j->dump(2) << "\n";
    return kOk;
  }
  out << fmt::format("Host: {}\nStatus: {}\n", S(*j, "domain"), S(*j, "status"));
  out << fmt::format("Active recipients: {}\nConnections out: {}\n",
                     base::WithThousands(U(*j, "active_recipients")), U(*j, "connections_out"));
  out << fmt::format("Delivered recipients: {}\n", base::WithThousands(U(*j, "delivered")));
  // The split of "Recipients delivered": journal copies are the ones on the.tdc.queue.
  out << fmt::format("  mail: {}\n  journal copies: {}\n",
                     base::WithThousands(U(*j, "delivered_mail")),
                     base::WithThousands(U(*j, "delivered_journal")));
  out << fmt::format("Soft bounces: {}\nHard bounces: {}\n",
                     base::WithThousands(U(*j, "soft_bounced")),
                     base::WithThousands(U(*j, "hard_bounced")));
  auto time = [&](const char* key, const char* none) {
    return j->contains(key) && (*j)[key].is_number() ? When(I(*j, key)) + " UTC"
                                                     : std::string(none);
  };
  out << fmt::format("Last activity: {}\nNext attempt: {}\n", time("last_activity", "none"),
                     time("next_attempt", "none waiting"));
  out << "IPs used:";
  if (j->contains("ips_used") && !(*j)["ips_used"].empty()) {
    for (const auto& ip : (*j)["ips_used"]) out << " " << ip.get<std::string>();
    out << "\n";
  } else {
    out << " none yet\n";
  }
  out << "Next hops used:";
  if (j->contains("next_hops") && !(*j)["next_hops"].empty()) {
    for (const auto& h : (*j)["next_hops"]) out << "\n  " << h.get<std::string>();
    out << "\n";
  } else {
    out << " none yet\n";
  }
  out << fmt::format("Last 4xx: {}\nLast 5xx: {}\nLast TLS error: {}\n",
                     S(*j, "last_4xx").empty() ? "none" : S(*j, "last_4xx"),
                     S(*j, "last_5xx").empty() ? "none" : S(*j, "last_5xx"),
                     S(*j, "last_tls_error").empty() ? "none" : S(*j, "last_tls_error"));
  if (!S(*j, "last_error").empty()) {
    out << fmt::format("Last error: {} ({})\n", S(*j, "last_error"),
                       time("last_error_at", "time unknown"));
  } else {
    out << "Last error: none\n";
  }
  return kOk;
}

int Track(Api& api, const std::vector<std::string>& args, const CommandOptions& o,
          std::ostream& out) {
  // CONTRACT §7, §12: each option is the API parameter of the same name.
  static const std::map<std::string, std::string> kKeys = {
      {"--mid", "mid"},           {"--message-id", "message_id"}, {"--recipient", "recipient"},
      {"--sender", "sender"},     {"--subject", "subject"},       {"--sender-ip", "sender_ip"},
      {"--policy", "policy"},     {"--match", "match"},           {"--since", "since"},
      {"--until", "until"},       {"--limit", "limit"},           {"--offset", "offset"}};
  constexpr const char* kHelp =
      "usage: track [--mid N] [--message-id ID] [--sender ADDR] [--recipient ADDR] "
      "[--subject TEXT] [--match is|begins|contains] [--sender-ip IP] [--policy NAME] "
      "[--since TIME] [--until TIME] [--include-journal] [--limit N] [--offset N]\n"
      "  TIME: RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] (local time) or seconds since the epoch\n";
  std::string query;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--include-journal") {
      query += std::string(query.empty() ? "?" : "&") + "include_journal=true";
      continue;
    }
    auto it = kKeys.find(args[i]);
    if (it == kKeys.end() || i + 1 >= args.size()) {
      api.err << kHelp;
      return kUsage;
    }
    query += (query.empty() ? "?" : "&") + it->second + "=" + UrlEncode(args[++i]);
  }
  if (query.empty()) {
    api.err << kHelp;
    return kUsage;
  }
  auto found = api.Call("GET", "/api/v1/tracking" + query);
  if (!found) return kError;
  json all = json::array();
  bool first = true;
  for (const auto& m : *found) {
    // The PostgreSQL backend (CONTRACT §11) names the machine: MIDs are per machine.
    const std::string machine = m.contains("machine") ? S(m, "machine") : std::string();
    auto events =
        api.Call("GET", fmt::format("/api/v1/tracking/events?mid={}{}", U(m, "mid"),
                                    machine.empty() ? "" : "&machine=" + UrlEncode(machine)));
    if (!events) return kError;
    if (o.json) {
      json entry = m;
      entry["events"] = (*events)["events"];
      all.push_back(entry);
      continue;
    }
    if (!machine.empty()) {
      if (!first) out << "\n";
      out << fmt::format("Machine {} MID {}{}\n", machine, U(m, "mid"),
                         m.value("journal", false) ? " (journal copy)" : "");
    } else if (found->size() > 1) {
      if (!first) out << "\n";
      out << fmt::format("MID {}{}\n", U(m, "mid"), m.value("journal", false) ? " (journal copy)" : "");
    }
    first = false;
    for (const auto& e : (*events)["events"]) out << S(e, "line") << "\n";
  }
  if (o.json) {
    out << all.dump(2) << "\n";
  } else if (found->empty()) {
    api.err << "tidegate: no message found\n";
    return kError;
  }
  return kOk;
}

int Tdcconfig(Api& api, const std::vector<std::string>& args, const CommandOptions& o,
              std::ostream& out) {
  const std::string sub = args.empty() ? "show" : args[0];
  json body;
  if (sub == "show" && args.size() <= 1) {
    auto j = api.Call("GET", "/api/v1/tdc");
    if (!j) return kError;
    if (o.json) {
      out << j->dump(2) << "\n";
      return kOk;
    }
    out << fmt::format("Threat Defense Connector: {}\n", (*j)["enabled"].get<bool>() ? "Enabled" : "Disabled");
    out << fmt::format("Message Intake Address: {}\n",
                       (*j)["intake_address"].is_string() ? (*j)["intake_address"].get<std::string>()
                                                          : "(not set)");
    out << fmt::format("Service name: {}\n", S(*j, "service_name"));
    return kOk;
  }
  if (sub == "enable" && args.size() == 2) {
    body = {{"enabled", true}, {"intake_address", args[1]}};
  } else if (sub == "disable" && args.size() == 1) {
    body = {{"enabled", false}};
  } else {
    api.err << "usage: tdcconfig [show | enable ADDRESS | disable]\n";
    return kUsage;
  }
  auto j = api.Call("POST", "/api/v1/tdc", &body);
  if (!j) return kError;
  out << (o.json ? j->dump(2) + "\n" : std::string("Threat Defense Connector settings saved and applied.\n"));
  return kOk;
}

int Policyconfig(Api& api, const std::vector<std::string>& args, const CommandOptions& o,
                 std::ostream& out) {
  const std::string sub = args.empty() ? "list" : args[0];
  auto usage = [&] {
    api.err << "usage: policyconfig [list | show NAME | tdc NAME global|default|off|custom ADDRESS\n"
               "         | antispam NAME default|off|on [positive=ACTION] [suspect=ACTION] "
               "[subject_tag=TEXT]\n"
               "         | antivirus NAME default|off|on [infected=ACTION] [unscannable=ACTION] "
               "[subject_tag=TEXT]]   ACTION: deliver|tag|quarantine|drop\n";
    return kUsage;
  };
  if (sub == "list" && args.size() <= 1) {
    auto j = api.Call("GET", "/api/v1/policies");
    if (!j) return kError;
    if (o.json) {
      out << j->dump(2) << "\n";
      return kOk;
    }
    out << fmt::format("{:<6}{:<24}{:<30}{}\n", "Order", "Policy Name", "Threat Defense Connector",
                       "Intake Address");
    for (const auto& p : (*j)["policies"]) {
      const auto& t = p["threat_defense_connector"];
      out << fmt::format("{:<6}{:<24}{:<30}{}\n", U(p, "order"), S(p, "name"), S(t, "display"),
                         t["effective_intake_address"].is_string()
                             ? t["effective_intake_address"].get<std::string>()
                             : "-");
    }
    return kOk;
  }
  if (sub == "show" && args.size() == 2) {
    auto j = api.Call("GET", "/api/v1/policies/" + UrlEncode(args[1]));
    if (!j) return kError;
    if (o.json) {
      out << j->dump(2) << "\n";
      return kOk;
    }
    const auto& t = (*j)["threat_defense_connector"];
    out << fmt::format("Policy: {} (order {})\n", S(*j, "name"), U(*j, "order"));
    auto list = [](const json& a) {
      std::string s;
      for (const auto& x : a) s += (s.empty() ? "" : ", ") + x.get<std::string>();
      return s.empty() ? std::string("(any)") : s;
    };
    out << "Recipients: " << list((*j)["recipients"]) << "\n";
    out << "Senders: " << list((*j)["senders"]) << "\n";
    out << "Threat Defense Connector: " << S(t, "display") << " (" << S(t, "mode");
    if (t.contains("intake_address")) out << " " << S(t, "intake_address");
    out << ")\n";
    for (const auto& [key, title, first, second] :
         {std::tuple{"anti_spam", "Anti-Spam", "positive", "suspect"},
          std::tuple{"anti_virus", "Anti-Virus", "infected", "unscannable"}}) {
      if (!j->contains(key)) continue;
      const auto& a = (*j)[key];
      out << title << ": " << S(a, "display") << " (" << S(a, "mode") << ")";
      if (a.value("enabled", false)) {
        out << fmt::format(" {}={} {}={} subject_tag=\"{}\"", first, S(a, first), second,
                           S(a, second), S(a, "subject_tag"));
      }
      out << "\n";
    }
    return kOk;
  }
  if ((sub == "antispam" || sub == "antivirus") && args.size() >= 3) {
    // policyconfig antispam NAME on positive=tag suspect=deliver subject_tag="[SPAM]"
    json body = {{"mode", args[2]}};
    for (std::size_t i = 3; i < args.size(); ++i) {
      const auto eq = args[i].find('=');
      if (eq == std::string::npos || eq == 0) return usage();
      body[args[i].substr(0, eq)] = args[i].substr(eq + 1);
    }
    auto j = api.Call("POST", "/api/v1/policies/" + UrlEncode(args[1]) + "/" + sub, &body);
    if (!j) return kError;
    out << (o.json ? j->dump(2) + "\n" : "Policy " + args[1] + " saved and applied.\n");
    return kOk;
  }
  if (sub == "tdc" && (args.size() == 3 || args.size() == 4)) {
    json body = {{"mode", args[2]}};
    if (args[2] == "custom") {
      if (args.size() != 4) return usage();
      body["intake_address"] = args[3];
    } else if (args.size() != 3 ||
               (args[2] != "global" && args[2] != "default" && args[2] != "off")) {
      return usage();
    }
    auto j = api.Call("POST", "/api/v1/policies/" + UrlEncode(args[1]) + "/tdc", &body);
    if (!j) return kError;
    out << (o.json ? j->dump(2) + "\n" : "Policy " + args[1] + " saved and applied.\n");
    return kOk;
  }
  return usage();
}

constexpr const char* kQuarantineUsage =
    "usage: quarantine list [Spam|Virus] [--search TEXT] [--offset N] [--limit N] | show MID | "
    "release MID | delete MID\n";

int Quarantine(Api& api, const std::vector<std::string>& args, const CommandOptions& o,
               std::ostream& out) {
  const std::string verb = args.empty() ? "list" : args[0];
  if (verb == "list") {
    std::string query;
    auto add = [&](const char* key, const std::string& value) {
      query += (query.empty() ? "?" : "&") + std::string(key) + "=" + UrlEncode(value);
    };
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (args[i] == "Spam" || args[i] == "Virus") {
        add("quarantine", args[i]);
      } else if ((args[i] == "--search" || args[i] == "--offset" || args[i] == "--limit") &&
                 i + 1 < args.size()) {
        add(args[i].c_str() + 2, args[i + 1]);
        ++i;
      } else {
        api.err << kQuarantineUsage;
        return kUsage;
      }
    }
    auto j = api.Call("GET", "/api/v1/quarantine" + query);
    if (!j) return kError;
    if (o.json) {
      out << j->dump(2) << "\n";
      return kOk;
    }
    out << fmt::format("{:<10} {:<7} {:<21} {:<30} {}\n", "MID", "Quar.", "Stored (UTC)", "From",
                       "Subject");
    for (const auto& m : (*j)["messages"]) {
      out << fmt::format("{:<10} {:<7} {:<21} {:<30} {}\n", U(m, "mid"), S(m, "quarantine"),
                         When(m.value("stored", std::int64_t{0})), "<" + S(m, "sender") + ">",
                         S(m, "subject"));
    }
    out << fmt::format("{} message(s)\n", U(*j, "total"));
    return kOk;
  }
  if (args.size() != 2 || args[1].empty() ||
      args[1].find_first_not_of("0123456789") != std::string::npos) {
    api.err << kQuarantineUsage;
    return kUsage;
  }
  const std::string mid = args[1];
  if (verb == "show") {
    auto j = api.Call("GET", "/api/v1/quarantine/" + mid);
    if (!j) return kError;
    if (o.json) {
      out << j->dump(2) << "\n";
      return kOk;
    }
    std::string rcpts;
    for (const auto& r : (*j)["recipients"]) rcpts += (rcpts.empty() ? "" : ", ") + r.get<std::string>();
    out << fmt::format(
        "MID {}\nQuarantine: {}\nReason: {}\nStored: {} UTC\nFrom: <{}>\nTo: {}\nPolicy: {}\n"
        "Size: {} bytes\n\n{}",
        U(*j, "mid"), S(*j, "quarantine"), S(*j, "reason"),
        When(j->value("stored", std::int64_t{0})), S(*j, "sender"), rcpts, S(*j, "policy"),
        U(*j, "size"), S(*j, "headers"));
    return kOk;
  }
  if (verb == "release" || verb == "delete") {
    auto j = api.Call("POST", "/api/v1/quarantine/" + mid + "/" + verb);
    if (!j) return kError;
    if (o.json) {
      out << j->dump(2) << "\n";
    } else {
      out << fmt::format("MID {} {}\n", mid, verb == "release" ? "released" : "deleted");
    }
    return kOk;
  }
  api.err << kQuarantineUsage;
  return kUsage;
}

// configs list [--json] | show N | diff N M | rollback N [--comment TEXT] (CONTRACT §12).
int Configs(Api& api, const std::vector<std::string>& args, const CommandOptions& o,
            std::ostream& out) {
  auto usage = [&] {
    api.err << "usage: configs [list | show N | diff N M | rollback N [--comment TEXT]]\n";
    return kUsage;
  };
  auto number = [](const std::string& s) {
    return !s.empty() && s.size() < 20 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  const std::string verb = args.empty() ? "list" : args[0];
  if (verb == "list" && args.size() <= 1) {
    auto j = api.Call("GET", "/api/v1/configs");
    if (!j) return kError;
    if (o.json) {
      out << j->dump(2) << "\n";
      return kOk;
    }
    // Cluster mode: entries name the level they were committed at (a rollback restores it).
    bool levels = false;
    for (const auto& e : *j) levels = levels || e.contains("level");
    auto level = [levels](const std::string& text) {
      return levels ? fmt::format("{:<20}  ", text) : std::string();
    };
    out << fmt::format("{:>6}  {:<20}  {:<16}  {}{}\n", "Number", "Time (UTC)", "User",
                       level("Level"), "Comment");
    for (const auto& e : *j) {
      out << fmt::format("{:>6}  {:<20}  {:<16}  {}{}\n", U(e, "number"), S(e, "time"),
                         S(e, "user"), level(S(e, "level")), S(e, "comment"));
    }
    return kOk;
  }
  if (verb == "show" && args.size() == 2 && number(args[1])) {
    auto j = api.Call("GET", "/api/v1/configs/" + args[1]);
    if (!j) return kError;
    out << (o.json ? j->dump(2) + "\n" : S(*j, "text"));
    return kOk;
  }
  if (verb == "diff" && args.size() == 3 && number(args[1]) && number(args[2])) {
    auto j = api.Call("GET", "/api/v1/configs/diff?from=" + args[1] + "&to=" + args[2]);
    if (!j) return kError;
    out << (o.json ? j->dump(2) + "\n" : S(*j, "diff"));
    return kOk;
  }
  if (verb == "rollback" && args.size() == 2 && number(args[1])) {
    auto j = api.Call("POST", "/api/v1/configs/" + args[1] + "/rollback");
    if (!j) return kError;
    if (o.json) {
      out << j->dump(2) << "\n";
    } else {
      out << fmt::format("Rolled back to configuration {}: committed and applied", args[1]);
      if (j->contains("number")) out << fmt::format(" as entry {}", U(*j, "number"));
      out << ".\n";
    }
    return kOk;
  }
  return usage();
}

// The invoking Unix user, recorded with every change in the configuration history (§12).
std::string UnixUser() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  return "cli";
}

}  // namespace

std::string UrlEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

int RunCommand(const config::GatewayConfig& cfg, const std::string& command,
               const std::vector<std::string>& args, const CommandOptions& options,
               std::ostream& out, std::ostream& err) {
  std::string error;
  Api api{cfg, err, ReadPassword(cfg.admin.password_file, error)};
  if (options.comment) api.extra["comment"] = *options.comment;
  if (options.base_revision) api.extra["base_revision"] = *options.base_revision;
  api.extra["cli_user"] = UnixUser();
  if (!error.empty()) {
    err << "tidegate: cannot read the admin password: " << error << "\n";
    return kError;
  }
  if (command == "tophosts") return Tophosts(api, args, options, out);
  if (command == "status") return Status(api, options, out);
  if (command == "workqueue") return Workqueue(api, options, out);
  if (command == "hoststatus") return Hoststatus(api, args, options, out);
  if (command == "track") return Track(api, args, options, out);
  if (command == "tdcconfig") return Tdcconfig(api, args, options, out);
  if (command == "policyconfig") return Policyconfig(api, args, options, out);
  if (command == "quarantine") return Quarantine(api, args, options, out);
  if (command == "clusterconfig") return Clusterconfig(api, args, options, out);
  if (command == "configs") return Configs(api, args, options, out);
  err << "tidegate: unknown command " << command << "\n";
  return kUsage;
}

}  // namespace tidegate::cli
