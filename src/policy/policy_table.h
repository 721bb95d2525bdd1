// policy_table.h — incoming mail policies: which policy each recipient of a message belongs to.
//
// Built once per configuration snapshot from `incoming_mail_policies` (ordered; DEFAULT last and
// catching everything). A policy matches a recipient when its sender condition holds (no sender
// patterns = any sender) and its recipient condition holds (no recipient patterns = any
// recipient); so a policy that names only senders takes all of a matching message's recipients.
// First match wins per recipient. Patterns (mail/match.h): "user@domain", "@domain", "@.domain"
// (subdomains of domain), "user@" (that local part at any domain); case-insensitive.
//
// Lookups are tri-state (match / no match / temporary failure, as OpenSMTPD's rulesets): a failed
// lookup never falls through to the next policy. Today every condition is static, so Assign()
// fails only on an inconsistent table; scanning verdicts and external lookups will plug in here.
// Immutable after Build(); thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "mail/address.h"
#include "mail/match.h"

namespace tidegate::policy {

enum class Match { kMatch, kNoMatch, kTempFail };

class PolicyTable {
 public:
  static base::Result<PolicyTable> Build(const config::GatewayConfig& config);

  // The recipients of one policy, as RIDs (indices into the recipient list), in RCPT order.
  struct Group {
    std::size_t policy = 0;  // index into config.policies
    std::vector<std::uint32_t> rids;
  };
  // Groups ordered by their first recipient's RID. Errors only for a temporary lookup failure.
  base::Result<std::vector<Group>> Assign(const mail::Address& sender,
                                          const std::vector<mail::Address>& recipients) const;
  Match MatchOne(std::size_t policy, const mail::Address& sender,
                 const mail::Address& recipient) const;
  std::size_t size() const { return policies_.size(); }

 private:
  struct Compiled {
    std::vector<mail::AddressPattern> recipients;
    std::vector<mail::AddressPattern> senders;
  };
  std::vector<Compiled> policies_;
};

}  // namespace tidegate::policy
