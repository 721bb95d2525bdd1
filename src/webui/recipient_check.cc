// recipient_check.cc — see recipient_check.h.
#include "webui/recipient_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>

#include "base/units.h"
#include "mail/address.h"

namespace tidegate::webui {

namespace asio = boost::asio;

namespace {

// Longer than any answer the Validator gives (its deadline is the method's timeout).
config::Duration Deadline(const config::GatewayConfig& cfg) {
  config::Duration longest{0};
  const config::RecipientValidation& rv = cfg.recipient_validation;
  if (rv.ldap) longest = std::max(longest, rv.ldap->timeout);
  if (rv.call_ahead) longest = std::max(longest, rv.call_ahead->timeout);
  return longest + std::chrono::seconds(5);
}

}  // namespace

asio::awaitable<base::Result<RecipientCheck>> CheckRecipient(const AdminContext& ctx,
                                                             std::string_view text) {
  auto address = mail::ParseMailbox(text);
  if (!address) {
    co_return base::MakeError(fmt::format("not an email address ({})", address.error().message));
  }
  auto cfg = ctx.config();
  if (!cfg->IsAcceptedDomain(address->domain)) {
    co_return base::MakeError(fmt::format(
        "{} is not an accepted domain: recipient validation applies to accepted domains only",
        address->domain));
  }
  if (!ctx.test_recipient) co_return base::MakeError(std::string(kValidationNotRunning));

  struct State {
    explicit State(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    std::optional<validation::Verdict> verdict;
  };
  const config::Duration limit = Deadline(*cfg);
  auto state = std::make_shared<State>(co_await asio::this_coro::executor);
  state->timer.expires_after(limit);
  // `done` runs on this (the io) thread: no lock. A late answer after the deadline is dropped.
  ctx.test_recipient(*address, [state](validation::Verdict v) {
    if (state->verdict) return;
    state->verdict = std::move(v);
    state->timer.cancel();
  });
  if (!state->verdict) {
    boost::system::error_code ec;
    co_await state->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!state->verdict) {
    state->verdict = validation::Verdict{};  // from now on, a late answer is ignored
    co_return base::MakeError(fmt::format(
        "no answer within {}",
        base::FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(limit))));
  }
  co_return RecipientCheck{address->str(), *state->verdict};
}

int CheckErrorStatus(const base::Error& error) {
  if (error.message == kValidationNotRunning) return 503;
  if (error.message.starts_with("no answer within")) return 504;
  return 400;
}

bool VerdictValidated(const validation::Verdict& v) {
  return v.method != validation::Method::kNone || v.always_accept || v.cached;
}

const char* VerdictName(const validation::Verdict& v) {
  switch (v.kind) {
    case validation::Verdict::Kind::kAccept:
      return "accept";
    case validation::Verdict::Kind::kUnknown:
      return "unknown";
    case validation::Verdict::Kind::kTempFail:
      return "tempfail";
    case validation::Verdict::Kind::kHarvestLimit:
      return "harvest_limit";
  }
  return "accept";
}

std::string VerdictSummary(const validation::Verdict& v, std::string_view address) {
  switch (v.kind) {
    case validation::Verdict::Kind::kAccept:
      return v.failure ? "accepted on failure (on_failure: accept)" : "accepted";
    case validation::Verdict::Kind::kUnknown:
      return fmt::format("refused: 550 5.1.1 <{}>: Recipient address rejected: User unknown",
                         address);
    case validation::Verdict::Kind::kTempFail:
      return "temporary failure: 451 4.4.3 (on_failure: tempfail)";
    case validation::Verdict::Kind::kHarvestLimit:
      return "refused: 421 4.7.0 directory harvest limit";
  }
  return "accepted";
}

const char* VerdictMethod(const validation::Verdict& v) {
  return v.method == validation::Method::kNone ? "none" : validation::MethodName(v.method);
}

std::string VerdictSource(const validation::Verdict& v) {
  if (v.always_accept) return "always_accept";
  if (v.cached) {
    return v.method == validation::Method::kNone
               ? std::string("cached")
               : fmt::format("cached ({})", validation::MethodName(v.method));
  }
  if (v.method == validation::Method::kNone) return "not validated";
  return validation::MethodName(v.method);
}

}  // namespace tidegate::webui
