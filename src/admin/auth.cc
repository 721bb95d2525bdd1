// auth.cc — see auth.h.
#include "admin/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cassert>
#include <vector>

namespace tidegate::admin {

namespace {

// SHA-256 as 32 raw bytes. Hashing first gives fixed-length inputs to CRYPTO_memcmp, so the
// comparison time does not depend on the length of the secret either.
std::string Sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  int ok = EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  // SHA-256 is always available in OpenSSL 3's default provider; failing here is a broken
  // installation, not an input problem.
  assert(ok == 1 && length == 32);
  (void)ok;
  return std::string(reinterpret_cast<const char*>(digest), length);
}

}  // namespace

base::Result<std::string> RandomHex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    return base::MakeError("the random number generator is not available");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---- Credentials ----

void Credentials::Set(std::string_view user, std::string_view password) {
  std::string user_digest = Sha256(user);
  std::string password_digest = Sha256(password);
  std::lock_guard lock(mu_);
  if (user_digest == user_digest_ && password_digest == password_digest_ &&
      has_password_ == !password.empty()) {
    return;
  }
  user_digest_ = std::move(user_digest);
  password_digest_ = std::move(password_digest);
  has_password_ = !password.empty();
  ++generation_;
}

bool Credentials::Check(std::string_view user, std::string_view password) const {
  std::string user_digest = Sha256(user);
  std::string password_digest = Sha256(password);
  std::lock_guard lock(mu_);
  if (!has_password_) return false;
  // Both comparisons always run (no short-circuit), so a wrong user name is not faster.
  int user_diff = CRYPTO_memcmp(user_digest.data(), user_digest_.data(), 32);
  int password_diff = CRYPTO_memcmp(password_digest.data(), password_digest_.data(), 32);
  return (user_diff | password_diff) == 0;
}

bool Credentials::IsUser(std::string_view user) const {
  std::string user_digest = Sha256(user);
  std::lock_guard lock(mu_);
  return !user_digest_.empty() && CRYPTO_memcmp(user_digest.data(), user_digest_.data(), 32) == 0;
}

std::uint64_t Credentials::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

// ---- SessionTable ----

SessionTable::SessionTable(SteadyClock::duration lifetime, SteadyClock::duration max_age,
                           std::size_t max_sessions)
    : lifetime_(lifetime),
      max_age_(max_age),
      max_sessions_(std::max<std::size_t>(1, max_sessions)) {}

void SessionTable::Prune(SteadyTime now) {
  std::erase_if(sessions_, [now](const auto& entry) { return entry.second.expires <= now; });
  while (sessions_.size() >= max_sessions_) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.expires < b.second.expires;
    });
    sessions_.erase(oldest);
  }
}

base::Result<std::string> SessionTable::Create(std::string user, std::uint64_t generation,
                                               SteadyTime now) {
  auto id = RandomHex(32);
  if (!id) return id.error();
  auto csrf = RandomHex(32);
  if (!csrf) return csrf.error();
  Prune(now);
  Session session;
  session.user = std::move(user);
  session.csrf_token = std::move(*csrf);
  session.created = now;
  session.expires = std::min(now + lifetime_, now + max_age_);
  session.generation = generation;
  sessions_[Sha256(*id)] = std::move(session);
  return id;
}

const Session* SessionTable::Find(std::string_view id, std::uint64_t generation, SteadyTime now) {
  auto it = sessions_.find(Sha256(id));
  if (it == sessions_.end()) return nullptr;
  Session& session = it->second;
  if (session.expires <= now || session.generation != generation) {
    sessions_.erase(it);
    return nullptr;
  }
  session.expires = std::min(now + lifetime_, session.created + max_age_);
  return &session;
}

void SessionTable::Erase(std::string_view id) { sessions_.erase(Sha256(id)); }

// ---- LoginThrottle ----

LoginThrottle::LoginThrottle(SteadyClock::duration initial, SteadyClock::duration max,
                             SteadyClock::duration forget, std::size_t max_tracked)
    : initial_(initial),
      max_(max),
      forget_(forget),
      max_tracked_(std::max<std::size_t>(1, max_tracked)) {}

SteadyTime LoginThrottle::Admit(const std::string& ip, SteadyTime now) {
  auto it = ips_.find(ip);
  if (it == ips_.end()) return now;
  State& state = it->second;
  if (now - state.last_failure >= forget_) {
    ips_.erase(it);
    return now;
  }
  SteadyTime slot = std::max(now, state.next_slot);
  state.next_slot = slot + state.delay;
  return slot;
}

std::uint32_t LoginThrottle::Failed(const std::string& ip, SteadyTime now) {
  ++failures_total_;
  if (ips_.find(ip) == ips_.end()) MakeRoom(now);
  State& state = ips_[ip];
  ++state.failures;
  // initial * 2^(failures-1), computed by doubling so that it cannot overflow.
  SteadyClock::duration delay = initial_;
  for (std::uint32_t i = 1; i < state.failures && delay < max_; ++i) delay *= 2;
  state.delay = std::min(delay, max_);
  state.last_failure = now;
  state.next_slot = std::max(state.next_slot, now + state.delay);
  return state.failures;
}

void LoginThrottle::Succeeded(const std::string& ip) { ips_.erase(ip); }

void LoginThrottle::MakeRoom(SteadyTime now) {
  if (ips_.size() < max_tracked_) return;
  std::erase_if(ips_,
                [&](const auto& entry) { return now - entry.second.last_failure >= forget_; });
  while (ips_.size() >= max_tracked_) {
    auto quietest = std::min_element(ips_.begin(), ips_.end(), [](auto& a, auto& b) {
      return a.second.last_failure < b.second.last_failure;
    });
    ips_.erase(quietest);
  }
}

}  // namespace tidegate::admin
