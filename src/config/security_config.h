// security_config.h — the content-security part of the gateway schema (CONTRACT §10): the global
// `anti_spam`, `anti_virus` and `quarantine` blocks and each policy's `anti_spam` / `anti_virus`.
// Internal to config/ (gateway_config.cc calls it); errors go to the Context with file and line.
#pragma once

#include <optional>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace tidegate::config::internal {

void ReadContentSecurity(Context& ctx, MapReader& root, GatewayConfig* out);
// A policy's setting: `default` (not on DEFAULT), `off`, or a map of actions.
std::optional<PolicyAntiSpam> ReadPolicyAntiSpam(Context& ctx, const Field& f, bool is_default);
std::optional<PolicyAntiVirus> ReadPolicyAntiVirus(Context& ctx, const Field& f, bool is_default);
// After the policies are read: a policy may not turn on an engine the configuration lacks.
void CheckPolicyEngines(Context& ctx, const GatewayConfig& config);

}  // namespace tidegate::config::internal
