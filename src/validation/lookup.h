// lookup.h — one recipient-validation method (CONTRACT §13): "does this mailbox exist?"
//
// Implemented by LdapLookup (ldap_lookup.h: an LDAP accept query on a worker pool) and CallAhead
// (call_ahead.h: an SMTP probe of the domain's next hop). The Validator (validator.h) puts
// always_accept, the cache, the deadline and the harvest limit around them; a method only
// answers the question.
//
// Contract for implementations:
// - Find() never blocks the caller (the event loop): no network I/O, no libldap call on the
//   calling thread.
// - `done` is called exactly once, on any thread, possibly before Find() returns. The caller's
//   deadline may have answered already by then; a late answer is simply dropped by the caller.
// - Only a definite answer is kKnown/kUnknown; every failure (refused, reset, timeout, bad bind,
//   4xx, garbage) is kFailure with a short reason for the mail log. Never a verdict from an error.
// - `reason` is our own text (no bytes from the peer other than a sanitized reply/error string),
//   never contains a password.
// - The object may be destroyed while lookups run (on reload): their `done` is then still called
//   once (kFailure "shutting down") or not at all — never after the destructor returned with a
//   dangling object. Callers hold their own state through shared/weak pointers.
#pragma once

#include <functional>
#include <string>

#include "mail/address.h"

namespace tidegate::validation {

enum class Method { kNone, kLdap, kCallAhead };

// "ldap", "call-ahead" (the mail log's words, CONTRACT §13); "" for kNone.
const char* MethodName(Method method);

enum class Outcome { kKnown, kUnknown, kFailure };

struct Answer {
  Outcome outcome = Outcome::kFailure;
  // Mail-log text: for kUnknown e.g. "no entry" / "550 5.1.1 user unknown"; for kFailure e.g.
  // "timeout after 5s", "bind failed: Invalid credentials", "451 4.3.0 try later".
  std::string reason;
};

class Lookup {
 public:
  using Done = std::function<void(Answer)>;
  virtual ~Lookup() = default;
  virtual Method method() const = 0;
  // The address as received (quoted local part decoded; domain as given).
  virtual void Find(const mail::Address& address, Done done) = 0;
};

}  // namespace tidegate::validation
