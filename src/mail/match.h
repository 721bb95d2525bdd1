// match.h — the one matcher for domain and address patterns: accepted_domains, smtp_routes keys
// and the senders/recipients of incoming mail policies (CONTRACT §3) all parse and match here.
//
// Domain patterns: "example.com" matches exactly that domain; ".example.com" matches any
// subdomain of it ("a.example.com", "a.b.example.com"), never "example.com" itself nor
// "badexample.com". Address patterns: "user@example.com", "@example.com", "@.example.com" (any
// subdomain), "user@" (that local part at any domain); the last '@' splits them, since a quoted
// local part may itself contain one. Matching is ASCII case-insensitive; local parts compare
// unquoted ("\"John\"@x" is john@x). Patterns are as strict as an envelope address without
// SMTPUTF8: LDH domains (no trailing dot, no address literal), a dot-string or quoted local part,
// no 8-bit bytes. An address's 8-bit bytes never fold, so they match byte for byte.
// Pure functions and plain values; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "mail/address.h"

namespace tidegate::mail {

struct DomainPattern {
  std::string domain;  // lower-case, without the leading dot
  bool subdomains = false;
  // `name` in any case; an address literal or a trailing dot never matches.
  bool Matches(std::string_view name) const;
  std::string str() const { return (subdomains ? "." : "") + domain; }
  friend bool operator==(const DomainPattern&, const DomainPattern&) = default;
};

// "example.com" or ".example.com". Errors: "bad domain".
base::Result<DomainPattern> ParseDomainPattern(std::string_view text);

struct AddressPattern {
  std::string local;                           // as written (quotes kept); "" = any local part
  std::string local_folded;                    // unquoted, lower-case: what Matches() compares
  std::optional<DomainPattern> domain;         // nullopt = any domain
  bool Matches(const Address& address) const;  // the null path <> never matches
  // Normalised text: the local part as written, '@', the domain pattern in lower case.
  std::string str() const { return local + "@" + (domain ? domain->str() : ""); }
};

// Errors carry the reason alone ("missing '@'", "empty pattern", "bad domain",
// "bad local part: <why>") for the caller to put in context.
base::Result<AddressPattern> ParseAddressPattern(std::string_view text);

}  // namespace tidegate::mail
