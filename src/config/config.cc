// config.cc — the small methods of the snapshot types (see config.h). The loaders live in
// gateway_config.cc and intake_config.cc.
#include "config/config.h"

#include <algorithm>
#include <cassert>

namespace tidegate::config {

std::string Endpoint::str() const {
  const std::string p = std::to_string(port);
  return host.find(':') != std::string::npos ? "[" + host + "]:" + p : host + ":" + p;
}

std::string_view TlsProfileName(TlsProfile profile) {
  return profile == TlsProfile::kIntermediate ? "intermediate" : "opportunistic";
}

bool GatewayConfig::IsAcceptedDomain(std::string_view domain) const {
  return std::any_of(accepted_domains.begin(), accepted_domains.end(),
                     [&](const DomainPattern& pattern) { return pattern.Matches(domain); });
}

const Policy* GatewayConfig::FindPolicy(std::string_view name) const {
  for (const Policy& policy : policies) {
    if (policy.name == name) return &policy;
  }
  return nullptr;
}

std::optional<mail::Address> GatewayConfig::JournalAddress(const Policy& policy) const {
  if (!tdc.enabled) return std::nullopt;
  switch (policy.tdc.mode) {
    case PolicyTdcMode::kOff:
      return std::nullopt;
    case PolicyTdcMode::kGlobal:
      return tdc.intake_address;
    case PolicyTdcMode::kCustom:
      return policy.tdc.intake_address;
    case PolicyTdcMode::kDefault:
      // The loader guarantees DEFAULT never says "default", so this recurses at most once.
      assert(DefaultPolicy().tdc.mode != PolicyTdcMode::kDefault);
      return JournalAddress(DefaultPolicy());
  }
  return std::nullopt;
}

namespace {
// One policy's own scan setting resolved: kOn → its settings, kOff → off, kDefault → DEFAULT's
// (DEFAULT itself absent = on with the default actions, when the engine is configured).
template <typename Settings, typename PolicySetting>
Settings ResolveScan(bool engine_configured, const PolicySetting& own, const PolicySetting& dflt) {
  Settings off;
  off.enabled = false;
  if (!engine_configured) return off;
  const PolicySetting& s = own.mode == PolicyScanMode::kDefault ? dflt : own;
  if (s.mode == PolicyScanMode::kOff) return off;
  Settings on = s.mode == PolicyScanMode::kOn ? s.settings : Settings{};
  on.enabled = true;
  return on;
}
}  // namespace

AntiSpamSettings GatewayConfig::AntiSpamFor(const Policy& policy) const {
  return ResolveScan<AntiSpamSettings>(anti_spam.has_value(), policy.anti_spam,
                                       DefaultPolicy().anti_spam);
}

AntiVirusSettings GatewayConfig::AntiVirusFor(const Policy& policy) const {
  return ResolveScan<AntiVirusSettings>(anti_virus.has_value(), policy.anti_virus,
                                        DefaultPolicy().anti_virus);
}

const IntakeAccount* IntakeConfig::FindAccountByAddress(const mail::Address& address) const {
  const std::string wanted = mail::AsciiLower(address.str());
  for (const IntakeAccount& account : accounts) {
    if (mail::AsciiLower(account.intake_address.str()) == wanted) return &account;
  }
  return nullptr;
}

const IntakeAccount* IntakeConfig::FindAccountByName(std::string_view name) const {
  for (const IntakeAccount& account : accounts) {
    if (account.name == name) return &account;
  }
  return nullptr;
}

}  // namespace tidegate::config
