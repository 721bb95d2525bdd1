// validation_config.h — the `recipient_validation:` section of the gateway schema (CONTRACT §13):
// always_accept, cache_ttl, max_invalid_recipients_per_hour and the `ldap` / `call_ahead` methods.
// Internal to config/ (gateway_config.cc calls it after accepted_domains is read: the methods'
// domains must lie inside it); errors go to the Context with file and line.
//
// The LDAP password is read here from password_file (relative to the config file's directory),
// its trailing newline dropped; no error message ever contains it, only the file's name.
// A domain in both ldap.domains and call_ahead.domains is allowed: call-ahead answers for it
// (CONTRACT §13 "takes precedence"), as the Validator does.
#pragma once

#include "config/config.h"
#include "config/yaml_reader.h"

namespace tidegate::config::internal {

void ReadRecipientValidation(Context& ctx, MapReader& root, GatewayConfig* out);

}  // namespace tidegate::config::internal
