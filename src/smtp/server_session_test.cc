#include "smtp/server_session.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tidegate::smtp {
namespace {

using namespace std::string_literals;

class ServerSessionTest : public ::testing::Test {
 protected:
  void Start(SessionOptions options = Options()) {
    session_ = std::make_unique<ServerSession>(options, [this](const mail::Address& a) {
      checked_.push_back(a.str());
      const std::string local = a.local_unquoted();
      if (a.domain_lower() != "example.com" && a.domain_lower() != "gw.example.com") {
        return RcptVerdict::kRelayDenied;
      }
      if (local == "unknown") return RcptVerdict::kUnknownUser;
      if (local == "tempfail") return RcptVerdict::kTempFail;
      if (local.starts_with("lookup")) return RcptVerdict::kLookup;
      return RcptVerdict::kAccept;
    });
    Step g = session_->Greeting();
    EXPECT_EQ(g.output, "220 gw.example.com ESMTP\r\n");
    EXPECT_EQ(g.next, Next::kReadCommand);
  }

  static SessionOptions Options() {
    SessionOptions o;
    o.hostname = "gw.example.com";
    o.max_message_size = 1000;
    o.max_recipients = 3;
    return o;
  }

  Step Cmd(std::string_view line) { return session_->OnCommand(line); }

  // Sends a command and expects the reply to start with `prefix` (e.g. "250 2.1.0").
  Step Expect(std::string_view line, std::string_view prefix, Next next = Next::kReadCommand) {
    Step s = Cmd(line);
    EXPECT_EQ(s.output.substr(0, prefix.size()), prefix) << "command: " << line << "\n" << s.output;
    EXPECT_TRUE(s.output.size() >= 2 && s.output.substr(s.output.size() - 2) == "\r\n");
    EXPECT_EQ(s.next, next) << line;
    return s;
  }

  // EHLO, MAIL, one RCPT, DATA: ready for OnData.
  void BeginData(std::string_view mail_args = "") {
    Expect("EHLO client.example", "250-gw.example.com");
    Expect("MAIL FROM:<s@sender.example>" + std::string(mail_args), "250 2.1.0");
    Expect("RCPT TO:<u@example.com>", "250 2.1.5");
    Expect("DATA", "354 ", Next::kReadData);
  }

  Step Data(std::string_view bytes, std::size_t* consumed = nullptr) {
    std::size_t n = 0;
    Step s = session_->OnData(bytes, &n);
    if (consumed) *consumed = n;
    return s;
  }

  std::unique_ptr<ServerSession> session_;
  std::vector<std::string> checked_;
};

TEST_F(ServerSessionTest, GreetingUsesHostnameAndText) {
  SessionOptions o = Options();
  o.greeting_text = "ESMTP tidegate";
  ServerSession s(o, [](const mail::Address&) { return RcptVerdict::kAccept; });
  EXPECT_EQ(s.Greeting().output, "220 gw.example.com ESMTP tidegate\r\n");
}

TEST_F(ServerSessionTest, EhloListsExtensions) {
  Start();
  Step s = Expect("EHLO client.example", "250-");
  EXPECT_EQ(s.output,
            "250-gw.example.com\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n");
  EXPECT_TRUE(session_->esmtp());
  EXPECT_EQ(session_->helo(), "client.example");
}

TEST_F(ServerSessionTest, EhloOffersStartTlsOnlyWhenAvailableAndInactive) {
  SessionOptions o = Options();
  o.tls_available = true;
  Start(o);
  Step s = Expect("EHLO client.example", "250-");
  EXPECT_NE(s.output.find("250-STARTTLS\r\n"), std::string::npos);
  Expect("STARTTLS", "220 2.0.0 Ready to start TLS", Next::kStartTls);
  s = session_->OnTlsEstablished();
  EXPECT_EQ(s.output, "");
  EXPECT_EQ(s.next, Next::kReadCommand);
  s = Expect("EHLO client.example", "250-");
  EXPECT_EQ(s.output.find("STARTTLS"), std::string::npos);
}

TEST_F(ServerSessionTest, HeloPlain) {
  Start();
  Step s = Expect("HELO client.example", "250 ");
  EXPECT_EQ(s.output, "250 gw.example.com\r\n");
  EXPECT_FALSE(session_->esmtp());
}

TEST_F(ServerSessionTest, HeloArgumentMustBePlausible) {
  Start();
  Expect("EHLO", "501 5.5.4");
  Expect("HELO", "501 5.5.4");
  Expect("EHLO two words", "501 5.5.4");
  Expect("EHLO <client.example>", "501 5.5.4");
  Expect("EHLO ...", "501 5.5.4");
  Expect("EHLO cl\xc3\xa9nt.example", "501 5.5.4");
  Expect("EHLO [1.2.3.4", "501 5.5.4");
  EXPECT_EQ(session_->helo(), "");
  Expect("EHLO [192.0.2.1]", "250-");
  Expect("EHLO [IPv6:2001:db8::1]", "250-");
  Expect("HELO my_pc", "250 ");
  Expect("EHLO localhost", "250-");
}

TEST_F(ServerSessionTest, EhloAndHeloResetTransaction) {
  Start();
  Expect("EHLO client.example", "250-");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  Expect("RCPT TO:<u@example.com>", "250 2.1.5");
  Step s = Expect("EHLO client.example", "250-");
  EXPECT_EQ(s.event, Event::kTransactionReset);
  EXPECT_TRUE(session_->transaction().recipients.empty());
  Expect("RCPT TO:<u@example.com>", "503 5.5.1");
  s = Expect("HELO client.example", "250 ");
  EXPECT_EQ(s.event, Event::kNone);  // nothing to drop
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  EXPECT_EQ(Expect("HELO client.example", "250 ").event, Event::kTransactionReset);
}

TEST_F(ServerSessionTest, MailNeedsHelo) {
  Start();
  Expect("MAIL FROM:<s@sender.example>", "503 5.5.1");
}

TEST_F(ServerSessionTest, MailAcceptedSetsTransaction) {
  Start();
  Expect("EHLO client.example", "250-");
  Step s = Expect("MAIL FROM:<s@sender.example> SIZE=500 BODY=8BITMIME SMTPUTF8", "250 2.1.0 Ok");
  EXPECT_EQ(s.event, Event::kMailAccepted);
  const Transaction& t = session_->transaction();
  EXPECT_EQ(t.sender.str(), "s@sender.example");
  EXPECT_EQ(t.declared_size, 500u);
  EXPECT_TRUE(t.body_8bit);
  EXPECT_TRUE(t.smtputf8);
  Expect("MAIL FROM:<other@sender.example>", "503 5.5.1");  // nested
  Expect("RSET", "250 2.0.0");
  EXPECT_EQ(Expect("MAIL FROM:<>", "250 2.1.0").event, Event::kMailAccepted);
  EXPECT_TRUE(session_->transaction().sender.null());
}

TEST_F(ServerSessionTest, MailSizeLimit) {
  Start();
  Expect("EHLO client.example", "250-");
  Step s = Expect("MAIL FROM:<s@sender.example> SIZE=1001", "552 5.3.4");
  EXPECT_EQ(s.event, Event::kNone);
  Expect("RCPT TO:<u@example.com>", "503 5.5.1");  // no transaction was started
  Expect("MAIL FROM:<s@sender.example> SIZE=1000", "250 2.1.0");
}

TEST_F(ServerSessionTest, MailParameterErrors) {
  Start();
  Expect("HELO client.example", "250 ");
  Expect("MAIL FROM:<s@sender.example> SIZE=10", "555 5.5.4");  // no extensions after HELO
  Expect("EHLO client.example", "250-");
  Expect("MAIL FROM:<s@sender.example> XFOO=1", "555 5.5.4");
  Expect("MAIL FROM:<s@sender.example> BODY=BINARYMIME", "501 5.5.4");
  Expect("MAIL FROM:s@sender.example", "501 5.1.7");
  Expect("MAIL FROM:<s@@sender.example>", "501 5.1.7");
  Expect("MAIL <s@sender.example>", "501 5.5.4");
  Expect("MAIL FROM:<j\xc3\xb6rg@sender.example>", "553 5.6.7");
  Expect("MAIL FROM:<j\xc3\xb6rg@sender.example> SMTPUTF8", "250 2.1.0");
}

TEST_F(ServerSessionTest, RequireTls) {
  SessionOptions o = Options();
  o.tls_available = true;
  o.require_tls = true;
  Start(o);
  Expect("EHLO client.example", "250-");
  Expect("MAIL FROM:<s@sender.example>", "530 5.7.0 Must issue a STARTTLS command first");
  Expect("STARTTLS", "220 2.0.0", Next::kStartTls);
  session_->OnTlsEstablished();
  EXPECT_TRUE(session_->tls_active());
  Expect("MAIL FROM:<s@sender.example>", "503 5.5.1");  // HELO was forgotten
  Expect("EHLO client.example", "250-");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
}

TEST_F(ServerSessionTest, RcptVerdicts) {
  Start();
  Expect("EHLO client.example", "250-");
  Expect("RCPT TO:<u@example.com>", "503 5.5.1");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  Step s = Expect("RCPT TO:<u@example.com>", "250 2.1.5");
  EXPECT_EQ(s.event, Event::kRcptAccepted);
  EXPECT_EQ(session_->last_rcpt_index(), 0u);
  EXPECT_EQ(Expect("RCPT TO:<u@other.example>", "550 5.7.1 Relaying denied").event, Event::kNone);
  Expect("RCPT TO:<unknown@example.com>", "550 5.1.1");
  Expect("RCPT TO:<tempfail@example.com>", "451 4.3.0");
  EXPECT_EQ(Expect("RCPT TO:<v@Example.COM>", "250 2.1.5").event, Event::kRcptAccepted);
  EXPECT_EQ(session_->last_rcpt_index(), 1u);
  Expect("RCPT TO:<u@example..com>", "501 5.1.3");
  Expect("RCPT TO:<>", "501 5.1.3");
  Expect("RCPT TO:<u@example.com> NOTIFY=NEVER", "555 5.5.4");
  Expect("RCPT TO:<\xc3\xb6@example.com>", "553 5.6.7");
  ASSERT_EQ(session_->transaction().recipients.size(), 2u);
  EXPECT_EQ(session_->transaction().recipients[1].str(), "v@Example.COM");
}

TEST_F(ServerSessionTest, RoutingLocalPartsDeniedBeforeLookup) {
  Start();
  Expect("EHLO client.example", "250-");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  for (const char* rcpt : {"<u%other.example@example.com>", "<other.example!u@example.com>",
                           "<\"u%other.example\"@example.com>", "<\"u!x\"@example.com>",
                           "<\"u@other.example\"@example.com>"}) {
    Expect("RCPT TO:"s + rcpt, "550 5.7.1 Relaying denied");
  }
  EXPECT_TRUE(checked_.empty());
  EXPECT_TRUE(session_->transaction().recipients.empty());
}

TEST_F(ServerSessionTest, TooManyRecipients) {
  Start();
  Expect("EHLO client.example", "250-");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  Expect("RCPT TO:<a@example.com>", "250 2.1.5");
  Expect("RCPT TO:<b@example.com>", "250 2.1.5");
  Expect("RCPT TO:<c@example.com>", "250 2.1.5");
  EXPECT_EQ(session_->last_rcpt_index(), 2u);
  Expect("RCPT TO:<d@example.com>", "452 4.5.3 Error: too many recipients");
  Expect("RCPT TO:<e@example.com>", "452 4.5.3");
  EXPECT_EQ(session_->recipients_over_limit(), 2u);
  EXPECT_EQ(session_->transaction().recipients.size(), 3u);
  EXPECT_EQ(checked_.size(), 3u);
  Expect("RSET", "250 2.0.0");
  EXPECT_EQ(session_->recipients_over_limit(), 0u);
}

TEST_F(ServerSessionTest, PostmasterWithoutDomain) {
  Start();
  Expect("EHLO client.example", "250-");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  Expect("RCPT TO:<Postmaster>", "250 2.1.5");
  ASSERT_EQ(checked_.size(), 1u);
  EXPECT_EQ(checked_[0], "Postmaster@gw.example.com");
}

TEST_F(ServerSessionTest, DataSequenceErrors) {
  Start();
  Expect("EHLO client.example", "250-");
  Expect("DATA", "503 5.5.1");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  Expect("DATA", "554 5.5.1");
  Expect("RCPT TO:<unknown@example.com>", "550 5.1.1");
  Expect("DATA", "554 5.5.1");
  Expect("RCPT TO:<u@example.com>", "250 2.1.5");
  Expect("DATA now", "501 5.5.4");
  Expect("DATA", "354 End data with <CR><LF>.<CR><LF>", Next::kReadData);
}

TEST_F(ServerSessionTest, MessageCommittedAndPipelinedCommandLeftOver) {
  Start();
  BeginData();
  std::size_t n = 0;
  Step s = Data("Subject: hi\r\n\r\n..dot\r\n", &n);
  EXPECT_EQ(n, 22u);
  EXPECT_EQ(s.output, "");
  EXPECT_EQ(s.next, Next::kReadData);
  const std::string rest = ".\r\nQUIT\r\n";
  s = Data(rest, &n);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(s.output, "");
  EXPECT_EQ(s.next, Next::kCommitMessage);
  EXPECT_EQ(session_->transaction().body, "Subject: hi\r\n\r\n.dot\r\n");
  Transaction t = session_->TakeTransaction();
  EXPECT_EQ(t.sender.str(), "s@sender.example");
  ASSERT_EQ(t.recipients.size(), 1u);
  s = session_->OnCommitted(true, "1234");
  EXPECT_EQ(s.output, "250 2.0.0 Ok: queued as 1234\r\n");
  EXPECT_EQ(s.next, Next::kReadCommand);
  Expect("RCPT TO:<u@example.com>", "503 5.5.1");  // transaction over
  Expect("QUIT", "221 2.0.0", Next::kClose);
}

TEST_F(ServerSessionTest, CommitFailure) {
  Start();
  BeginData();
  EXPECT_EQ(Data("x\r\n.\r\n").next, Next::kCommitMessage);
  Step s = session_->OnCommitted(false, "");
  EXPECT_EQ(s.output, "452 4.3.1 Insufficient system storage\r\n");
  EXPECT_EQ(s.next, Next::kReadCommand);
  EXPECT_TRUE(session_->transaction().recipients.empty());
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
}

TEST_F(ServerSessionTest, PermanentRejectionByTheAcceptor) {
  Start();
  BeginData();
  EXPECT_EQ(Data("Received: x\r\n\r\nbody\r\n.\r\n").next, Next::kCommitMessage);
  Step s = session_->OnRejected("5.4.6", "Too many hops\r\n250 injected");
  EXPECT_EQ(s.output, "554 5.4.6 Too many hops??250 injected\r\n");
  EXPECT_EQ(s.next, Next::kReadCommand);
  EXPECT_EQ(s.event, Event::kMessageRejected);
  EXPECT_TRUE(session_->transaction().recipients.empty());
  EXPECT_TRUE(session_->transaction().body.empty());
  // A refused message is not a bad command: nine more bad commands do not reach the limit of ten.
  for (int i = 0; i < 8; ++i) Expect("BOGUS", "500 5.5.2");
  // The transaction is over: DATA needs a new MAIL (the ninth bad command); the session goes on.
  Expect("DATA", "503 5.5.1");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  Expect("RCPT TO:<u@example.com>", "250 2.1.5");
  Expect("DATA", "354 ", Next::kReadData);
  EXPECT_EQ(Data("ok\r\n.\r\n").next, Next::kCommitMessage);
  EXPECT_EQ(session_->OnCommitted(true, "7").output, "250 2.0.0 Ok: queued as 7\r\n");
}

TEST_F(ServerSessionTest, QueueIdIsSanitized) {
  Start();
  BeginData();
  Data(".\r\n");
  EXPECT_EQ(session_->OnCommitted(true, "1\r\n250 x").output,
            "250 2.0.0 Ok: queued as 1??250 x\r\n");
}

TEST_F(ServerSessionTest, MessageTooBig) {
  Start();
  BeginData();
  const std::string big(1001, 'x');
  Step s = Data(big);
  EXPECT_EQ(s.next, Next::kReadData);
  s = Data("\r\n.\r\n");
  EXPECT_EQ(s.output, "552 5.3.4 Message size exceeds fixed limit\r\n");
  EXPECT_EQ(s.next, Next::kReadCommand);
  EXPECT_EQ(s.event, Event::kMessageRejected);
  EXPECT_TRUE(session_->transaction().body.empty());
  Expect("RCPT TO:<u@example.com>", "503 5.5.1");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");  // session still usable
}

TEST_F(ServerSessionTest, MessageExactlyAtLimitAccepted) {
  Start();
  BeginData();
  const std::string body = std::string(998, 'x') + "\r\n";  // 1000 bytes
  EXPECT_EQ(Data(body + ".\r\n").next, Next::kCommitMessage);
  EXPECT_EQ(session_->transaction().body, body);
}

TEST_F(ServerSessionTest, BareLineEndingsRejected) {
  for (const std::string& fake : {"\n.\n"s, "\r\n.\n"s, "\n.\r\n"s, "\r.\r"s, "\r\n.\r"s}) {
    Start();
    BeginData();
    const std::string smuggled =
        "a" + fake + "MAIL FROM:<evil@x.example>\r\nRCPT TO:<u@example.com>\r\n";
    Step s = Data(smuggled);
    EXPECT_EQ(s.next, Next::kReadData);
    EXPECT_EQ(s.output, "");
    s = Data("\r\n.\r\n");
    EXPECT_EQ(s.output.substr(0, 10), "550 5.6.0 ");
    EXPECT_NE(s.output.find("bare CR or LF not allowed"), std::string::npos);
    EXPECT_EQ(s.event, Event::kMessageRejected);
    EXPECT_EQ(s.next, Next::kReadCommand);
    Expect("RCPT TO:<u@example.com>", "503 5.5.1");
  }
}

TEST_F(ServerSessionTest, NulInDataRejected) {
  Start();
  BeginData();
  Step s = Data("a\0b\r\n.\r\n"s);
  EXPECT_EQ(s.output.substr(0, 10), "550 5.6.0 ");
  EXPECT_EQ(s.event, Event::kMessageRejected);
}

TEST_F(ServerSessionTest, SimpleCommands) {
  Start();
  Expect("NOOP", "250 2.0.0");
  Expect("RSET", "250 2.0.0");
  Expect("RSET x", "501 5.5.4");
  Expect("VRFY root", "252 2.5.0");
  Expect("VRFY", "501 5.5.4");
  Expect("EXPN staff", "502 5.5.1");
  Expect("HELP", "214 2.0.0");
  Expect("AUTH PLAIN AGFhAGI=", "502 5.5.1");
  Expect("BDAT 10 LAST", "502 5.5.1");
  Expect("STARTTLS", "502 5.5.1");  // not available
  Expect("XYZZY", "500 5.5.2");
  Expect("QUIT now", "501 5.5.4");
  Expect("quit", "221 2.0.0", Next::kClose);
  Step s = Cmd("NOOP");
  EXPECT_EQ(s.output, "");
  EXPECT_EQ(s.next, Next::kClose);
}

TEST_F(ServerSessionTest, RsetEvent) {
  Start();
  Expect("EHLO client.example", "250-");
  EXPECT_EQ(Expect("RSET", "250 2.0.0").event, Event::kNone);
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  EXPECT_EQ(Expect("RSET", "250 2.0.0").event, Event::kTransactionReset);
  Expect("RCPT TO:<u@example.com>", "503 5.5.1");
}

TEST_F(ServerSessionTest, BadLinesAndLongLines) {
  Start();
  Expect("NOOP\0"s, "500 5.5.2");
  Expect("NOOP\rRSET", "500 5.5.2");
  Expect("", "500 5.5.2");
  Step s = session_->OnLineTooLong();
  EXPECT_EQ(s.output.substr(0, 10), "500 5.5.2 ");
  EXPECT_EQ(s.next, Next::kReadCommand);
}

TEST_F(ServerSessionTest, TenBadCommandsInARowClose) {
  Start();
  // An HTTP client talking to the SMTP port.
  const char* http[] = {"POST / HTTP/1.1",
                        "Host: gw.example.com",
                        "User-Agent: x",
                        "Content-Type: text/plain",
                        "Content-Length: 10",
                        "Accept: */*",
                        "X-A: 1",
                        "X-B: 2",
                        "X-C: 3"};
  for (const char* line : http) Expect(line, "500 5.5.2");
  Step s = Cmd("X-D: 4");
  EXPECT_EQ(s.output,
            "500 5.5.2 Error: command not recognized\r\n"
            "421 4.7.0 gw.example.com Error: too many errors\r\n");
  EXPECT_EQ(s.next, Next::kClose);
}

TEST_F(ServerSessionTest, BadCommandCountResetsOnSuccess) {
  Start();
  for (int i = 0; i < 9; ++i) Expect("BOGUS", "500 5.5.2");
  Expect("NOOP", "250 2.0.0");
  for (int i = 0; i < 9; ++i) Expect("BOGUS", "500 5.5.2");
  session_->OnLineTooLong();  // the 10th in a row
  Step s = Cmd("NOOP");
  EXPECT_EQ(s.next, Next::kClose);
  EXPECT_EQ(s.output, "");
}

TEST_F(ServerSessionTest, StartTlsRules) {
  SessionOptions o = Options();
  o.tls_available = true;
  Start(o);
  Expect("EHLO client.example", "250-");
  Expect("STARTTLS now", "501 5.5.4");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  Expect("STARTTLS", "503 5.5.1");  // transaction in progress
  Expect("RSET", "250 2.0.0");
  Expect("STARTTLS", "220 2.0.0 Ready to start TLS", Next::kStartTls);
  Step s = session_->OnTlsEstablished();
  EXPECT_EQ(s.next, Next::kReadCommand);
  EXPECT_TRUE(session_->tls_active());
  EXPECT_EQ(session_->helo(), "");
  EXPECT_FALSE(session_->esmtp());
  Expect("STARTTLS", "503 5.5.1");  // already active
}

TEST_F(ServerSessionTest, TlsForgetsTransaction) {
  SessionOptions o = Options();
  o.tls_available = true;
  Start(o);
  Expect("EHLO client.example", "250-");
  Expect("STARTTLS", "220 ", Next::kStartTls);
  session_->OnTlsEstablished();
  Expect("RCPT TO:<u@example.com>", "503 5.5.1");
  Expect("MAIL FROM:<s@sender.example>", "503 5.5.1");
}

TEST_F(ServerSessionTest, TimeoutAndShutdown) {
  Start();
  Step s = session_->OnTimeout();
  EXPECT_EQ(s.output, "421 4.4.2 gw.example.com Error: timeout exceeded\r\n");
  EXPECT_EQ(s.next, Next::kClose);
  EXPECT_EQ(session_->OnShutdown().output, "");
  Start();
  BeginData();
  s = session_->OnShutdown();
  EXPECT_EQ(s.output.substr(0, 10), "421 4.3.2 ");
  EXPECT_EQ(s.next, Next::kClose);
  std::size_t n = 99;
  EXPECT_EQ(session_->OnData("x", &n).next, Next::kClose);
  EXPECT_EQ(n, 0u);
}

TEST_F(ServerSessionTest, RepliesNeverEchoClientBytes) {
  Start();
  const std::string nasty = "EVIL<script>\xc3\xa9";
  for (const std::string& line :
       {nasty, "EHLO " + nasty, "MAIL FROM:<" + nasty + ">", "VRFY " + nasty}) {
    Step s = Cmd(line);
    EXPECT_EQ(s.output.find("EVIL"), std::string::npos) << s.output;
    EXPECT_EQ(s.output.find("script"), std::string::npos) << s.output;
  }
}

// Recipient validation (CONTRACT §13): kLookup hands the recipient to the network layer.
TEST_F(ServerSessionTest, LookupAnswersInOrderAndOnlyKnownRecipientsAreKept) {
  Start();
  Expect("EHLO client.example", "250-gw.example.com");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  Step s = Cmd("RCPT TO:<lookup-known@example.com>");
  EXPECT_EQ(s.output, "");
  EXPECT_EQ(s.next, Next::kLookupRecipient);
  EXPECT_EQ(session_->pending_recipient().str(), "lookup-known@example.com");
  s = session_->OnRecipientLookup(LookupResult::kAccept);
  EXPECT_EQ(s.output, "250 2.1.5 Ok\r\n");
  EXPECT_EQ(s.event, Event::kRcptAccepted);
  EXPECT_EQ(session_->last_rcpt_index(), 0u);

  ASSERT_EQ(Cmd("RCPT TO:<lookup-nobody@Example.COM>").next, Next::kLookupRecipient);
  s = session_->OnRecipientLookup(LookupResult::kUnknown);
  EXPECT_EQ(s.output,
            "550 5.1.1 <lookup-nobody@Example.COM>: Recipient address rejected: User unknown\r\n");
  EXPECT_EQ(s.next, Next::kReadCommand);
  EXPECT_EQ(s.event, Event::kNone);

  ASSERT_EQ(Cmd("RCPT TO:<lookup-x@example.com>").next, Next::kLookupRecipient);
  s = session_->OnRecipientLookup(LookupResult::kTempFail);
  EXPECT_EQ(s.output,
            "451 4.4.3 <lookup-x@example.com>: Recipient address rejected: Temporary lookup "
            "failure, try again later\r\n");

  Expect("RCPT TO:<plain@example.com>", "250 2.1.5");
  ASSERT_EQ(session_->transaction().recipients.size(), 2u);
  EXPECT_EQ(session_->transaction().recipients[0].str(), "lookup-known@example.com");
  EXPECT_EQ(session_->transaction().recipients[1].str(), "plain@example.com");
  EXPECT_EQ(session_->last_rcpt_index(), 1u);
}

TEST_F(ServerSessionTest, UnknownRecipientsDoNotCountAsBadCommands) {
  Start();
  Expect("EHLO client.example", "250-gw.example.com");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(Cmd("RCPT TO:<lookup" + std::to_string(i) + "@example.com>").next,
              Next::kLookupRecipient);
    EXPECT_EQ(session_->OnRecipientLookup(LookupResult::kUnknown).next, Next::kReadCommand);
  }
}

TEST_F(ServerSessionTest, HarvestLimitClosesWith421) {
  Start();
  Expect("EHLO client.example", "250-gw.example.com");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  ASSERT_EQ(Cmd("RCPT TO:<lookup1@example.com>").next, Next::kLookupRecipient);
  Step s = session_->OnRecipientLookup(LookupResult::kHarvestLimit);
  EXPECT_EQ(s.output, "421 4.7.0 gw.example.com Error: too many invalid recipients\r\n");
  EXPECT_EQ(s.next, Next::kClose);
  EXPECT_EQ(Cmd("RCPT TO:<x@example.com>").next, Next::kClose);
}

TEST_F(ServerSessionTest, TimeoutDuringALookupCloses) {
  Start();
  Expect("EHLO client.example", "250-gw.example.com");
  Expect("MAIL FROM:<s@sender.example>", "250 2.1.0");
  ASSERT_EQ(Cmd("RCPT TO:<lookup1@example.com>").next, Next::kLookupRecipient);
  EXPECT_EQ(session_->OnTimeout().next, Next::kClose);
  EXPECT_EQ(session_->OnRecipientLookup(LookupResult::kAccept).next, Next::kClose);
  EXPECT_TRUE(session_->transaction().recipients.empty());
}

}  // namespace
}  // namespace tidegate::smtp
