// cluster_config.h — the `cluster:` section and the `tracking:` section of the gateway schema
// (CONTRACT §11, §7): cluster name, machine, group, etcd endpoints/prefix/TLS/authentication,
// and the tracking backend (sqlite | postgresql) with its on-disk buffer bound.
// Internal to config/ (gateway_config.cc calls it); errors go to the Context with file and line.
// Passwords are read from their password files here and never appear in an error.
#pragma once

#include "config/config.h"
#include "config/yaml_reader.h"

namespace tidegate::config::internal {

void ReadCluster(Context& ctx, MapReader& root, GatewayConfig* out);
void ReadTracking(Context& ctx, MapReader& root, Tracking* out);

}  // namespace tidegate::config::internal
