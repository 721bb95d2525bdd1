// policy_table.cc — see policy_table.h.
#include "policy/policy_table.h"

#include <algorithm>
#include <map>

namespace tidegate::policy {

base::Result<PolicyTable> PolicyTable::Build(const config::GatewayConfig& config) {
  PolicyTable table;
  for (const config::Policy& policy : config.policies) {
    Compiled c;
    auto compile = [&](const std::vector<std::string>& texts,
                       std::vector<mail::AddressPattern>* out) -> base::Status {
      for (const std::string& text : texts) {
        auto p = mail::ParseAddressPattern(text);
        if (!p) {
          return base::MakeError("policy " + policy.name + ": invalid pattern '" + text +
                                 "': " + p.error().message);
        }
        out->push_back(std::move(*p));
      }
      return base::Status::Ok();
    };
    if (auto s = compile(policy.recipients, &c.recipients); !s) return s.error();
    if (auto s = compile(policy.senders, &c.senders); !s) return s.error();
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
  auto any = [](const std::vector<mail::AddressPattern>& patterns, const mail::Address& a) {
    return patterns.empty() ||
           std::any_of(patterns.begin(), patterns.end(),
                       [&](const mail::AddressPattern& p) { return p.Matches(a); });
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
