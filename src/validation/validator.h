// validator.h — recipient validation at RCPT time (CONTRACT §13): the one entry point the SMTP
// session (and the Web UI's lookup test) uses.
//
// For a recipient in an accepted domain:
//   not in ldap.domains / call_ahead.domains  → kAccept (not validated; no lookup)
//   always_accept match                        → kAccept (never looked up)
//   cache hit (found / not found, cache_ttl)   → kAccept / kUnknown
//   else the method (call-ahead takes precedence for its domains, else LDAP), under a deadline on
//   the event loop: the answer comes within the method's `timeout` (+ the loop's latency) even if
//   the method never answers; found → kAccept, not found → kUnknown (both cached), failure →
//   kTempFail with on_failure: tempfail, kAccept with accept (never cached).
// A kUnknown counts for the client IP (IPv6 by /64) over a sliding hour; the one that would be
// number max_invalid_recipients_per_hour + 1, and every later one while the IP is over, is
// kHarvestLimit instead (the session answers 421 4.7.0 and closes).
//
// Threads: Validate/Explain/Apply on the event loop thread (the io_context given at creation);
// `done` is always called on that thread, never inline from Validate (posted), exactly once —
// unless the Validator is destroyed first, then not at all.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "mail/address.h"
#include "validation/lookup.h"

namespace tidegate::validation {

struct Query {
  std::uint64_t icid = 0;
  std::string client_ip;  // textual; the harvest limit's key (IPv6 by /64)
  mail::Address address;
};

struct Verdict {
  enum class Kind { kAccept, kUnknown, kTempFail, kHarvestLimit };
  Kind kind = Kind::kAccept;
  Method method = Method::kNone;  // which method answered (kNone: not validated / always_accept)
  std::string reason;             // the method's reason (mail log), "" when none
  bool looked_up = false;         // a method was asked (false: not validated, always_accept,
                                  // or cached)
  bool cached = false;            // the answer came from the cache
  bool always_accept = false;     // matched always_accept
  bool failure = false;           // the method failed (kTempFail, or kAccept by on_failure)
};

}  // namespace tidegate::validation
