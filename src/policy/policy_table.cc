// policy_table.cc — see policy_table.h.
#include "policy/policy_table.h"

#include <algorithm>
#include <map>

namespace tidegate::policy {

bool Pattern::Matches(const mail::Address& address) const {
  if (address.null()) return local.empty() && domain.empty();
  if (!local.empty() && mail::AsciiLower(address.local_unquoted()) != local) return false;
  if (domain.empty()) return true;
  const std::string d = address.domain_lower();
  if (!subdomains) return d == domain;
  return d.size() > domain.size() + 1 && d.ends_with(domain) &&
         d[d.size() - domain.size() - 1] == '.';
}

base::Result<Pattern> ParsePattern(std::string_view text) {
  const size_t at = text.rfind('@');
  if (at == std::string_view::npos) {
    return base::MakeError("policy pattern '" + std::string(text) + "' needs an @");
  }
  Pattern p;
  p.local = mail::AsciiLower(text.substr(0, at));
  std::string_view domain = text.substr(at + 1);
  if (!domain.empty() && domain[0] == '.') {
    p.subdomains = true;
    domain.remove_prefix(1);
  }
  p.domain = mail::AsciiLower(domain);
  if (p.local.empty() && p.domain.empty()) {
    return base::MakeError("policy pattern '" + std::string(text) + "' matches nothing specific");
  }
  if (!p.domain.empty() && !mail::IsValidDomain(p.domain, true)) {
    return base::MakeError("policy pattern '" + std::string(text) + "' has an invalid domain");
  }
  return p;
}

base::Result<PolicyTable> PolicyTable::Build(const config::GatewayConfig& config) {
  PolicyTable table;
  for (const config::Policy& policy : config.policies) {
    Compiled c;
    for (const std::string& r : policy.recipients) {
      auto p = ParsePattern(r);
      if (!p) return base::MakeError("policy " + policy.name + ": " + p.error().message);
      c.recipients.push_back(*p);
    }
    for (const std::string& s : policy.senders) {
      auto p = ParsePattern(s);
      if (!p) return base::MakeError("policy " + policy.name + ": " + p.error().message);
      c.senders.push_back(*p);
    }
    table.policies_.push_back(std::move(c));
  }
  if (table.policies_.empty() || config.policies.back().name != config::kDefaultPolicyName) {
    return base::MakeError("the policy table must end with DEFAULT");
  }
  return table;
}

Match PolicyTable::MatchOne(std::size_t index, const mail::Address& sender,
                            const mail::Address& recipient) const {
  const Compiled& c = policies_[index];
  auto any = [](const std::vector<Pattern>& patterns, const mail::Address& a) {
    return patterns.empty() ||
           std::any_of(patterns.begin(), patterns.end(),
                       [&](const Pattern& p) { return p.Matches(a); });
  };
  return any(c.senders, sender) && any(c.recipients, recipient) ? Match::kMatch : Match::kNoMatch;
}

base::Result<std::vector<PolicyTable::Group>> PolicyTable::Assign(
    const mail::Address& sender, const std::vector<mail::Address>& recipients) const {
  std::vector<Group> groups;
  std::map<std::size_t, std::size_t> group_of_policy;
  for (std::uint32_t rid = 0; rid < recipients.size(); ++rid) {
    std::size_t chosen = policies_.size();
    for (std::size_t i = 0; i < policies_.size(); ++i) {
      Match m = MatchOne(i, sender, recipients[rid]);
      if (m == Match::kTempFail) {
        return base::MakeError("policy lookup failed temporarily for RID " + std::to_string(rid));
      }
      if (m == Match::kMatch) {
        chosen = i;
        break;
      }
    }
    // DEFAULT has no conditions, so something always matches; an empty table was refused.
    if (chosen == policies_.size()) chosen = policies_.size() - 1;
    auto [it, inserted] = group_of_policy.emplace(chosen, groups.size());
    if (inserted) groups.push_back(Group{chosen, {}});
    groups[it->second].rids.push_back(rid);
  }
  return groups;
}

}  // namespace tidegate::policy
