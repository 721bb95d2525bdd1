// recipient_validation.h — RecipientValidation: the gateway's recipient validation at RCPT time
// (CONTRACT §13), between the SMTP sessions and validation::Validator.
//
// Owns the current Validator (rebuilt on a reload that changes `recipient_validation` or the
// accepted domains; kept otherwise, cache included) and the harvest limiter (kept across
// reloads). Lookup() is what SessionPolicy::lookup_recipient calls: it asks the Validator,
// counts the verdict, and makes §13's mail-log line:
//   ICID <icid> rejected RCPT <<address>>: <ldap|call-ahead> <reason>
//   ICID <icid> deferred RCPT <<address>>: <ldap|call-ahead> <reason>
//   ICID <icid> directory harvest limit reached for <client ip>
// (and, for an acceptance by `on_failure: accept`, "ICID <icid> accepted RCPT <<address>> on
// lookup failure: <method> <reason>"). Methods come from a factory (MethodFactory), so tests and
// the gateway build them their own way.
// Threads: everything on the gateway's io_context thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>

#include "base/clock.h"
#include "config/config.h"
#include "inbound/listener.h"
#include "telemetry/counters.h"
#include "validation/validator.h"

namespace tidegate::server {

class RecipientValidation {
 public:
  // Builds the methods for a configuration (null members for the ones not configured).
  using MethodFactory =
      std::function<validation::Validator::Methods(const config::GatewayConfig&)>;

  RecipientValidation(boost::asio::any_io_executor executor, telemetry::Counters* counters,
                      const base::Clock* clock, MethodFactory factory);

  // On start and after every reload.
  void ApplyConfig(const std::shared_ptr<const config::GatewayConfig>& cfg);
  // The current Validator; null when no method is configured.
  std::shared_ptr<validation::Validator> current() const { return validator_; }

  // SessionPolicy::lookup_recipient for `validator` (a snapshot: sessions keep the one they
  // started with).
  static void Lookup(const std::shared_ptr<validation::Validator>& validator,
                     telemetry::Counters* counters, std::uint64_t icid,
                     const std::string& client_ip, const mail::Address& recipient,
                     std::function<void(inbound::RecipientLookupAnswer)> done);

 private:
  boost::asio::any_io_executor executor_;
  telemetry::Counters* counters_;
  const base::Clock* clock_;
  MethodFactory factory_;
  std::shared_ptr<validation::HarvestLimiter> harvest_;
  std::shared_ptr<validation::Validator> validator_;
  config::RecipientValidation applied_;
  std::vector<config::DomainPattern> applied_domains_;
  bool applied_once_ = false;
};

}  // namespace tidegate::server
