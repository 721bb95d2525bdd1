#include "delivery/classify.h"

#include <gtest/gtest.h>

namespace tidegate::delivery {
namespace {

using queue::FailureClass;

HostCandidate Host(const char* ip, std::uint16_t port) {
  HostCandidate c;
  c.host = "mx.example.net";
  c.address = boost::asio::ip::make_address(ip);
  c.port = port;
  return c;
}

NextHop Hop(DnsStatus status, bool null_mx = false, std::string error = "") {
  NextHop hop;
  hop.status = status;
  hop.null_mx = null_mx;
  hop.error = std::move(error);
  return hop;
}

TEST(ClassifyResolution, HardForNxdomainNodataAndNullMxTemporaryOtherwise) {
  NextHop nx = Hop(DnsStatus::kNxDomain);
  Classified c = ClassifyResolution(nx, "gone.example");
  EXPECT_EQ(c.failure.cls, FailureClass::kDnsHard);
  EXPECT_EQ(c.enhanced, "5.1.2");
  EXPECT_EQ(c.text, "DNS Hard Error looking up gone.example (MX): NXDomain");
  EXPECT_EQ(c.code, 0);

  NextHop nodata = Hop(DnsStatus::kNoData);
  EXPECT_EQ(ClassifyResolution(nodata, "x.example").text,
            "DNS Hard Error looking up x.example (MX): NoData");

  NextHop null_mx = Hop(DnsStatus::kOk, true);
  c = ClassifyResolution(null_mx, "nomail.example");
  EXPECT_EQ(c.failure.cls, FailureClass::kDnsHard);
  EXPECT_EQ(c.enhanced, "5.1.10");
  EXPECT_EQ(c.text, "Domain nomail.example does not accept mail (null MX)");

  NextHop servfail = Hop(DnsStatus::kTempFail, false, "SERVFAIL");
  c = ClassifyResolution(servfail, "flaky.example");
  EXPECT_EQ(c.failure.cls, FailureClass::kDnsTemporary);
  EXPECT_EQ(c.enhanced, "4.4.3");
  EXPECT_EQ(c.text, "DNS Temporary Error looking up flaky.example (MX): SERVFAIL");

  NextHop empty = Hop(DnsStatus::kOk);  // resolved, but no usable host
  EXPECT_EQ(ClassifyResolution(empty, "e.example").failure.cls, FailureClass::kDnsTemporary);
}

TEST(ClassifyConnect, IsANetworkFailureNamingTheLastHost) {
  Classified c = ClassifyConnect(Host("192.0.2.7", 2525), "Connection refused");
  EXPECT_EQ(c.failure.cls, FailureClass::kNetwork);
  EXPECT_EQ(c.failure.smtp_code, 0);
  EXPECT_EQ(c.enhanced, "4.4.1");
  EXPECT_EQ(c.text, "Unable to connect to 192.0.2.7:2525: Connection refused");
}

// Drives a client session through a scripted server until it fails, and classifies that.
Classified FailSession(smtp::ClientOptions::Tls tls, std::vector<std::string> server,
                       bool permanent_tls, bool timeout_at_end = false) {
  smtp::ClientOptions options;
  options.helo_name = "gw.example";
  options.tls = tls;
  options.tls_available = true;
  smtp::ClientSession session(options);
  smtp::ClientSession::Want want = smtp::ClientSession::Want::kRead;
  for (const std::string& bytes : server) {
    (void)session.TakeOutput();
    want = session.OnBytes(bytes);
    if (want == smtp::ClientSession::Want::kFailed) break;
  }
  if (timeout_at_end) session.OnTimeout();
  EXPECT_EQ(session.want(), smtp::ClientSession::Want::kFailed);
  return ClassifySessionFailure(session, permanent_tls);
}

TEST(ClassifySessionFailure, RefusedGreetingHasItsReplysClassAndCode) {
  Classified c = FailSession(smtp::ClientOptions::Tls::kPreferred,
                             {"554 5.7.1 go away\r\n"}, false);
  EXPECT_EQ(c.failure.cls, FailureClass::kPermanent);
  EXPECT_EQ(c.failure.smtp_code, 554);
  EXPECT_EQ(c.code, 554);
  EXPECT_EQ(c.enhanced, "5.7.1");
  EXPECT_EQ(c.text, "554 5.7.1 go away");

  c = FailSession(smtp::ClientOptions::Tls::kPreferred, {"421 busy, try later\r\n"}, false);
  EXPECT_EQ(c.failure.cls, FailureClass::kTemporary);
  EXPECT_EQ(c.failure.smtp_code, 421);
  EXPECT_EQ(c.enhanced, "4.4.2");  // the reply had none: "bad connection"
}

TEST(ClassifySessionFailure, MissingStartTlsIsATlsFailurePermanentOnlyWhereTheRulesSaySo) {
  const std::vector<std::string> no_starttls = {"220 mx ESMTP\r\n", "250-mx\r\n250 SIZE 100\r\n"};
  Classified c = FailSession(smtp::ClientOptions::Tls::kRequired, no_starttls, false);
  EXPECT_EQ(c.failure.cls, FailureClass::kTls);
  EXPECT_EQ(c.failure.smtp_code, 0);
  EXPECT_EQ(c.enhanced, "4.7.10");
  c = FailSession(smtp::ClientOptions::Tls::kRequired, no_starttls, true);
  EXPECT_EQ(c.failure.cls, FailureClass::kTls);
  EXPECT_EQ(c.enhanced, "5.7.10");
}

TEST(ClassifySessionFailure, ATimeoutIsANetworkFailure) {
  Classified c = FailSession(smtp::ClientOptions::Tls::kPreferred, {}, true, /*timeout=*/true);
  EXPECT_EQ(c.failure.cls, FailureClass::kNetwork);
  EXPECT_EQ(c.enhanced, "4.4.2");
  EXPECT_FALSE(c.text.empty());
}

TEST(ClassifyRecipient, ByVerdictAndWhetherTheReplyCameFromTheServer) {
  smtp::ServerReply r550;
  r550.code = 550;
  queue::Failure f = ClassifyRecipient(smtp::RecipientOutcome::kPermFail, r550);
  EXPECT_EQ(f.cls, FailureClass::kPermanent);
  EXPECT_EQ(f.smtp_code, 550);
  smtp::ServerReply r451;
  r451.code = 451;
  f = ClassifyRecipient(smtp::RecipientOutcome::kTempFail, r451);
  EXPECT_EQ(f.cls, FailureClass::kTemporary);
  EXPECT_EQ(f.smtp_code, 451);
  smtp::ServerReply made_up;  // the connection broke: the client wrote the reply itself
  made_up.code = 421;
  made_up.synthetic = true;
  f = ClassifyRecipient(smtp::RecipientOutcome::kTempFail, made_up);
  EXPECT_EQ(f.cls, FailureClass::kNetwork);
  EXPECT_EQ(f.smtp_code, 0);
}

TEST(EnhancedOrDefault, KeepsTheRepliesOwnElseDerivesFromTheCode) {
  EXPECT_EQ(EnhancedOrDefault("4.2.2", 452), "4.2.2");
  EXPECT_EQ(EnhancedOrDefault("", 550), "5.0.0");
  EXPECT_EQ(EnhancedOrDefault("", 451), "4.0.0");
  EXPECT_EQ(EnhancedOrDefault("", 0), "4.0.0");
}

}  // namespace
}  // namespace tidegate::delivery
