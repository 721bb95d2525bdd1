// connection_test.cc — one delivery connection against a scripted peer (no sockets): what it
// reports, how it classifies each failure before a transaction, the deadlines it gives reads, and
// what it hears while idle.
#include "delivery/connection.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "base/filesystem.h"
#include "delivery/testing/scripted_peer.h"
#include "spool/testing/test_util.h"
#include "telemetry/counters.h"
#include "telemetry/mail_log.h"

namespace tidegate::delivery {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ScriptedPeer;

class ConnectionTest : public ::testing::Test {
 protected:
  ConnectionTest() : peer_(io_.get_executor()), report_(nullptr, &counters_) {}

  void SetUp() override {
    telemetry::MailLogOptions options;
    options.path = base::JoinPath(tmp_.path(), "mail.current");
    auto log = telemetry::MailLog::Open(options);
    ASSERT_TRUE(log) << log.error().message;
    log_ = std::move(*log);
    report_ = telemetry::DeliveryReport(log_.get(), &counters_);
  }

  ConnectionSettings Settings() {
    ConnectionSettings s;
    s.helo_name = "gw.test";
    s.tls = smtp::ClientOptions::Tls::kPreferred;
    s.tls_context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    s.connect_timeout = milliseconds(700);
    s.command_timeout = seconds(5);
    s.data_timeout = seconds(9);
    return s;
  }

  std::unique_ptr<Connection> Make(ConnectionSettings settings, bool journal = false) {
    telemetry::ReportStyle style;
    style.queue = journal ? "journal.queue" : "example.com";
    style.wording = journal ? telemetry::ReportStyle::Wording::kJournalCopy
                            : telemetry::ReportStyle::Wording::kPerRecipient;
    return std::make_unique<Connection>(peer_.Factory()(), std::move(settings), report_, style,
                                        [this] { return ++ids_; });
  }

  // The failure of an Open() (nothing when it is ready).
  static std::optional<Classified> Failure(const Opened& opened) {
    EXPECT_NE(opened.outcome, Opened::Outcome::kNoCapacity);
    if (opened.outcome == Opened::Outcome::kReady) return std::nullopt;
    return opened.failure;
  }

  // Runs `task` on the io_context to its end.
  template <typename F>
  void Run(F task) {
    bool done = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await task();
          done = true;
        },
        asio::detached);
    io_.run_for(seconds(5));
    io_.restart();
    ASSERT_TRUE(done) << "the connection did not finish";
  }

  std::string LogText() {
    log_->Flush();
    auto text = base::PosixFilesystem().ReadWholeFile(base::JoinPath(tmp_.path(), "mail.current"));
    return text ? *text : std::string();
  }

  asio::io_context io_;
  spool::testing::TempDir tmp_;
  ScriptedPeer peer_;
  std::vector<HostCandidate> hosts_{peer_.address};
  telemetry::Counters counters_;
  std::unique_ptr<telemetry::MailLog> log_;
  telemetry::DeliveryReport report_;
  std::uint64_t ids_ = 100;
};

TEST_F(ConnectionTest, RefusedConnectIsANetworkFailureWithNoDcid) {
  peer_.script.refuse_connect = true;
  auto c = Make(Settings());
  std::optional<Classified> failed;
  Run([&]() -> asio::awaitable<void> { failed = Failure(co_await c->Open(hosts_)); });
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->failure.cls, queue::FailureClass::kNetwork);
  EXPECT_EQ(failed->enhanced, "4.4.1");
  EXPECT_EQ(c->dcid(), 0u);
  EXPECT_NE(LogText().find("Connection Error: domain: example.com IP: 192.0.2.25 port: 25 "
                           "details: connection refused"),
            std::string::npos);
}

TEST_F(ConnectionTest, ReadyAfterGreetingEhloAndStartTlsAndTheGreetingWaitIsTheConnectTimeout) {
  auto c = Make(Settings());
  std::optional<Classified> failed;
  Run([&]() -> asio::awaitable<void> { failed = Failure(co_await c->Open(hosts_)); });
  EXPECT_FALSE(failed.has_value()) << failed->text;
  EXPECT_TRUE(c->ready());
  EXPECT_EQ(c->dcid(), 101u);
  EXPECT_EQ(peer_.journal.tls, 1);
  ASSERT_FALSE(peer_.journal.read_budgets.empty());
  // The greeting is bounded by connect_timeout (700 ms), later replies by command_timeout (5 s).
  EXPECT_LE(peer_.journal.read_budgets.front(), milliseconds(700));
  EXPECT_GT(peer_.journal.read_budgets.back(), seconds(4));
  const std::string log = LogText();
  EXPECT_NE(log.find("New SMTP DCID 101 interface 127.0.0.1 address 192.0.2.25 port 25"),
            std::string::npos);
  EXPECT_NE(log.find("DCID 101 TLS success protocol TLSv1.3"), std::string::npos);
}

TEST_F(ConnectionTest, ASilentPeerFailsTheGreetingAsANetworkError) {
  peer_.script.silent = true;
  auto c = Make(Settings());
  std::optional<Classified> failed;
  Run([&]() -> asio::awaitable<void> { failed = Failure(co_await c->Open(hosts_)); });
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->failure.cls, queue::FailureClass::kNetwork);
  EXPECT_LE(peer_.journal.read_budgets.front(), milliseconds(700));
}

TEST_F(ConnectionTest, ARefusedGreetingIsTheRepliesClass) {
  peer_.script.greeting = "554 5.7.1 go away";
  auto c = Make(Settings());
  std::optional<Classified> failed;
  Run([&]() -> asio::awaitable<void> { failed = Failure(co_await c->Open(hosts_)); });
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->failure.cls, queue::FailureClass::kPermanent);
  EXPECT_EQ(failed->code, 554);
}

TEST_F(ConnectionTest, RequiredTlsNotOfferedIsATlsFailurePermanentOnlyWhenTheRulesSaySo) {
  peer_.script.offer_starttls = false;
  for (bool permanent : {false, true}) {
    SCOPED_TRACE(permanent);
    ConnectionSettings s = Settings();
    s.tls = smtp::ClientOptions::Tls::kRequired;
    s.tls_failure_permanent = permanent;
    auto c = Make(s, /*journal=*/true);
    std::optional<Classified> failed;
    Run([&]() -> asio::awaitable<void> { failed = Failure(co_await c->Open(hosts_)); });
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->failure.cls, queue::FailureClass::kTls);
    EXPECT_EQ(failed->enhanced, permanent ? "5.7.10" : "4.7.10");
  }
  // The journal wording names the queue and says why.
  EXPECT_NE(LogText().find("TDC: Connection Error: DCID 101 domain: journal.queue IP: 192.0.2.25 "
                           "port: 25"),
            std::string::npos);
  EXPECT_NE(LogText().find("reason: TLS error"), std::string::npos);
}

TEST_F(ConnectionTest, AFailedHandshakeIsReportedAndClassifiedAsTls) {
  peer_.script.tls_handshake_ok = false;
  ConnectionSettings s = Settings();
  s.tls = smtp::ClientOptions::Tls::kRequired;
  auto c = Make(s);
  std::optional<Classified> failed;
  Run([&]() -> asio::awaitable<void> { failed = Failure(co_await c->Open(hosts_)); });
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->failure.cls, queue::FailureClass::kTls);
  EXPECT_NE(LogText().find("TLS failed: certificate verify failed"), std::string::npos);
}

TEST_F(ConnectionTest, SendGivesEachRecipientItsOutcomeAndStaysReady) {
  peer_.script.rcpt_reply = [](const std::string& a) {
    return a.starts_with("gone") ? std::string("550 5.1.1 no such user")
                                 : std::string("250 2.1.5 ok");
  };
  auto c = Make(Settings());
  Run([&]() -> asio::awaitable<void> {
    if (Failure(co_await c->Open(hosts_))) co_return;
    smtp::Envelope e;
    e.sender = "a@example.org";
    e.recipients = {"one@example.com", "gone@example.com"};
    co_await c->Send(std::move(e), "Subject: x\r\n\r\nbody\r\n",
                     Connection::Clock::now() + seconds(30));
  });
  ASSERT_EQ(c->result().recipients.size(), 2u);
  EXPECT_EQ(c->result().recipients[0].first, smtp::RecipientOutcome::kAccepted);
  EXPECT_EQ(c->result().recipients[1].first, smtp::RecipientOutcome::kPermFail);
  EXPECT_EQ(c->result().recipients[1].second.code, 550);
  EXPECT_TRUE(c->ready());
  EXPECT_FALSE(c->cut());
  EXPECT_EQ(peer_.journal.transactions, 1);
}

TEST_F(ConnectionTest, ACutAtDataIsACutNotAnAnswer) {
  peer_.script.cut_at_data = true;
  auto c = Make(Settings());
  Run([&]() -> asio::awaitable<void> {
    if (Failure(co_await c->Open(hosts_))) co_return;
    smtp::Envelope e;
    e.sender = "a@example.org";
    e.recipients = {"one@example.com"};
    co_await c->Send(std::move(e), "x\r\n", Connection::Clock::now() + seconds(30));
  });
  EXPECT_TRUE(c->cut());
  EXPECT_FALSE(c->ready());
  ASSERT_EQ(c->result().recipients.size(), 1u);
  EXPECT_EQ(c->result().recipients[0].first, smtp::RecipientOutcome::kTempFail);
}

TEST_F(ConnectionTest, IdleHearsLingerRingAndAPeerThatCloses) {
  auto c = Make(Settings());
  asio::steady_timer timer(io_);
  std::vector<Connection::Idle> heard;
  Run([&]() -> asio::awaitable<void> {
    if (Failure(co_await c->Open(hosts_))) co_return;
    timer.expires_after(milliseconds(1));
    heard.push_back(co_await c->WaitIdle(timer));  // lingered
    timer.expires_after(seconds(60));
    asio::post(io_, [&] { timer.cancel(); });
    heard.push_back(co_await c->WaitIdle(timer));  // rung
    timer.expires_after(seconds(60));
    asio::post(io_, [&] { peer_.DropIdle(); });
    heard.push_back(co_await c->WaitIdle(timer));  // the peer closed
  });
  EXPECT_EQ(heard,
            (std::vector<Connection::Idle>{Connection::Idle::kLingered, Connection::Idle::kRung,
                                           Connection::Idle::kLost}));
  EXPECT_FALSE(c->ready());  // no QUIT to a peer that left
}

TEST_F(ConnectionTest, HostsWithoutAFreeSlotAreSkippedAndTheSlotIsGivenBackOnClose) {
  HostCandidate full = peer_.address;
  full.host = "full.test";
  std::vector<std::string> acquired, released;
  ConnectionSettings s = Settings();
  s.acquire = [&](const HostCandidate& h) {
    if (h.host == "full.test") return false;
    acquired.push_back(h.host);
    return true;
  };
  s.release = [&](const HostCandidate& h) { released.push_back(h.host); };

  // Only a full host: nothing is tried, and that is no failure of the peer.
  auto capped = Make(s);
  Opened opened;
  const std::vector<HostCandidate> only_full{full};
  Run([&]() -> asio::awaitable<void> { opened = co_await capped->Open(only_full); });
  EXPECT_EQ(opened.outcome, Opened::Outcome::kNoCapacity);
  EXPECT_EQ(peer_.journal.connects, 0);
  EXPECT_EQ(LogText().find("Connection Error"), std::string::npos);

  // A full host first, then one with a slot: the second is used, and its slot comes back.
  auto c = Make(s);
  const std::vector<HostCandidate> both{full, peer_.address};
  Run([&]() -> asio::awaitable<void> { opened = co_await c->Open(both); });
  EXPECT_EQ(opened.outcome, Opened::Outcome::kReady);
  EXPECT_EQ(acquired, std::vector<std::string>{"peer.test"});
  EXPECT_TRUE(released.empty());
  c->Close();
  EXPECT_EQ(released, std::vector<std::string>{"peer.test"});
  c.reset();
  EXPECT_EQ(released.size(), 1u);  // once, not again on destruction
}

TEST_F(ConnectionTest, ARefusedHostGivesItsSlotBackAtOnce) {
  peer_.script.refuse_connect = true;
  int held = 0;
  ConnectionSettings s = Settings();
  s.acquire = [&](const HostCandidate&) { return ++held, true; };
  s.release = [&](const HostCandidate&) { --held; };
  auto c = Make(s);
  Opened opened;
  Run([&]() -> asio::awaitable<void> { opened = co_await c->Open(hosts_); });
  EXPECT_EQ(opened.outcome, Opened::Outcome::kFailed);
  EXPECT_EQ(held, 0);
}

}  // namespace
}  // namespace tidegate::delivery
