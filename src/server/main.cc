// main.cc — the tidegate command line (CONTRACT §2): serve, check-config, and later the intake and
// operator commands. Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error.
#include <CLI/CLI.hpp>
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "config/config.h"
#include "server/gateway.h"

namespace {

int CheckConfig(const std::string& path) {
  auto cfg = tidegate::config::LoadGatewayConfig(path);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 2;
  }
  std::cout << path << ": ok\n";
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tidegate — secure email gateway with a Threat Defense Connector"};
  app.require_subcommand(1);
  std::string config_path = "/etc/tidegate/gateway.yaml";
  app.add_option("-c,--config", config_path, "configuration file");

  auto* serve = app.add_subcommand("serve", "run the gateway in the foreground");
  auto* check = app.add_subcommand("check-config", "validate the configuration and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*serve) return Serve(config_path);
  if (*check) return CheckConfig(config_path);
  return 2;
}
