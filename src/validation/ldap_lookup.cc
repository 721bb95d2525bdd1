// ldap_lookup.cc — see ldap_lookup.h.
#include "validation/ldap_lookup.h"

#include <ldap.h>
#include <sys/time.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "validation/ldap_filter.h"

namespace tidegate::validation {
namespace {

using Clock = std::chrono::steady_clock;

// "5s", "1500ms": the configured timeout as the mail log shows it.
std::string FormatTimeout(config::Duration timeout) {
  auto ms = timeout.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

timeval Remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
  left = std::max(left, std::chrono::microseconds(1000));  // 0 would mean "no limit"
  return timeval{static_cast<time_t>(left.count() / 1'000'000),
                 static_cast<suseconds_t>(left.count() % 1'000'000)};
}

bool Unreachable(int rc) { return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR; }
bool TimedOut(int rc) { return rc == LDAP_TIMEOUT || rc == LDAP_TIMELIMIT_EXCEEDED; }

Answer Failure(std::string reason) { return Answer{Outcome::kFailure, std::move(reason)}; }

}  // namespace

// One worker thread's connection: an LDAP* handle (or none) and the lookups made on it.
class LdapLookup::Worker {
 public:
  explicit Worker(const config::LdapValidation& settings) : settings_(settings) {}
  ~Worker() { Drop(); }

  Answer Lookup(const mail::Address& address, Clock::time_point deadline) {
    if (Clock::now() >= deadline) return Failure(TimeoutReason());
    bool fresh = false;
    if (ld_ == nullptr) {
      if (auto failed = Connect(deadline)) return Failure(*std::move(failed));
      fresh = true;
    }
    int rc = LDAP_SUCCESS;
    Answer answer = Search(address, deadline, rc);
    if (Unreachable(rc) && !fresh) {
      // The server closed this kept connection (restarted, idle timeout): once more, afresh.
      Drop();
      if (auto failed = Connect(deadline)) return Failure(*std::move(failed));
      answer = Search(address, deadline, rc);
    }
    if (answer.outcome == Outcome::kFailure) Drop();
    return answer;
  }

 private:
  std::string TimeoutReason() const { return "timeout after " + FormatTimeout(settings_.timeout); }

  void Drop() {
    if (ld_ != nullptr) ldap_unbind_ext_s(ld_, nullptr, nullptr);
    ld_ = nullptr;
    uri_.clear();
  }

  // Options for the next synchronous operation on `ld`: no call waits past the deadline.
  static void SetTimeouts(LDAP* ld, Clock::time_point deadline) {
    timeval left = Remaining(deadline);
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &left);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &left);
  }

  // Connects (and binds) to the first URI that can be reached; the failure's reason otherwise.
  std::optional<std::string> Connect(Clock::time_point deadline) {
    std::string unreachable;
    for (const std::string& uri : settings_.uris) {
      if (Clock::now() >= deadline) return TimeoutReason();
      LDAP* ld = nullptr;
      int rc = ldap_initialize(&ld, uri.c_str());
      if (rc != LDAP_SUCCESS || ld == nullptr) {
        unreachable = "bad LDAP URI " + uri + ": " + ldap_err2string(rc);
        continue;
      }
      int version = LDAP_VERSION3;
      ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
      ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
      SetTimeouts(ld, deadline);
      rc = ldap_connect(ld);
      if (Unreachable(rc) || TimedOut(rc)) {
        ldap_unbind_ext_s(ld, nullptr, nullptr);
        unreachable = "cannot reach " + uri;
        continue;  // fail over to the next URI
      }
      std::optional<std::string> failed;
      if (rc != LDAP_SUCCESS) {
        failed = "connecting to " + uri + " failed: " + ldap_err2string(rc);
      } else if (settings_.starttls) {
        SetTimeouts(ld, deadline);
        rc = ldap_start_tls_s(ld, nullptr, nullptr);
        if (rc != LDAP_SUCCESS) {
          failed = TimedOut(rc) ? TimeoutReason()
                                : "StartTLS with " + uri + " failed: " + ldap_err2string(rc);
        }
      }
      if (!failed && !settings_.bind_dn.empty()) {
        SetTimeouts(ld, deadline);
        berval credentials{static_cast<ber_len_t>(settings_.password.size()),
                           const_cast<char*>(settings_.password.data())};
        rc = ldap_sasl_bind_s(ld, settings_.bind_dn.c_str(), LDAP_SASL_SIMPLE, &credentials,
                              nullptr, nullptr, nullptr);
        if (rc != LDAP_SUCCESS) {
          failed = TimedOut(rc)      ? TimeoutReason()
                   : Unreachable(rc) ? "cannot reach " + uri
                                     : std::string("bind failed: ") + ldap_err2string(rc);
        }
      }
      if (failed) {
        ldap_unbind_ext_s(ld, nullptr, nullptr);
        return failed;
      }
      ld_ = ld;
      uri_ = uri;
      return std::nullopt;
    }
    return unreachable.empty() ? std::string("no LDAP URI") : unreachable;
  }

  Answer Search(const mail::Address& address, Clock::time_point deadline, int& rc) {
    const std::string filter = ExpandFilter(settings_.filter, address);
    char no_attributes[] = LDAP_NO_ATTRS;
    char* attributes[] = {no_attributes, nullptr};
    SetTimeouts(ld_, deadline);
    timeval left = Remaining(deadline);
    auto seconds = std::chrono::ceil<std::chrono::seconds>(settings_.timeout).count();
    LDAPMessage* result = nullptr;
    rc = ldap_search_ext_s(ld_, settings_.base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(),
                           attributes, 0, nullptr, nullptr, &left,
                           static_cast<int>(std::max<decltype(seconds)>(seconds, 1)), &result);
    int entries = result != nullptr ? ldap_count_entries(ld_, result) : 0;
    if (result != nullptr) ldap_msgfree(result);
    if ((rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) && entries > 0) {
      return Answer{Outcome::kKnown, "entry found"};
    }
    if (rc == LDAP_SUCCESS) return Answer{Outcome::kUnknown, "no entry"};
    if (rc == LDAP_NO_SUCH_OBJECT) return Answer{Outcome::kUnknown, "no entry (no such base)"};
    if (TimedOut(rc)) return Failure(TimeoutReason());
    if (Unreachable(rc)) return Failure("cannot reach " + uri_);
    return Failure(std::string("search failed: ") + ldap_err2string(rc));
  }

  const config::LdapValidation& settings_;
  LDAP* ld_ = nullptr;
  std::string uri_;  // the URI ld_ is connected to
};

LdapLookup::LdapLookup(config::LdapValidation settings, std::size_t workers, std::size_t max_queued)
    : settings_(std::move(settings)), max_queued_(std::max<std::size_t>(max_queued, 1)) {
  // libldap's global defaults are set up on first use; do it here, once, before any worker.
  static std::once_flag init;
  std::call_once(init, [] {
    int version = 0;
    ldap_get_option(nullptr, LDAP_OPT_PROTOCOL_VERSION, &version);
  });
  workers = std::max<std::size_t>(workers, 1);
  threads_.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { Run(); });
}

LdapLookup::~LdapLookup() {
  std::deque<Request> queued;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queued.swap(queue_);
  }
  wake_.notify_all();
  for (Request& request : queued) request.done(Failure("shutting down"));
  for (std::thread& thread : threads_) thread.join();
}

void LdapLookup::Find(const mail::Address& address, Done done) {
  std::unique_lock lock(mutex_);
  if (stopping_ || queue_.size() >= max_queued_) {
    std::string reason = stopping_ ? "shutting down" : "too many lookups queued";
    lock.unlock();
    done(Failure(std::move(reason)));
    return;
  }
  queue_.push_back(Request{address, std::move(done), Clock::now() + settings_.timeout});
  lock.unlock();
  wake_.notify_one();
}

void LdapLookup::Run() {
  Worker worker(settings_);
  for (;;) {
    Request request;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      request = std::move(queue_.front());
      queue_.pop_front();
    }
    request.done(worker.Lookup(request.address, request.deadline));
  }
}

}  // namespace tidegate::validation
