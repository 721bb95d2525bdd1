// commands.cc — see commands.h.
#include "cli/commands.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <tuple>

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

  // Returns the parsed JSON body, or nullopt after printing an error.
  std::optional<json> Call(const std::string& method, const std::string& target,
                           const json* body = nullptr) {
    const std::string host = cfg.admin.bind.host == "0.0.0.0" ? "127.0.0.1"
                             : cfg.admin.bind.host == "::"    ? "::1"
                                                              : cfg.admin.bind.host;
    auto r = admin::HttpCall(host, cfg.admin.bind.port, method, target, cfg.admin.user, password,
                             body ? body->dump() : std::string(),
                             body ? "application/json" : "", std::chrono::seconds(30));
    if (!r) {
      err << "tidegate: cannot reach the admin API at " << cfg.admin.bind.str() << ": "
          << r.error().message << "\n";
      return std::nullopt;
    }
    json j = json::parse(r->body, nullptr, false);
    if (r->status != 200) {
      std::string msg = j.is_object() && j.contains("error") && j["error"].is_string()
                            ? j["error"].get<std::string>()
                            : r->body;
      err << "tidegate: " << msg << " (HTTP " << r->status << ")\n";
      return std::nullopt;
    }
    if (j.is_discarded()) {
      err << "tidegate: the admin API answered something that is not JSON\n";
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
  out << fmt::format("Delivered recipients: {}\nSoft bounces: {}\nHard bounces: {}\n",
                     base::WithThousands(U(*j, "delivered")),
                     base::WithThousands(U(*j, "soft_bounced")),
                     base::WithThousands(U(*j, "hard_bounced")));
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
  return kOk;
}

int Track(Api& api, const std::vector<std::string>& args, const CommandOptions& o,
          std::ostream& out) {
  static const std::map<std::string, std::string> kKeys = {
      {"--mid", "mid"}, {"--message-id", "message_id"}, {"--recipient", "recipient"},
      {"--sender", "sender"}, {"--since", "since"}, {"--until", "until"}};
  std::string query;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto it = kKeys.find(args[i]);
    if (it == kKeys.end() || i + 1 >= args.size()) {
      api.err << "usage: track --mid N | --message-id ID | --recipient ADDR | --sender ADDR "
                 "[--since EPOCH] [--until EPOCH]\n";
      return kUsage;
    }
    query += (query.empty() ? "?" : "&") + it->second + "=" + UrlEncode(args[++i]);
  }
  if (query.empty()) {
    api.err << "usage: track --mid N | --message-id ID | --recipient ADDR | --sender ADDR\n";
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

std::string When(std::int64_t epoch) {
  return fmt::format("{:%d %b %Y %H:%M:%S}", fmt::gmtime(static_cast<std::time_t>(epoch)));
}

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
  err << "tidegate: unknown command " << command << "\n";
  return kUsage;
}

}  // namespace tidegate::cli
