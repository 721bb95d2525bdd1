// ldap_lookup.h — the LDAP accept query of recipient validation (CONTRACT §13, issue 17).
//
// LdapLookup answers "does this mailbox exist?" with one subtree search under `base` for the
// operator's filter (ldap_filter.h: `{a}` `{u}` `{d}`, RFC 4515-escaped), attributes "1.1", size
// limit 1. libldap is synchronous, so lookups run on a small pool of worker threads, each with
// its own LDAP* handle kept open across lookups; Find() only queues (a bounded queue: full →
// kFailure "too many lookups queued" at once) and never calls libldap on the caller's thread.
//
// Per lookup, within `timeout` counted from Find(): (re)connect if the worker has no handle —
// the URIs in order (the next one when a server cannot be reached), protocol v3, network and
// operation timeouts, StartTLS when `starttls`, a simple bind with bind_dn/password when bind_dn
// is set (anonymous otherwise) — then the search. A reused handle whose server went away (a
// restarted slapd, an idle connection closed) is reconnected once before the lookup fails.
// Answers: an entry → kKnown; no entry or noSuchObject for the base → kUnknown; anything else
// (bind refused, another LDAP error, timeout, no server reachable) → kFailure with a short reason
// ("bind failed: Invalid credentials", "cannot reach ldap://…", "timeout after 5s"), and the
// worker drops its handle so the next lookup connects afresh. The password is never in a reason.
//
// `done` runs on a worker thread. The destructor answers queued requests kFailure "shutting
// down", lets running lookups finish (at most about one `timeout`) and joins the workers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "config/config.h"
#include "validation/lookup.h"

namespace tidegate::validation {

class LdapLookup : public Lookup {
 public:
  static constexpr std::size_t kDefaultWorkers = 4;
  static constexpr std::size_t kDefaultMaxQueued = 256;

  // `settings.uris` must not be empty; `workers` >= 1 (0 is taken as 1).
  explicit LdapLookup(config::LdapValidation settings, std::size_t workers = kDefaultWorkers,
                      std::size_t max_queued = kDefaultMaxQueued);
  ~LdapLookup() override;
  LdapLookup(const LdapLookup&) = delete;
  LdapLookup& operator=(const LdapLookup&) = delete;

  Method method() const override { return Method::kLdap; }
  void Find(const mail::Address& address, Done done) override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Request {
    mail::Address address;
    Done done;
    Clock::time_point deadline;
  };
  class Worker;

  void Run();

  const config::LdapValidation settings_;
  const std::size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request> queue_;  // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace tidegate::validation
