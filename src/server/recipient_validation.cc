// recipient_validation.cc — see recipient_validation.h.
#include "server/recipient_validation.h"

#include <fmt/format.h>

namespace tidegate::server {

RecipientValidation::RecipientValidation(boost::asio::any_io_executor executor,
                                         telemetry::Counters* counters, const base::Clock* clock,
                                         MethodFactory factory)
    : executor_(std::move(executor)),
      counters_(counters),
      clock_(clock),
      factory_(std::move(factory)),
      harvest_(std::make_shared<validation::HarvestLimiter>(clock)) {}

void RecipientValidation::ApplyConfig(const std::shared_ptr<const config::GatewayConfig>& cfg) {
  if (applied_once_ && cfg->recipient_validation == applied_ &&
      cfg->accepted_domains == applied_domains_) {
    return;  // unchanged: keep the Validator and its cache
  }
  applied_once_ = true;
  applied_ = cfg->recipient_validation;
  applied_domains_ = cfg->accepted_domains;
  harvest_->set_max(applied_.max_invalid_recipients_per_hour);
  validation::Validator::Methods methods;
  if (applied_.ldap || applied_.call_ahead) methods = factory_(*cfg);
  if (!methods.ldap && !methods.call_ahead) {
    validator_.reset();
    return;
  }
  validator_ = std::make_shared<validation::Validator>(executor_, applied_, applied_domains_,
                                                       std::move(methods), harvest_, clock_);
}

void RecipientValidation::Lookup(const std::shared_ptr<validation::Validator>& validator,
                                 telemetry::Counters* counters, std::uint64_t icid,
                                 const std::string& client_ip, const mail::Address& recipient,
                                 std::function<void(inbound::RecipientLookupAnswer)> done) {
  using Kind = validation::Verdict::Kind;
  validator->Validate(
      validation::Query{icid, client_ip, recipient},
      [counters, icid, client_ip, address = recipient.str(),
       done = std::move(done)](validation::Verdict v) {
        inbound::RecipientLookupAnswer answer;
        const char* method = validation::MethodName(v.method);
        std::string reason = v.reason + (v.cached ? " (cached)" : "");
        switch (v.kind) {
          case Kind::kAccept:
            answer.result = smtp::LookupResult::kAccept;
            if (v.failure) {
              answer.log_line = fmt::format("ICID {} accepted RCPT <{}> on lookup failure: {} {}",
                                            icid, address, method, reason);
            }
            break;
          case Kind::kUnknown:
            answer.result = smtp::LookupResult::kUnknown;
            answer.log_line =
                fmt::format("ICID {} rejected RCPT <{}>: {} {}", icid, address, method, reason);
            break;
          case Kind::kTempFail:
            answer.result = smtp::LookupResult::kTempFail;
            answer.log_line =
                fmt::format("ICID {} deferred RCPT <{}>: {} {}", icid, address, method, reason);
            break;
          case Kind::kHarvestLimit:
            answer.result = smtp::LookupResult::kHarvestLimit;
            answer.log_line =
                fmt::format("ICID {} directory harvest limit reached for {}", icid, client_ip);
            break;
        }
        if (counters) {
          counters->UpdateGlobal([&](telemetry::GlobalCounters& g) {
            if (v.looked_up || v.cached) {
              if (v.failure) {
                ++g.recipient_lookup_failures;
              } else if (v.kind == Kind::kAccept) {
                ++g.recipients_known;
              }
            }
            if (v.kind == Kind::kUnknown) ++g.recipients_unknown;
            if (v.kind == Kind::kHarvestLimit) ++g.harvest_limited;
          });
        }
        done(std::move(answer));
      });
}

}  // namespace tidegate::server
