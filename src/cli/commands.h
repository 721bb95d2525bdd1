// commands.h — the operator commands of CONTRACT §2 (tophosts, status, workqueue, hoststatus,
// track, tdcconfig, policyconfig, configs), run against the running gateway's admin API (admin.bind,
// admin.user, admin.password_file of the same configuration file).
// Output goes to `out`, errors to `err`; the return value is the process exit code:
// 0 ok, 1 error (API unreachable, refused change...), 2 usage error.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "config/config.h"

namespace tidegate::cli {

struct CommandOptions {
  bool json = false;  // print the API's JSON instead of the human layout
  // Cluster mode (CONTRACT §11): changing commands send these with the change.
  std::optional<std::string> comment;        // --comment TEXT
  std::optional<std::string> base_revision;  // --base-revision N
  bool cluster = false;                      // --cluster: status/tophosts over every machine
};

int RunCommand(const config::GatewayConfig& config, const std::string& command,
               const std::vector<std::string>& args, const CommandOptions& options,
               std::ostream& out, std::ostream& err);

// Percent-encoding for query values.
std::string UrlEncode(std::string_view text);

}  // namespace tidegate::cli
