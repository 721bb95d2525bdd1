// auth.h — the admin server's authentication state: the configured credentials, the table of
// Web UI sessions and the per-source-IP slowdown of failed logins. Plus the secret helpers they
// share (random tokens, constant-time comparison).
//
// No I/O and no timers here: time comes in as arguments (steady_clock time points) so expiry and
// back-off are unit-tested without sleeping; the Server turns LoginThrottle's answers into timer
// waits.
//
// Threads: Credentials is thread-safe (a reload may replace it from any thread). SessionTable and
// LoginThrottle are plain objects used only from the admin server's io thread.
// Secrets (passwords, session ids, CSRF tokens) never appear in an Error or a log line made here.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "base/result.h"

namespace tidegate::admin {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

// `bytes` random bytes from OpenSSL's CSPRNG (RAND_bytes), as lower-case hex. Fails only if the
// CSPRNG cannot be seeded.
base::Result<std::string> RandomHex(std::size_t bytes);

// Compares without an early exit, so the time taken does not tell how much of a secret matched.
// Strings of different lengths are unequal (lengths of our tokens are public: 64 hex digits).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// The one user name and password of the admin server. Only SHA-256 digests are kept, and they are
// compared with CRYPTO_memcmp, so neither content nor length of the password leaks through timing.
// An empty configured password matches nothing (there is no default password).
class Credentials {
 public:
  void Set(std::string_view user, std::string_view password);
  // Both user and password must match; always compares both digests.
  bool Check(std::string_view user, std::string_view password) const;
  // Whether `user` is the configured user name (for log lines: a name that is not the user's
  // may be a password typed into the wrong field and is never logged).
  bool IsUser(std::string_view user) const;
  // Bumped by every Set() that changes something; sessions made before a change are void.
  std::uint64_t generation() const;

 private:
  mutable std::mutex mu_;
  std::string user_digest_;
  std::string password_digest_;
  bool has_password_ = false;
  std::uint64_t generation_ = 0;
};

struct Session {
  std::string user;
  std::string csrf_token;  // 64 hex digits; forms and X-CSRF-Token must carry it
  SteadyTime created;
  SteadyTime expires;  // sliding: every use moves it `lifetime` ahead
  std::uint64_t generation = 0;
};

// Web UI sessions, keyed by the SHA-256 of the session id (the id itself is known only to the
// browser, and a map lookup on a digest leaks nothing useful through timing). Sessions expire
// after `lifetime` without use, and at the latest `max_age` after login. At most `max_sessions`
// live at once; beyond that the one closest to expiry is dropped.
class SessionTable {
 public:
  SessionTable(SteadyClock::duration lifetime, SteadyClock::duration max_age,
               std::size_t max_sessions);

  // A new session for `user`; returns its id (64 hex digits, 256 random bits).
  base::Result<std::string> Create(std::string user, std::uint64_t generation, SteadyTime now);
  // The live session with this id, its expiry refreshed; nullptr if unknown, expired or from an
  // older credentials generation (those are erased on the way).
  const Session* Find(std::string_view id, std::uint64_t generation, SteadyTime now);
  void Erase(std::string_view id);
  std::size_t size() const { return sessions_.size(); }
  void set_lifetime(SteadyClock::duration lifetime) { lifetime_ = lifetime; }

 private:
  void Prune(SteadyTime now);

  SteadyClock::duration lifetime_;
  SteadyClock::duration max_age_;
  std::size_t max_sessions_;
  std::map<std::string, Session> sessions_;  // key: SHA-256(id), raw bytes
};

// Slows down password guessing per source IP. After the n-th failure in a row every further
// attempt from that IP (right or wrong) is admitted no earlier than `initial * 2^(n-1)` (capped
// at `max`) after the previous one, and parallel attempts queue one behind the other, so opening
// more connections does not buy more guesses. A success clears the IP; an IP quiet for `forget`
// starts afresh. At most `max_tracked` IPs are remembered (the longest-quiet go first).
class LoginThrottle {
 public:
  explicit LoginThrottle(SteadyClock::duration initial = std::chrono::milliseconds(250),
                         SteadyClock::duration max = std::chrono::seconds(8),
                         SteadyClock::duration forget = std::chrono::minutes(15),
                         std::size_t max_tracked = 10000);

  // Call before checking a password: the time at which the check may happen (`now` when the IP
  // has no recent failures). Reserves that slot for this attempt.
  SteadyTime Admit(const std::string& ip, SteadyTime now);
  // Records a failure; returns the number of failures in a row from this IP.
  std::uint32_t Failed(const std::string& ip, SteadyTime now);
  void Succeeded(const std::string& ip);

  std::uint64_t failures_total() const { return failures_total_; }
  std::size_t tracked() const { return ips_.size(); }

 private:
  struct State {
    std::uint32_t failures = 0;
    SteadyClock::duration delay{};
    SteadyTime next_slot;
    SteadyTime last_failure;
  };
  void MakeRoom(SteadyTime now);

  SteadyClock::duration initial_;
  SteadyClock::duration max_;
  SteadyClock::duration forget_;
  std::size_t max_tracked_;
  std::map<std::string, State> ips_;
  std::uint64_t failures_total_ = 0;
};

}  // namespace tidegate::admin
