// main.cc — the tidegate command line (CONTRACT §2): serve, check-config, intake, and later the
// operator commands. Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <signal.h>

#include <cstdio>
#include <iostream>

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "base/filesystem.h"
#include "base/version.h"
#include "cli/commands.h"
#include "config/config.h"
#include "intake/intake_server.h"
#include "cluster/sections.h"
#include "server/data_dir_lock.h"
#include "server/gateway.h"
#include "spool/spool.h"

namespace {

// An intake configuration (CONTRACT §8) is validated as one: both kinds live in /etc/tidegate.
int CheckIntakeConfig(const std::string& path) {
  auto cfg = tidegate::config::LoadIntakeConfig(path);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 2;
  }
  std::cout << path << ": ok\n";
  return 0;
}

int CheckConfig(const std::string& path) {
  if (auto text = tidegate::base::PosixFilesystem().ReadWholeFile(path);
      text && tidegate::config::IsIntakeConfig(*text)) {
    return CheckIntakeConfig(path);
  }
  auto cfg = tidegate::config::LoadGatewayConfig(path);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 2;
  }
  if ((*cfg)->cluster) {
    // Cluster mode (CONTRACT §11): once the cluster is bootstrapped, these come from etcd.
    auto text = tidegate::base::PosixFilesystem().ReadWholeFile(path);
    for (const std::string& section :
         tidegate::cluster::LocalSharedSections(text ? *text : std::string())) {
      std::cerr << path << ": warning: " << section
                << " is a shared section: in cluster mode it comes from etcd (this file's value "
                   "only bootstraps an empty cluster)\n";
    }
  }
  std::cout << path << ": ok\n";
  return 0;
}

std::string Base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

const char* StateName(tidegate::spool::RecipientState s) {
  switch (s) {
    case tidegate::spool::RecipientState::kPending: return "pending";
    case tidegate::spool::RecipientState::kDelivered: return "delivered";
    case tidegate::spool::RecipientState::kBounced: return "bounced";
    case tidegate::spool::RecipientState::kExpired: return "expired";
    case tidegate::spool::RecipientState::kRemoved: return "removed";
  }
  return "unknown";
}

// Offline inspection of the spool (the gateway must not be running: the spool is locked).
int SpoolDump(const std::string& path, bool bodies) {
  auto cfg = tidegate::config::LoadGatewayConfig(path);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 2;
  }
  auto lock = tidegate::server::LockDataDir((*cfg)->data_dir);
  if (!lock) {
    std::cerr << "tidegate: " << lock.error().message << "\n";
    return 1;
  }
  tidegate::spool::Options options;
  options.dir = tidegate::base::JoinPath((*cfg)->data_dir, "spool");
  options.fs = &tidegate::base::PosixFilesystem();
  options.clock = &tidegate::base::SystemClock::Instance();
  options.segment_size = (*cfg)->spool.segment_size;
  auto spool = tidegate::spool::Spool::Open(options);
  if (!spool) {
    std::cerr << "tidegate: " << spool.error().message << "\n";
    return 1;
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& meta : (*spool)->TakeRecovered()) {
    nlohmann::json m;
    m["mid"] = meta.mid;
    m["icid"] = meta.icid;
    m["parent_mid"] = meta.parent_mid;
    m["kind"] = static_cast<int>(meta.kind);
    m["sender"] = meta.sender;
    m["policy"] = meta.policy;
    m["destination"] = meta.destination;
    m["body_size"] = meta.body_size;
    m["received"] = std::chrono::duration_cast<std::chrono::seconds>(
                        meta.received.time_since_epoch()).count();
    nlohmann::json rcpts = nlohmann::json::array();
    for (const auto& r : meta.recipients) {
      rcpts.push_back({{"rid", r.rid}, {"address", r.address}, {"state", StateName(r.state)}});
    }
    m["recipients"] = rcpts;
    nlohmann::json attrs = nlohmann::json::object();
    for (const auto& [k, v] : meta.attrs) attrs[k] = v;
    m["attrs"] = attrs;
    if (bodies) {
      std::string body;
      if (auto s = (*spool)->ReadBody(meta.mid, body); !s) {
        std::cerr << "tidegate: MID " << meta.mid << ": " << s.error().message << "\n";
        return 1;
      }
      m["body_base64"] = Base64(body);
    }
    out.push_back(std::move(m));
  }
  std::cout << out.dump(bodies ? -1 : 2, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n";
  return 0;
}

int Serve(const std::string& path) {
  auto cfg = tidegate::config::LoadGatewayConfig(path);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 2;
  }
  // A peer that disappears mid-write must not kill the process.
  ::signal(SIGPIPE, SIG_IGN);
  tidegate::server::Gateway gateway(*cfg);
  if (auto s = gateway.Start(); !s) {
    std::cerr << "tidegate: " << s.error().message << "\n";
    return 1;
  }
  return gateway.Run();
}

// The threat-defense intake service (CONTRACT §8), in the foreground until SIGTERM/SIGINT.
int Intake(const std::string& path) {
  auto cfg = tidegate::config::LoadIntakeConfig(path);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  // Held until exit: one intake per data_dir.
  auto lock = tidegate::server::LockDataDir((*cfg)->data_dir);
  if (!lock) {
    std::cerr << "tidegate: " << lock.error().message << "\n";
    return 1;
  }
  tidegate::intake::IntakeServer intake(*cfg);
  if (auto s = intake.Start(); !s) {
    std::cerr << "tidegate: " << s.error().message << "\n";
    return 1;
  }
  return intake.Run();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tidegate — secure email gateway with a Threat Defense Connector"};
  app.require_subcommand(1);
  app.set_version_flag("--version", fmt::format("tidegate {} (build {})", tidegate::base::Version(),
                                                tidegate::base::Build()));
  std::string config_path = "/etc/tidegate/gateway.yaml";
  app.add_option("-c,--config", config_path, "configuration file");

  auto* serve = app.add_subcommand("serve", "run the gateway in the foreground");
  auto* check = app.add_subcommand(
      "check-config", "validate the configuration (a gateway's or an intake's) and exit");
  auto* dump = app.add_subcommand(
      "spool-dump", "print the messages in the spool as JSON (the gateway must be stopped)");
  auto* intake = app.add_subcommand(
      "intake", "run the threat-defense intake service (-c names its intake.yaml)");
  bool dump_bodies = false;
  dump->add_flag("--bodies", dump_bodies, "include each message body (base64)");

  // Operator commands talk to the running gateway's admin API. Their own arguments (including
  // track's --mid and the like) are passed through as they are; --json is understood by all.
  std::vector<std::pair<std::string, CLI::App*>> operator_commands;
  for (const auto& [name, help] : std::vector<std::pair<std::string, std::string>>{
           {"tophosts", "delivery status per destination: tophosts [active|conn|delivered|hard|soft]"},
           {"status", "counters, gauges and queue sizes"},
           {"workqueue", "queue sizes per destination and stage"},
           {"hoststatus", "one destination: hoststatus DOMAIN"},
           {"track", "message tracking: track --mid N | --message-id ID | --recipient ADDR | --sender ADDR"},
           {"tdcconfig", "Threat Defense Connector settings: tdcconfig [show | enable ADDRESS | disable]"},
           {"policyconfig",
            "incoming mail policies: policyconfig [list | show NAME | tdc NAME global|default|off|custom ADDRESS]"},
           {"quarantine",
            "the Spam and Virus quarantines: quarantine list [Spam|Virus] [--search TEXT] | show MID | release MID | delete MID"},
           {"configs",
            "configuration history: configs [list | show N | diff N M | rollback N [--comment TEXT]]"},
           {"clusterconfig",
            "cluster mode: clusterconfig [show | machines | mode cluster|group NAME|machine NAME | "
            "inherit SECTION group NAME|machine NAME | override SECTION group NAME|machine NAME]"}}) {
    auto* sub = app.add_subcommand(name, help);
    sub->prefix_command();
    operator_commands.emplace_back(name, sub);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*serve) return Serve(config_path);
  if (*check) return CheckConfig(config_path);
  if (*dump) return SpoolDump(config_path, dump_bodies);
  if (*intake) return Intake(config_path);
  for (const auto& [name, sub] : operator_commands) {
    if (!*sub) continue;
    auto cfg = tidegate::config::LoadGatewayConfig(config_path);
    if (!cfg) {
      std::cerr << cfg.error().message << "\n";
      return 2;
    }
    tidegate::cli::CommandOptions options;
    std::vector<std::string> args;
    const std::vector<std::string> given = sub->remaining();
    for (std::size_t i = 0; i < given.size(); ++i) {
      const std::string& a = given[i];
      if (a == "--json") {
        options.json = true;
      } else if (a == "--cluster") {
        options.cluster = true;
      } else if ((a == "--comment" || a == "--base-revision") && i + 1 < given.size()) {
        (a == "--comment" ? options.comment : options.base_revision) = given[++i];
      } else {
        args.push_back(a);
      }
    }
    return tidegate::cli::RunCommand(**cfg, name, args, options, std::cout, std::cerr);
  }
  return 2;
}
