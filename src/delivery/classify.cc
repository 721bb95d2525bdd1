// classify.cc — what a failed delivery attempt means (see classify.h).
#include "delivery/classify.h"

#include <fmt/format.h>

namespace tidegate::delivery {

Classified ClassifyResolution(const NextHop& hop, std::string_view domain) {
  const bool hard =
      hop.null_mx || hop.status == DnsStatus::kNxDomain || hop.status == DnsStatus::kNoData;
  Classified c;
  c.failure = {hard ? queue::FailureClass::kDnsHard : queue::FailureClass::kDnsTemporary, 0};
  c.text = hop.null_mx ? fmt::format("Domain {} does not accept mail (null MX)", domain)
           : hard      ? fmt::format("DNS Hard Error looking up {} (MX): {}", domain,
                                     hop.status == DnsStatus::kNxDomain ? "NXDomain" : "NoData")
                       : fmt::format("DNS Temporary Error looking up {} (MX): {}", domain,
                                     hop.error);
  c.enhanced = hop.null_mx ? "5.1.10" : (hard ? "5.1.2" : "4.4.3");
  return c;
}

Classified ClassifyConnect(const HostCandidate& last, std::string_view error) {
  Classified c;
  c.failure = {queue::FailureClass::kNetwork, 0};
  c.text = fmt::format("Unable to connect to {}:{}: {}", last.address.to_string(), last.port,
                       error);
  c.enhanced = "4.4.1";
  return c;
}

Classified ClassifySessionFailure(const smtp::ClientSession& session, bool tls_failure_permanent) {
  using F = smtp::ClientSession::Failure;
  Classified c;
  c.failure = {queue::FailureClass::kNetwork, 0};
  const std::optional<smtp::ServerReply> reply = session.failure_reply();
  switch (session.failure()) {
    case F::kTlsUnavailable:
    case F::kTlsHandshake:
      c.failure.cls = queue::FailureClass::kTls;
      break;
    case F::kGreeting:
    case F::kEhlo:
    case F::kMail:
    case F::kData:
      if (reply && reply->code >= 400) {
        c.failure.cls = reply->code >= 500 ? queue::FailureClass::kPermanent
                                           : queue::FailureClass::kTemporary;
        c.failure.smtp_code = reply->code;
      }
      break;
    default:
      break;
  }
  c.text = session.failure_reason();
  if (reply) {
    c.text = fmt::format("{} {}", reply->code, reply->Text());
    c.enhanced = reply->enhanced;
    c.code = reply->code;
  }
  if (c.enhanced.empty()) {
    // RFC 3463: X.7.10 encryption needed (STARTTLS missing), X.7.5 cryptographic failure.
    const bool missing = session.failure() == F::kTlsUnavailable;
    c.enhanced = c.failure.cls == queue::FailureClass::kTls
                     ? fmt::format("{}.7.{}", tls_failure_permanent ? '5' : '4', missing ? 10 : 5)
                     : "4.4.2";
  }
  return c;
}

queue::Failure ClassifyRecipient(smtp::RecipientOutcome verdict, const smtp::ServerReply& reply) {
  queue::Failure f;
  f.smtp_code = reply.synthetic ? 0 : reply.code;
  f.cls = verdict == smtp::RecipientOutcome::kPermFail
              ? queue::FailureClass::kPermanent
              : (reply.synthetic ? queue::FailureClass::kNetwork : queue::FailureClass::kTemporary);
  return f;
}

std::string EnhancedOrDefault(std::string_view enhanced, int code) {
  if (!enhanced.empty()) return std::string(enhanced);
  return code >= 500 ? "5.0.0" : "4.0.0";
}

}  // namespace tidegate::delivery
