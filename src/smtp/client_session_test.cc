#include "smtp/client_session.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "smtp/dot_stuffer.h"

namespace tidegate::smtp {
namespace {

using Want = ClientSession::Want;
using Failure = ClientSession::Failure;
using Tls = ClientOptions::Tls;

// One turn of the conversation: the exact bytes the client must have written since the last
// turn, and the bytes the fake server answers with (in one read, or byte by byte).
struct Exchange {
  std::string client;
  std::string server;
};

// A scripted fake server. Run() pumps the session: takes its output, checks it against the
// script, feeds the scripted answer, until the session stops wanting I/O (kReady, kStartTls,
// kDone, kFailed) or the script is used up.
class FakeServer {
 public:
  FakeServer(std::vector<Exchange> script, bool byte_by_byte)
      : script_(std::move(script)), byte_by_byte_(byte_by_byte) {}

  Want Run(ClientSession& session, Want want) {
    while (true) {
      if (want == Want::kWrite) {
        written_ += session.TakeOutput();
        want = Want::kRead;
      }
      if (want != Want::kRead || next_ == script_.size()) return want;
      const Exchange& turn = script_[next_++];
      EXPECT_EQ(written_, turn.client) << "turn " << next_ - 1;
      if (written_ != turn.client) return Want::kFailed;
      written_.clear();
      want = Feed(session, turn.server);
    }
  }

  bool done() const { return next_ == script_.size() && written_.empty(); }
  const std::string& unmatched() const { return written_; }

 private:
  Want Feed(ClientSession& session, std::string_view bytes) {
    if (!byte_by_byte_) return session.OnBytes(bytes);
    Want want = Want::kRead;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      want = session.OnBytes(bytes.substr(i, 1));
      if (want == Want::kDone || want == Want::kFailed) break;
    }
    return want;
  }

  std::vector<Exchange> script_;
  bool byte_by_byte_;
  std::size_t next_ = 0;
  std::string written_;
};

ClientOptions Options(Tls tls = Tls::kNone, bool tls_available = true) {
  ClientOptions options;
  options.helo_name = "gw.example.com";
  options.tls = tls;
  options.tls_available = tls_available;
  return options;
}

Envelope MakeEnvelope(std::vector<std::string> recipients, std::uint64_t size = 0) {
  Envelope envelope;
  envelope.sender = "alice@example.org";
  envelope.recipients = std::move(recipients);
  envelope.size = size;
  return envelope;
}

const char kGreeting[] = "220 mx.example.net ESMTP\r\n";
const char kEhlo[] = "EHLO gw.example.com\r\n";
const char kEhloPipelining[] =
    "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
    "250 ENHANCEDSTATUSCODES\r\n";
const char kEhloPlain[] = "250-mx.example.net\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n";
const char kBody[] = "Subject: hi\r\n\r\n.leading dot\r\nbye\r\n";

RecipientOutcome OutcomeAt(const ClientSession& s, std::size_t i) {
  return s.result().recipients.at(i).first;
}
int CodeAt(const ClientSession& s, std::size_t i) {
  return s.result().recipients.at(i).second.code;
}

// Scenarios that must behave the same whether replies arrive whole or byte by byte.
class ClientSessionTest : public testing::TestWithParam<bool> {
 protected:
  bool bytewise() const { return GetParam(); }
};

TEST_P(ClientSessionTest, PipelinedTransactionThenQuit) {
  FakeServer server({{"", kGreeting},
                     {kEhlo, kEhloPipelining},
                     {"MAIL FROM:<alice@example.org> SIZE=42 BODY=8BITMIME\r\n"
                      "RCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n",
                      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n"},
                     {DotStuff(kBody), "250 2.0.0 Ok: queued as 4Q1\r\n"},
                     {"QUIT\r\n", "221 2.0.0 Bye\r\n"}},
                    bytewise());
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  EXPECT_EQ(session.extensions(),
            (std::set<std::string>{"PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES"}));
  EXPECT_EQ(session.max_size(), 10240000u);
  EXPECT_FALSE(session.tls_active());

  Envelope envelope = MakeEnvelope({"bob@example.net", "carol@example.net"}, 42);
  envelope.body_8bit = true;
  ASSERT_EQ(session.StartTransaction(envelope, kBody), Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  ASSERT_EQ(session.result().recipients.size(), 2u);
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kAccepted);
  EXPECT_EQ(OutcomeAt(session, 1), RecipientOutcome::kAccepted);
  EXPECT_EQ(session.result().recipients[0].second.Text(), "2.0.0 Ok: queued as 4Q1");
  ASSERT_TRUE(session.result().final_reply.has_value());
  EXPECT_EQ(session.result().final_reply->enhanced, "2.0.0");
  EXPECT_TRUE(session.result().delivered_any());

  ASSERT_EQ(session.Quit(), Want::kWrite);
  EXPECT_EQ(server.Run(session, Want::kWrite), Want::kDone);
  EXPECT_TRUE(server.done());
  EXPECT_EQ(session.failure(), Failure::kNone);
}

TEST_P(ClientSessionTest, WithoutPipeliningOneCommandAtATime) {
  FakeServer server({{"", kGreeting},
                     {kEhlo, kEhloPlain},
                     {"MAIL FROM:<alice@example.org> SIZE=42\r\n", "250 ok\r\n"},
                     {"RCPT TO:<bob@example.net>\r\n", "250 ok\r\n"},
                     {"RCPT TO:<carol@example.net>\r\n", "250 ok\r\n"},
                     {"DATA\r\n", "354 go ahead\r\n"},
                     {DotStuff(kBody), "250 queued\r\n"}},
                    bytewise());
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(
      session.StartTransaction(MakeEnvelope({"bob@example.net", "carol@example.net"}, 42), kBody),
      Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_TRUE(server.done());
  EXPECT_TRUE(session.result().delivered_any());
  EXPECT_EQ(OutcomeAt(session, 1), RecipientOutcome::kAccepted);
}

TEST_P(ClientSessionTest, HeloFallbackOnPermanentEhloFailure) {
  FakeServer server({{"", kGreeting},
                     {kEhlo, "502 5.5.2 Error: command not recognized\r\n"},
                     {"HELO gw.example.com\r\n", "250 mx.example.net\r\n"},
                     {"MAIL FROM:<alice@example.org>\r\n", "250 ok\r\n"},
                     {"RCPT TO:<bob@example.net>\r\n", "250 ok\r\n"},
                     {"DATA\r\n", "354 go\r\n"},
                     {DotStuff("x"), "250 ok\r\n"}},
                    bytewise());
  ClientSession session(Options(Tls::kPreferred));
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  EXPECT_TRUE(session.extensions().empty());
  Envelope envelope = MakeEnvelope({"bob@example.net"}, 1);
  envelope.body_8bit = true;  // not offered by HELO servers: no BODY= parameter
  ASSERT_EQ(session.StartTransaction(envelope, "x"), Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_TRUE(server.done());
  EXPECT_TRUE(session.result().delivered_any());
}

TEST_P(ClientSessionTest, HeloRefusedToo) {
  FakeServer server(
      {{"", kGreeting}, {kEhlo, "500 no\r\n"}, {"HELO gw.example.com\r\n", "550 go away\r\n"}},
      bytewise());
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kEhlo);
  EXPECT_EQ(session.failure_reply()->code, 550);
  EXPECT_EQ(session.TakeOutput(), "QUIT\r\n");  // courtesy QUIT, best effort
}

TEST_P(ClientSessionTest, TemporaryEhloFailureDoesNotTryHelo) {
  FakeServer server({{"", kGreeting}, {kEhlo, "451 4.3.0 later\r\n"}}, bytewise());
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kEhlo);
  EXPECT_EQ(session.failure_reason(), "ehlo: EHLO refused: 451 4.3.0 later");
}

TEST_P(ClientSessionTest, StartTlsThenEhloAgainAndForgetExtensions) {
  FakeServer server({{"", kGreeting},
                     {kEhlo, "250-mx\r\n250-SIZE 1000\r\n250-PIPELINING\r\n250 STARTTLS\r\n"},
                     {"STARTTLS\r\n", "220 2.0.0 Ready to start TLS\r\n"},
                     {kEhlo, "250-mx\r\n250-STARTTLS\r\n250 SIZE 5000\r\n"},
                     {"MAIL FROM:<alice@example.org> SIZE=2000\r\n", "250 ok\r\n"},
                     {"RCPT TO:<bob@example.net>\r\n", "250 ok\r\n"},
                     {"DATA\r\n", "354 go\r\n"},
                     {DotStuff(kBody), "250 ok\r\n"}},
                    bytewise());
  ClientSession session(Options(Tls::kRequired));
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kStartTls);
  EXPECT_TRUE(session.TakeOutput().empty());
  ASSERT_EQ(session.OnTlsEstablished(), Want::kWrite);
  // STARTTLS offered again after TLS must not start a second handshake.
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_TRUE(session.tls_active());
  EXPECT_EQ(session.extensions(), (std::set<std::string>{"STARTTLS", "SIZE"}));
  EXPECT_EQ(session.max_size(), 5000u);  // the clear-text 1000 is forgotten
  // 2000 > 1000 (pre-TLS limit) but < 5000: sent, and without pipelining (not offered after TLS).
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"bob@example.net"}, 2000), kBody), Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_TRUE(server.done());
  EXPECT_TRUE(session.result().delivered_any());
}

INSTANTIATE_TEST_SUITE_P(WholeAndBytewise, ClientSessionTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Bytewise" : "Whole";
                         });

// ---- STARTTLS decision matrix --------------------------------------------------------------

struct TlsCase {
  const char* name;
  bool offered;
  Tls tls;
  bool available;
  Want expected;  // after the EHLO reply
  Failure failure;
};

void PrintTo(const TlsCase& c, std::ostream* os) { *os << c.name; }

class TlsMatrixTest : public testing::TestWithParam<TlsCase> {};

TEST_P(TlsMatrixTest, DecidesFromOfferModeAndTransport) {
  const TlsCase& c = GetParam();
  std::string ehlo_reply = c.offered ? "250-mx\r\n250 STARTTLS\r\n" : "250-mx\r\n250 SIZE\r\n";
  std::vector<Exchange> script = {{"", kGreeting}, {kEhlo, ehlo_reply}};
  bool sends_starttls = c.expected == Want::kStartTls;
  if (sends_starttls) script.push_back({"STARTTLS\r\n", "220 go\r\n"});
  FakeServer server(script, false);
  ClientSession session(Options(c.tls, c.available));
  EXPECT_EQ(server.Run(session, Want::kRead), c.expected);
  EXPECT_EQ(session.failure(), c.failure);
  EXPECT_TRUE(server.done()) << server.unmatched();
  if (c.failure == Failure::kTlsUnavailable) {
    EXPECT_EQ(session.TakeOutput(), "QUIT\r\n");  // and never MAIL
    EXPECT_EQ(session.StartTransaction(MakeEnvelope({"b@x.net"}), "x"), Want::kFailed);
    EXPECT_TRUE(session.TakeOutput().empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, TlsMatrixTest,
    testing::Values(
        TlsCase{"OfferedPreferred", true, Tls::kPreferred, true, Want::kStartTls, Failure::kNone},
        TlsCase{"OfferedRequired", true, Tls::kRequired, true, Want::kStartTls, Failure::kNone},
        TlsCase{"OfferedNone", true, Tls::kNone, true, Want::kReady, Failure::kNone},
        TlsCase{"OfferedPreferredNoTransport", true, Tls::kPreferred, false, Want::kReady,
                Failure::kNone},
        TlsCase{"OfferedRequiredNoTransport", true, Tls::kRequired, false, Want::kFailed,
                Failure::kTlsUnavailable},
        TlsCase{"NotOfferedPreferred", false, Tls::kPreferred, true, Want::kReady, Failure::kNone},
        TlsCase{"NotOfferedRequired", false, Tls::kRequired, true, Want::kFailed,
                Failure::kTlsUnavailable},
        TlsCase{"NotOfferedNone", false, Tls::kNone, true, Want::kReady, Failure::kNone}),
    [](const testing::TestParamInfo<TlsCase>& info) { return info.param.name; });

TEST(ClientSessionTlsTest, StartTlsRefusedPreferredContinuesInClear) {
  FakeServer server({{"", kGreeting},
                     {kEhlo, "250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n"},
                     {"STARTTLS\r\n", "454 4.7.0 TLS not available\r\n"}},
                    false);
  ClientSession session(Options(Tls::kPreferred));
  EXPECT_EQ(server.Run(session, Want::kRead), Want::kReady);
  EXPECT_FALSE(session.tls_active());
  EXPECT_EQ(session.extensions().count("PIPELINING"), 1u);  // from the clear-text EHLO
}

TEST(ClientSessionTlsTest, StartTlsRefusedRequiredFails) {
  FakeServer server({{"", kGreeting},
                     {kEhlo, "250-mx\r\n250 STARTTLS\r\n"},
                     {"STARTTLS\r\n", "454 4.7.0 TLS not available\r\n"}},
                    false);
  ClientSession session(Options(Tls::kRequired));
  EXPECT_EQ(server.Run(session, Want::kRead), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kTlsUnavailable);
  EXPECT_EQ(session.failure_reply()->code, 454);
  EXPECT_EQ(session.TakeOutput(), "QUIT\r\n");
}

TEST(ClientSessionTlsTest, ResponseInjectionAfter220IsAProtocolFailure) {
  for (const char* injected : {"250 2.1.0 injected\r\n", "2", "250-a\r\n"}) {
    FakeServer server({{"", kGreeting},
                       {kEhlo, "250-mx\r\n250 STARTTLS\r\n"},
                       {"STARTTLS\r\n", std::string("220 ready\r\n") + injected}},
                      false);
    ClientSession session(Options(Tls::kPreferred));
    EXPECT_EQ(server.Run(session, Want::kRead), Want::kFailed) << injected;
    EXPECT_EQ(session.failure(), Failure::kProtocol);
    EXPECT_NE(session.failure_reason().find("injection"), std::string::npos);
    EXPECT_FALSE(session.tls_active());
    EXPECT_TRUE(session.TakeOutput().empty());
  }
}

TEST(ClientSessionTlsTest, HandshakeFailureReported) {
  FakeServer server(
      {{"", kGreeting}, {kEhlo, "250-mx\r\n250 STARTTLS\r\n"}, {"STARTTLS\r\n", "220 ready\r\n"}},
      false);
  ClientSession session(Options(Tls::kRequired));
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kStartTls);
  EXPECT_EQ(session.OnTlsFailed("certificate verify failed"), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kTlsHandshake);
  EXPECT_EQ(session.failure_reason(), "tls-handshake: certificate verify failed");
}

// ---- Recipients and data -------------------------------------------------------------------

// A session after greeting and EHLO, with or without PIPELINING.
std::vector<Exchange> Connected(bool pipelining) {
  return {{"", kGreeting}, {kEhlo, pipelining ? kEhloPipelining : kEhloPlain}};
}

std::vector<Exchange> Concat(std::vector<Exchange> a, const std::vector<Exchange>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(ClientSessionRcptTest, MixedRcptRepliesPipelined) {
  FakeServer server(
      Concat(Connected(true),
             {{"MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@x.net>\r\nRCPT TO:<b@x.net>\r\n"
               "RCPT TO:<c@x.net>\r\nDATA\r\n",
               "250 ok\r\n250 ok\r\n550 5.1.1 <b@x.net> unknown\r\n451 4.3.0 greylisted\r\n"
               "354 go\r\n"},
              {DotStuff(kBody), "250 2.0.0 queued\r\n"}}),
      false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net", "b@x.net", "c@x.net"}), kBody),
            Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kAccepted);
  EXPECT_EQ(CodeAt(session, 0), 250);
  EXPECT_EQ(session.result().recipients[0].second.Text(), "2.0.0 queued");
  EXPECT_EQ(OutcomeAt(session, 1), RecipientOutcome::kPermFail);
  EXPECT_EQ(session.result().recipients[1].second.enhanced, "5.1.1");
  EXPECT_EQ(OutcomeAt(session, 2), RecipientOutcome::kTempFail);
  EXPECT_EQ(CodeAt(session, 2), 451);
  EXPECT_TRUE(session.result().delivered_any());
}

TEST(ClientSessionRcptTest, AllRcpt452PipelinedConsumesDataRejection) {
  FakeServer server(
      Concat(Connected(true),
             {{"MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@x.net>\r\nRCPT TO:<b@x.net>\r\n"
               "DATA\r\n",
               "250 ok\r\n452 4.5.3 too many\r\n452 4.5.3 too many\r\n"
               "554 5.5.1 Error: no valid recipients\r\n"},
              {"RSET\r\n", "250 ok\r\n"}}),
      false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net", "b@x.net"}), kBody), Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_TRUE(server.done());
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kTempFail);
  EXPECT_EQ(OutcomeAt(session, 1), RecipientOutcome::kTempFail);
  EXPECT_EQ(CodeAt(session, 1), 452);  // the RCPT reply, not DATA's 554
  EXPECT_FALSE(session.result().final_reply.has_value());
  EXPECT_FALSE(session.result().delivered_any());
}

TEST(ClientSessionRcptTest, AllRcpt452WithoutPipeliningSkipsData) {
  FakeServer server(Concat(Connected(false), {{"MAIL FROM:<alice@example.org>\r\n", "250 ok\r\n"},
                                              {"RCPT TO:<a@x.net>\r\n", "452 4.5.3 too many\r\n"},
                                              {"RCPT TO:<b@x.net>\r\n", "452 4.5.3 too many\r\n"},
                                              {"RSET\r\n", "250 ok\r\n"}}),
                    false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net", "b@x.net"}), kBody), Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_TRUE(server.done()) << server.unmatched();
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kTempFail);
  EXPECT_EQ(OutcomeAt(session, 1), RecipientOutcome::kTempFail);
}

TEST(ClientSessionRcptTest, PipelinedDataAcceptedWithoutRecipientsGetsALoneDot) {
  FakeServer server(
      Concat(Connected(true), {{"MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@x.net>\r\nDATA\r\n",
                                "250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n"},
                               {".\r\n", "554 5.5.1 no recipients\r\n"}}),
      false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net"}), kBody), Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_TRUE(server.done()) << server.unmatched();
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kPermFail);
  EXPECT_EQ(CodeAt(session, 0), 550);
}

TEST(ClientSessionRcptTest, MailRejectedFailsEveryRecipientAndResets) {
  for (bool pipelining : {false, true}) {
    std::vector<Exchange> tx;
    if (pipelining) {
      tx = {{"MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@x.net>\r\nRCPT TO:<b@x.net>\r\n"
             "DATA\r\n",
             "451 4.7.1 sender greylisted\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"
             "503 5.5.1 need MAIL\r\n"},
            {"RSET\r\n", "250 ok\r\n"}};
    } else {
      tx = {{"MAIL FROM:<alice@example.org>\r\n", "451 4.7.1 sender greylisted\r\n"},
            {"RSET\r\n", "250 ok\r\n"}};
    }
    FakeServer server(Concat(Connected(pipelining), tx), false);
    ClientSession session(Options());
    ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
    ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net", "b@x.net"}), kBody), Want::kWrite);
    ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady) << pipelining;
    EXPECT_TRUE(server.done());
    for (std::size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(OutcomeAt(session, i), RecipientOutcome::kTempFail);
      EXPECT_EQ(session.result().recipients[i].second.enhanced, "4.7.1");
    }
  }
}

TEST(ClientSessionDataTest, PermanentFailureToData) {
  FakeServer server(Concat(Connected(false), {{"MAIL FROM:<alice@example.org>\r\n", "250 ok\r\n"},
                                              {"RCPT TO:<a@x.net>\r\n", "250 ok\r\n"},
                                              {"RCPT TO:<b@x.net>\r\n", "550 unknown\r\n"},
                                              {"DATA\r\n", "554 5.7.1 rejected\r\n"},
                                              {"RSET\r\n", "250 ok\r\n"}}),
                    false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net", "b@x.net"}), kBody), Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_TRUE(server.done());
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kPermFail);
  EXPECT_EQ(CodeAt(session, 0), 554);
  EXPECT_EQ(CodeAt(session, 1), 550);
  EXPECT_FALSE(session.result().delivered_any());
}

TEST(ClientSessionDataTest, FinalReplyClassAppliesToAcceptedRecipients) {
  struct Case {
    const char* reply;
    RecipientOutcome outcome;
  } cases[] = {{"452 4.3.1 out of space\r\n", RecipientOutcome::kTempFail},
               {"552 5.3.4 too big\r\n", RecipientOutcome::kPermFail}};
  for (const Case& c : cases) {
    FakeServer server(
        Concat(Connected(true),
               {{"MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@x.net>\r\nRCPT TO:<b@x.net>\r\n"
                 "DATA\r\n",
                 "250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n"},
                {DotStuff(kBody), c.reply}}),
        false);
    ClientSession session(Options());
    ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
    ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net", "b@x.net"}), kBody), Want::kWrite);
    ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
    EXPECT_EQ(OutcomeAt(session, 0), c.outcome);
    EXPECT_EQ(OutcomeAt(session, 1), RecipientOutcome::kPermFail);
    EXPECT_EQ(CodeAt(session, 1), 550);
    ASSERT_TRUE(session.result().final_reply.has_value());
    EXPECT_FALSE(session.result().delivered_any());
  }
}

TEST(ClientSessionDataTest, TwoTransactionsOnOneConnection) {
  FakeServer server(Concat(Connected(true),
                           {{"MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@x.net>\r\nDATA\r\n",
                             "250 ok\r\n250 ok\r\n354 go\r\n"},
                            {DotStuff("first"), "250 2.0.0 id1\r\n"},
                            {"MAIL FROM:<>\r\nRCPT TO:<b@x.net>\r\nRCPT TO:<c@x.net>\r\nDATA\r\n",
                             "250 ok\r\n550 5.1.1 no b\r\n250 ok\r\n354 go\r\n"},
                            {DotStuff("second"), "250 2.0.0 id2\r\n"},
                            {"QUIT\r\n", "221 bye\r\n"}}),
                    false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net"}), "first"), Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_EQ(session.result().final_reply->Text(), "2.0.0 id1");
  Envelope bounce = MakeEnvelope({"b@x.net", "c@x.net"});
  bounce.sender = "";
  ASSERT_EQ(session.StartTransaction(bounce, "second"), Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  ASSERT_EQ(session.result().recipients.size(), 2u);  // the first result was replaced
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kPermFail);
  EXPECT_EQ(OutcomeAt(session, 1), RecipientOutcome::kAccepted);
  EXPECT_EQ(session.result().final_reply->Text(), "2.0.0 id2");
  ASSERT_EQ(session.Quit(), Want::kWrite);
  EXPECT_EQ(server.Run(session, Want::kWrite), Want::kDone);
  EXPECT_TRUE(server.done());
}

// ---- The server going away -----------------------------------------------------------------

TEST(ClientSession421Test, DuringRcptFailsUnfinishedRecipientsTemporarily) {
  FakeServer server(
      Concat(Connected(true),
             {{"MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@x.net>\r\nRCPT TO:<b@x.net>\r\n"
               "RCPT TO:<c@x.net>\r\nDATA\r\n",
               "250 ok\r\n550 5.1.1 no a\r\n421 4.3.2 shutting down\r\n"}}),
      false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net", "b@x.net", "c@x.net"}), kBody),
            Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kMail);
  EXPECT_EQ(session.failure_reply()->code, 421);
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kPermFail);
  EXPECT_EQ(OutcomeAt(session, 1), RecipientOutcome::kTempFail);
  EXPECT_EQ(CodeAt(session, 1), 421);
  EXPECT_EQ(OutcomeAt(session, 2), RecipientOutcome::kTempFail);
  EXPECT_TRUE(session.TakeOutput().empty());  // no QUIT to a server that is leaving
}

TEST(ClientSession421Test, AfterTheBody) {
  FakeServer server(
      Concat(Connected(true), {{"MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@x.net>\r\n"
                                "DATA\r\n",
                                "250 ok\r\n250 ok\r\n354 go\r\n"},
                               {DotStuff(kBody), "421 4.4.2 timeout\r\n"}}),
      false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net"}), kBody), Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kData);
  EXPECT_EQ(session.result().final_reply->code, 421);
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kTempFail);
}

TEST(ClientSession421Test, WhileIdleEndsTheSession) {
  FakeServer server(Connected(true), false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  EXPECT_EQ(session.OnBytes("421 4.4.2 mx Error: timeout exceeded\r\n"), Want::kDone);
  EXPECT_EQ(session.failure_reply()->code, 421);
}

TEST(ClientSession421Test, AtGreeting) {
  FakeServer server({{"", "421 4.3.2 too busy\r\n"}}, false);
  ClientSession session(Options());
  EXPECT_EQ(server.Run(session, Want::kRead), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kGreeting);
  EXPECT_TRUE(session.TakeOutput().empty());
}

TEST(ClientSessionGreetingTest, Rejected) {
  FakeServer server({{"", "554-mx.example.net\r\n554 5.7.1 No SMTP service here\r\n"}}, true);
  ClientSession session(Options());
  EXPECT_EQ(server.Run(session, Want::kRead), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kGreeting);
  EXPECT_EQ(session.failure_reply()->code, 554);
  EXPECT_EQ(session.failure_reply()->lines.size(), 2u);
  EXPECT_EQ(session.failure_reason().rfind("greeting: ", 0), 0u);
  EXPECT_EQ(session.TakeOutput(), "QUIT\r\n");
}

// ---- Hostile and out-of-sequence servers ---------------------------------------------------

ClientSession FailWithGreeting(const std::string& bytes, bool bytewise) {
  ClientSession session(Options());
  FakeServer server({{"", bytes}}, bytewise);
  EXPECT_EQ(server.Run(session, Want::kRead), Want::kFailed);
  return session;
}

TEST(ClientSessionHostileTest, MalformedRepliesAreProtocolFailures) {
  std::string overlong = "220 " + std::string(10000, 'A') + "\r\n";
  for (bool bytewise : {false, true}) {
    for (const std::string& bytes :
         {overlong, std::string("220-mx\r\n554 mixed\r\n"), std::string("220 a\0b\r\n", 9),
          std::string("HTTP/1.1 400 Bad Request\r\n")}) {
      ClientSession session = FailWithGreeting(bytes, bytewise);
      EXPECT_EQ(session.failure(), Failure::kProtocol) << bytes.substr(0, 30);
      EXPECT_EQ(session.failure_reason().rfind("protocol: malformed reply", 0), 0u)
          << session.failure_reason();
    }
  }
}

TEST(ClientSessionHostileTest, RepliesBeforeTheCommandWasSent) {
  // The greeting and an EHLO reply in one read: the second answers a command not yet sent.
  ClientSession session(Options());
  EXPECT_EQ(session.OnBytes(std::string(kGreeting) + "250 mx\r\n"), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kProtocol);
}

TEST(ClientSessionHostileTest, BytesAfter354BeforeTheBody) {
  FakeServer server(
      Concat(Connected(true), {{"MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@x.net>\r\n"
                                "DATA\r\n",
                                "250 ok\r\n250 ok\r\n354 go\r\n250 2.0.0 fake\r\n"}}),
      false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net"}), kBody), Want::kWrite);
  EXPECT_EQ(server.Run(session, Want::kWrite), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kProtocol);
  // An untrusted server never decides a recipient was delivered.
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kTempFail);
  EXPECT_EQ(session.result().recipients[0].second.enhanced, "4.5.0");
  EXPECT_TRUE(session.result().recipients[0].second.synthetic);
  EXPECT_FALSE(session.result().delivered_any());
  EXPECT_TRUE(session.TakeOutput().empty());  // the body is not sent
}

TEST(ClientSessionHostileTest, WrongReplyClassForTheCommand) {
  std::vector<std::vector<Exchange>> cases = {
      {{"MAIL FROM:<alice@example.org>\r\n", "354 what\r\n"}},
      {{"MAIL FROM:<alice@example.org>\r\n", "250 ok\r\n"}, {"RCPT TO:<a@x.net>\r\n", "354 x\r\n"}},
      {{"MAIL FROM:<alice@example.org>\r\n", "250 ok\r\n"},
       {"RCPT TO:<a@x.net>\r\n", "250 ok\r\n"},
       {"DATA\r\n", "250 sure\r\n"}},
  };
  for (const auto& tx : cases) {
    FakeServer server(Concat(Connected(false), tx), false);
    ClientSession session(Options());
    ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
    ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net"}), kBody), Want::kWrite);
    EXPECT_EQ(server.Run(session, Want::kWrite), Want::kFailed);
    EXPECT_EQ(session.failure(), Failure::kProtocol);
    EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kTempFail);
  }
}

TEST(ClientSessionHostileTest, UnsolicitedReplyWhileIdle) {
  FakeServer server(Connected(true), false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  EXPECT_EQ(session.OnBytes("250 surprise\r\n"), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kProtocol);
}

TEST(ClientSessionHostileTest, PartialBytesWhileIdleBlockTheNextTransaction) {
  FakeServer server(Connected(true), false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  EXPECT_EQ(session.OnBytes("250 ok"), Want::kReady);
  EXPECT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net", "b@x.net"}), kBody), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kProtocol);
  EXPECT_TRUE(session.TakeOutput().empty());
  ASSERT_EQ(session.result().recipients.size(), 2u);
  EXPECT_EQ(OutcomeAt(session, 1), RecipientOutcome::kTempFail);
}

TEST(ClientSessionHostileTest, BareLfRepliesAcceptedAndNoted) {
  FakeServer server({{"", "220 mx\n"}, {kEhlo, "250-mx\n250 PIPELINING\n"}}, false);
  ClientSession session(Options());
  EXPECT_EQ(server.Run(session, Want::kRead), Want::kReady);
  EXPECT_TRUE(session.saw_bare_lf());
  EXPECT_EQ(session.extensions().count("PIPELINING"), 1u);
}

// ---- Local decisions -----------------------------------------------------------------------

TEST(ClientSessionLocalTest, Smtputf8NeededButNotOffered) {
  FakeServer server(Connected(true), false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  Envelope envelope = MakeEnvelope({"j\xc3\xb6rg@x.net", "b@x.net"});
  envelope.smtputf8 = true;
  EXPECT_EQ(session.StartTransaction(envelope, kBody), Want::kReady);
  EXPECT_TRUE(session.TakeOutput().empty());
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(OutcomeAt(session, i), RecipientOutcome::kPermFail);
    EXPECT_EQ(session.result().recipients[i].second.enhanced, "5.6.7");
    EXPECT_TRUE(session.result().recipients[i].second.synthetic);
  }
}

TEST(ClientSessionLocalTest, Smtputf8Offered) {
  FakeServer server({{"", kGreeting},
                     {kEhlo, "250-mx\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n"},
                     {"MAIL FROM:<alice@example.org> SMTPUTF8\r\nRCPT TO:<j\xc3\xb6rg@x.net>\r\n"
                      "DATA\r\n",
                      "250 ok\r\n250 ok\r\n354 go\r\n"},
                     {DotStuff(kBody), "250 ok\r\n"}},
                    false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  Envelope envelope = MakeEnvelope({"j\xc3\xb6rg@x.net"});
  envelope.smtputf8 = true;
  ASSERT_EQ(session.StartTransaction(envelope, kBody), Want::kWrite);
  EXPECT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_TRUE(session.result().delivered_any());
}

TEST(ClientSessionLocalTest, MessageLargerThanServerLimit) {
  FakeServer server(Connected(true), false);  // SIZE 10240000
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  EXPECT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net"}, 10240001), kBody), Want::kReady);
  EXPECT_TRUE(session.TakeOutput().empty());
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kPermFail);
  EXPECT_EQ(session.result().recipients[0].second.enhanced, "5.3.4");
}

TEST(ClientSessionLocalTest, RecipientWithLineBreakIsNeverSent) {
  FakeServer server(
      Concat(Connected(true), {{"MAIL FROM:<alice@example.org>\r\nRCPT TO:<ok@x.net>\r\n"
                                "DATA\r\n",
                                "250 ok\r\n250 ok\r\n354 go\r\n"},
                               {DotStuff(kBody), "250 ok\r\n"}}),
      false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net>\r\nRSET", "ok@x.net"}), kBody),
            Want::kWrite);
  ASSERT_EQ(server.Run(session, Want::kWrite), Want::kReady);
  EXPECT_TRUE(server.done());
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kPermFail);
  EXPECT_EQ(session.result().recipients[0].second.enhanced, "5.1.3");
  EXPECT_EQ(OutcomeAt(session, 1), RecipientOutcome::kAccepted);
}

TEST(ClientSessionLocalTest, TimeoutMidTransaction) {
  FakeServer server(Connected(false), false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net"}), kBody), Want::kWrite);
  EXPECT_EQ(session.TakeOutput(), "MAIL FROM:<alice@example.org>\r\n");
  session.OnTimeout();
  EXPECT_EQ(session.want(), Want::kFailed);
  EXPECT_EQ(session.failure(), Failure::kTimeout);
  EXPECT_EQ(session.failure_reason(), "timeout: no reply from the server in time");
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kTempFail);
  EXPECT_EQ(session.result().recipients[0].second.enhanced, "4.4.2");
}

TEST(ClientSessionLocalTest, RsetRefusedEndsTheConnection) {
  FakeServer server(Concat(Connected(false), {{"MAIL FROM:<alice@example.org>\r\n", "550 no\r\n"},
                                              {"RSET\r\n", "500 what\r\n"}}),
                    false);
  ClientSession session(Options());
  ASSERT_EQ(server.Run(session, Want::kRead), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"a@x.net"}), kBody), Want::kWrite);
  EXPECT_EQ(server.Run(session, Want::kWrite), Want::kDone);
  EXPECT_EQ(OutcomeAt(session, 0), RecipientOutcome::kPermFail);
  EXPECT_EQ(session.TakeOutput(), "QUIT\r\n");
}

// The caller times the reply to the final dot with its data timeout: the session says when that
// reply is the one due, and only then (not while MAIL/RCPT/DATA replies are outstanding).
TEST(ClientSessionTimeoutTest, AwaitingDataReplyOnlyAfterTheDotWasSent) {
  ClientSession session(Options());
  EXPECT_FALSE(session.awaiting_data_reply());
  ASSERT_EQ(session.OnBytes(kGreeting), Want::kWrite);
  session.TakeOutput();
  ASSERT_EQ(session.OnBytes(kEhloPipelining), Want::kReady);
  ASSERT_EQ(session.StartTransaction(MakeEnvelope({"bob@example.net"}), kBody), Want::kWrite);
  session.TakeOutput();
  EXPECT_FALSE(session.awaiting_data_reply());  // MAIL, RCPT and DATA replies are due
  ASSERT_EQ(session.OnBytes("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go\r\n"), Want::kWrite);
  EXPECT_FALSE(session.awaiting_data_reply());  // the body is not handed out yet
  EXPECT_EQ(session.TakeOutput(), DotStuff(kBody));
  EXPECT_TRUE(session.awaiting_data_reply());
  ASSERT_EQ(session.OnBytes("250 2.0.0 Ok\r\n"), Want::kReady);
  EXPECT_FALSE(session.awaiting_data_reply());
}

}  // namespace
}  // namespace tidegate::smtp
