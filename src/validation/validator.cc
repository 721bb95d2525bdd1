// validator.cc — see validator.h.
#include "validation/validator.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "mail/match.h"

namespace tidegate::validation {

namespace asio = boost::asio;

const char* KindName(Verdict::Kind kind) {
  switch (kind) {
    case Verdict::Kind::kAccept:
      return "accept";
    case Verdict::Kind::kUnknown:
      return "unknown";
    case Verdict::Kind::kTempFail:
      return "tempfail";
    case Verdict::Kind::kHarvestLimit:
      return "harvest-limit";
  }
  return "accept";
}

namespace {

bool AnyMatches(const std::vector<config::DomainPattern>& patterns, std::string_view domain) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const config::DomainPattern& p) { return p.Matches(domain); });
}

// A lookup in flight: answered once, by the method or by the deadline, on the executor.
struct Pending {
  Pending(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  bool answered = false;
};

}  // namespace

Validator::Validator(asio::any_io_executor executor, config::RecipientValidation settings,
                     std::vector<config::DomainPattern> accepted_domains, Methods methods,
                     std::shared_ptr<HarvestLimiter> harvest, const base::Clock* clock)
    : executor_(std::move(executor)),
      settings_(std::move(settings)),
      accepted_domains_(std::move(accepted_domains)),
      methods_(std::move(methods)),
      harvest_(std::move(harvest)),
      clock_(clock),
      cache_(clock, settings_.cache_ttl) {
  if (!harvest_) harvest_ = std::make_shared<HarvestLimiter>(clock_);
  // The policy table's matcher: "local@" is that local part in any domain (the reader checked
  // every entry's syntax).
  for (const std::string& entry : settings_.always_accept) {
    if (auto pattern = mail::ParseAddressPattern(entry)) always_accept_.push_back(*pattern);
  }
  harvest_->set_max(settings_.max_invalid_recipients_per_hour);
}

Method Validator::MethodFor(const mail::Address& address) const {
  if (address.domain_literal()) return Method::kNone;
  std::string domain = address.domain_lower();
  if (methods_.call_ahead && settings_.call_ahead && AnyMatches(settings_.call_ahead->domains, domain)) {
    return Method::kCallAhead;
  }
  if (methods_.ldap && settings_.ldap) {
    if (settings_.ldap->domains.empty()) {
      if (AnyMatches(accepted_domains_, domain)) return Method::kLdap;
    } else if (AnyMatches(settings_.ldap->domains, domain)) {
      return Method::kLdap;
    }
  }
  return Method::kNone;
}

bool Validator::AlwaysAccepted(const mail::Address& address) const {
  return std::any_of(always_accept_.begin(), always_accept_.end(),
                     [&](const mail::AddressPattern& p) { return p.Matches(address); });
}

void Validator::Validate(Query query, std::function<void(Verdict)> done) {
  Run(std::move(query), true, std::move(done));
}

void Validator::Explain(const mail::Address& address, std::function<void(Verdict)> done) {
  Run(Query{0, "", address}, false, std::move(done));
}

Verdict Validator::FromAnswer(Method method, Outcome outcome, std::string reason, bool cached,
                              const Query& query, bool count_harvest) {
  Verdict v;
  v.method = method;
  v.reason = std::move(reason);
  v.cached = cached;
  v.looked_up = !cached;
  const auto& on_failure = method == Method::kCallAhead
                               ? settings_.call_ahead->on_failure
                               : settings_.ldap->on_failure;
  switch (outcome) {
    case Outcome::kKnown:
      v.kind = Verdict::Kind::kAccept;
      break;
    case Outcome::kUnknown:
      v.kind = count_harvest && harvest_->Count(query.client_ip) ? Verdict::Kind::kHarvestLimit
                                                                : Verdict::Kind::kUnknown;
      break;
    case Outcome::kFailure:
      v.failure = true;
      v.kind = on_failure == config::OnLookupFailure::kAccept ? Verdict::Kind::kAccept
                                                               : Verdict::Kind::kTempFail;
      break;
  }
  return v;
}

void Validator::Run(Query query, bool count_harvest, std::function<void(Verdict)> done) {
  auto self = shared_from_this();
  Method method = MethodFor(query.address);
  if (method == Method::kNone || AlwaysAccepted(query.address)) {
    Verdict v;
    v.always_accept = method != Method::kNone;
    asio::post(executor_, [done = std::move(done), v = std::move(v)]() mutable { done(v); });
    return;
  }
  if (auto hit = cache_.Find(query.address)) {
    Verdict v = FromAnswer(hit->method, hit->outcome, hit->reason, true, query, count_harvest);
    asio::post(executor_, [done = std::move(done), v = std::move(v)]() mutable { done(v); });
    return;
  }
  Lookup& lookup = method == Method::kCallAhead ? *methods_.call_ahead : *methods_.ldap;
  const config::Duration timeout =
      method == Method::kCallAhead ? settings_.call_ahead->timeout : settings_.ldap->timeout;
  auto pending = std::make_shared<Pending>(executor_);
  auto finish = std::make_shared<std::function<void(Answer)>>(
      [self, pending, method, query, count_harvest, done = std::move(done)](Answer a) mutable {
        if (pending->answered) return;
        pending->answered = true;
        pending->timer.cancel();
        if (a.outcome != Outcome::kFailure) {
          self->cache_.Store(query.address, {a.outcome, method, a.reason});
        }
        done(self->FromAnswer(method, a.outcome, std::move(a.reason), false, query,
                              count_harvest));
      });
  // The backstop: whatever the method does, the answer comes within its timeout + 500 ms.
  pending->timer.expires_after(timeout + std::chrono::milliseconds(500));
  pending->timer.async_wait([finish, timeout](boost::system::error_code ec) {
    if (ec) return;
    (*finish)(Answer{Outcome::kFailure,
                     fmt::format("no answer within {} ms", timeout.count())});
  });
  lookup.Find(query.address, [ex = executor_, finish](Answer a) {
    asio::post(ex, [finish, a = std::move(a)]() mutable { (*finish)(std::move(a)); });
  });
}

}  // namespace tidegate::validation
