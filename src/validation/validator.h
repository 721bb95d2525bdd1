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

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "config/config.h"
#include "mail/address.h"
#include "mail/match.h"
#include "validation/cache.h"
#include "validation/harvest.h"
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

// The words of the Web UI and the API for a verdict: "accept", "unknown", "tempfail",
// "harvest-limit".
const char* KindName(Verdict::Kind kind);

class Validator : public std::enable_shared_from_this<Validator> {
 public:
  struct Methods {
    std::shared_ptr<Lookup> ldap;        // null when not configured
    std::shared_ptr<Lookup> call_ahead;  // null when not configured
  };

  // `harvest` is shared across reloads (the counts outlive a settings change); the cache is the
  // Validator's own (a new Validator, on a settings change, starts empty).
  Validator(boost::asio::any_io_executor executor, config::RecipientValidation settings,
            std::vector<config::DomainPattern> accepted_domains, Methods methods,
            std::shared_ptr<HarvestLimiter> harvest, const base::Clock* clock);

  // True when some recipient could be refused: a method is configured.
  bool active() const { return methods_.ldap || methods_.call_ahead; }
  // The method that validates this recipient's domain, kNone when it is not validated.
  Method MethodFor(const mail::Address& address) const;
  bool AlwaysAccepted(const mail::Address& address) const;

  // The RCPT-time path (counts unknown recipients for the harvest limit).
  void Validate(Query query, std::function<void(Verdict)> done);
  // The lookup test: the same path without the harvest count.
  void Explain(const mail::Address& address, std::function<void(Verdict)> done);

  const config::RecipientValidation& settings() const { return settings_; }

 private:
  void Run(Query query, bool count_harvest, std::function<void(Verdict)> done);
  Verdict FromAnswer(Method method, Outcome outcome, std::string reason, bool cached,
                     const Query& query, bool count_harvest);

  boost::asio::any_io_executor executor_;
  config::RecipientValidation settings_;
  std::vector<config::DomainPattern> accepted_domains_;
  Methods methods_;
  std::vector<mail::AddressPattern> always_accept_;  // settings_.always_accept, parsed
  std::shared_ptr<HarvestLimiter> harvest_;
  const base::Clock* clock_;
  Cache cache_;
};

}  // namespace tidegate::validation
