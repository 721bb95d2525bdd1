#include "intake/acceptor.h"

#include <gtest/gtest.h>

#include <future>

#include "intake/unwrap.h"
#include "mail/journal_report.h"
#include "spool/testing/test_util.h"
#include "telemetry/mail_log.h"

namespace tidegate::intake {
namespace {

using spool::testing::TempDir;

const char kOriginal[] =
    "Received: from client.example.org ([192.0.2.7])\r\n"
    "\tby gw.example.com (tidegate) with ESMTP id 77; Fri, 16 Feb 2024 21:19:22 +0000\r\n"
    "X-IronPort-RemoteIP: 192.0.2.7\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.com\r\n"
    "Subject: quarterly numbers\r\n"
    "Message-ID: <q1@example.org>\r\n"
    "X-IronPort-RemoteIP: 203.0.113.66\r\n"
    "\r\n"
    "X-IronPort-RemoteIP: 198.51.100.1\r\n"
    "Hello Bob.\r\n.dotted\r\n";

std::string Report(std::string_view original,
                   std::vector<std::string> rcpts = {"bob@example.com", "carol@example.com"}) {
  mail::JournalInput in;
  in.reporting_host = "gw.example.com";
  in.sender = "alice@example.org";
  in.recipients = std::move(rcpts);
  in.subject = "quarterly numbers";
  in.message_id = "<q1@example.org>";
  in.original = original;
  in.now = base::SystemTime(std::chrono::seconds(1708118362));
  in.original_mid = 77;
  return mail::BuildJournalReport(in);
}

// What the intake's session hands over: its own Received: on top of the client's bytes.
std::string AsReceived(std::string_view data) {
  return "Received: from gw.example.com ([127.0.0.1])\r\n\tby intake.example.net (tidegate) "
         "with ESMTPS id 5; Fri, 16 Feb 2024 21:19:23 +0000\r\n" +
         std::string(data);
}

TEST(Unwrap, JournalReportGivesTheOriginalByteExactAndItsEnvelope) {
  const std::string body = AsReceived(Report(kOriginal));
  Unwrapped u = Unwrap(body, "X-IronPort-RemoteIP", "", {"b5986efe@intake.example.net"},
                       "127.0.0.1");
  EXPECT_TRUE(u.journal);
  EXPECT_EQ(u.original, kOriginal);
  EXPECT_EQ(u.sender, "alice@example.org");
  EXPECT_EQ(u.recipients, (std::vector<std::string>{"bob@example.com", "carol@example.com"}));
  EXPECT_EQ(u.subject, "quarterly numbers");
  EXPECT_EQ(u.message_id, "<q1@example.org>");
  // The first field wins: the gateway's; a sender's lower down and the body's are never read.
  EXPECT_EQ(u.remote_ip, "192.0.2.7");
}

TEST(Unwrap, RemoteIpHeaderIsCaseInsensitiveAndValidated) {
  EXPECT_EQ(RemoteIpFromHeader("x-ironport-remoteip:  2001:DB8::1 \r\n\r\n", "X-IronPort-RemoteIP"),
            "2001:db8::1");
  EXPECT_EQ(RemoteIpFromHeader("X-Real-IP: [192.0.2.9]\r\n\r\n", "X-Real-IP"), "192.0.2.9");
  EXPECT_EQ(RemoteIpFromHeader("X-IronPort-RemoteIP: <script>\r\n\r\n", "X-IronPort-RemoteIP"),
            "");
  EXPECT_EQ(RemoteIpFromHeader("Subject: x\r\n\r\nX-IronPort-RemoteIP: 192.0.2.1\r\n",
                               "X-IronPort-RemoteIP"),
            "");
  // A custom header named by the account.
  Unwrapped u = Unwrap(AsReceived(Report("X-Client: 198.51.100.4\r\nSubject: s\r\n\r\nb\r\n")),
                       "X-Client", "", {}, "127.0.0.1");
  EXPECT_EQ(u.remote_ip, "198.51.100.4");
}

TEST(Unwrap, WithoutAGatewayTheTopmostReceivedNamesTheClient) {
  Unwrapped u = Unwrap(AsReceived(Report(kOriginal)), "", "", {}, "127.0.0.1");
  EXPECT_EQ(u.remote_ip, "192.0.2.7");
  EXPECT_EQ(RemoteIpFromReceived("Received: from x (y [IPv6:2001:db8::5]) by z\r\n\r\n"),
            "2001:db8::5");
  EXPECT_EQ(RemoteIpFromReceived("Received: from x by z ([192.0.2.1])\r\n\r\n"), "");
}

TEST(Unwrap, OtherMessagesAreKeptAsReceivedAndFlagged) {
  const std::string body = AsReceived(
      "X-IronPort-RemoteIP: 203.0.113.66\r\nSubject: hello\r\nMessage-ID: <m@x>\r\n\r\nhi\r\n");
  Unwrapped u = Unwrap(body, "X-IronPort-RemoteIP", "eve@example.net",
                       {"b5986efe@intake.example.net"}, "127.0.0.1");
  EXPECT_FALSE(u.journal);
  EXPECT_EQ(u.original, body);
  EXPECT_EQ(u.sender, "eve@example.net");
  EXPECT_EQ(u.recipients, (std::vector<std::string>{"b5986efe@intake.example.net"}));
  EXPECT_EQ(u.subject, "hello");
  EXPECT_EQ(u.message_id, "<m@x>");
  // Not journaled by a gateway: only the connecting client is known first-hand.
  EXPECT_EQ(u.remote_ip, "127.0.0.1");
}

class AcceptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cfg = config::ParseIntakeConfig(
        "hostname: intake.example.net\nlisten: 127.0.0.1:0\ndata_dir: " + dir_.path() +
            "\naccounts:\n"
            "  - {name: demo, intake_address: aaaa@intake.example.net}\n"
            "  - {name: sales, intake_address: bbbb@intake.example.net}\n",
        dir_.path() + "/intake.yaml");
    ASSERT_TRUE(cfg) << cfg.error().message;
    config_ = *cfg;
    auto store = Store::Open(dir_.path(), &base::PosixFilesystem());
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    auto accounts = AccountDirectory::Load(*config_, store_.get(), &clock_);
    ASSERT_TRUE(accounts);
    accounts_ = std::move(*accounts);
    telemetry::MailLogOptions options;
    options.path = dir_.path() + "/mail_logs/mail.current";
    auto log = telemetry::MailLog::Open(options);
    ASSERT_TRUE(log);
    log_ = std::move(*log);
    acceptor_ = std::make_unique<IntakeAcceptor>(store_.get(), accounts_.get(), log_.get(),
                                                 [this] { return next_id_++; });
  }

  inbound::ReceivedMessage Message(std::uint64_t mid, std::vector<std::string> rcpts,
                                   std::string body) {
    inbound::ReceivedMessage m;
    m.mid = mid;
    m.received = clock_.Now();
    m.client_ip = "127.0.0.1";
    m.sender = mail::Address{};
    for (const auto& r : rcpts) m.recipients.push_back(*mail::ParseMailbox(r));
    m.body = std::move(body);
    return m;
  }

  TempDir dir_;
  base::FakeClock clock_;
  std::shared_ptr<const config::IntakeConfig> config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<AccountDirectory> accounts_;
  std::unique_ptr<telemetry::MailLog> log_;
  std::uint64_t next_id_ = 1000;
  std::unique_ptr<IntakeAcceptor> acceptor_;
};

TEST_F(AcceptorTest, StoresTheUnwrappedOriginalBeforeAnswering) {
  std::promise<inbound::AcceptResult> answered;
  acceptor_->Accept(Message(7, {"AAAA@Intake.Example.Net"}, AsReceived(Report(kOriginal))),
                    [&](inbound::AcceptResult r) { answered.set_value(std::move(r)); });
  auto future = answered.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  ASSERT_TRUE(future.get().status.ok());
  // Everything is durable and indexed by the time `done` runs.
  auto list = store_->ListMessages("demo");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  const MessageRecord& m = (*list)[0];
  EXPECT_EQ(m.id, 7u);
  EXPECT_TRUE(m.journal);
  EXPECT_EQ(m.remote_ip, "192.0.2.7");
  EXPECT_EQ(m.sender, "alice@example.org");
  EXPECT_EQ(m.message_id, "<q1@example.org>");
  EXPECT_EQ(m.received_at, clock_.Now());
  EXPECT_EQ(*store_->ReadRaw(m), kOriginal);
  EXPECT_TRUE(store_->ListMessages("sales")->empty());
}

TEST_F(AcceptorTest, OneCopyPerAccountEachWithItsOwnId) {
  auto result = acceptor_->Process(Message(
      8, {"aaaa@intake.example.net", "bbbb@intake.example.net", "aaaa@intake.example.net"},
      "Subject: plain\r\n\r\nnot a report\r\n"));
  ASSERT_TRUE(result.status.ok());
  auto demo = store_->ListMessages("demo");
  auto sales = store_->ListMessages("sales");
  ASSERT_EQ(demo->size(), 1u);
  ASSERT_EQ(sales->size(), 1u);
  EXPECT_EQ((*demo)[0].id, 8u);
  EXPECT_EQ((*sales)[0].id, 1000u);
  EXPECT_FALSE((*sales)[0].journal);
  EXPECT_EQ((*sales)[0].subject, "plain");
  EXPECT_EQ((*sales)[0].remote_ip, "127.0.0.1");
}

TEST_F(AcceptorTest, RefusesWhenNothingCouldBeStored) {
  // No account for the recipient (cannot pass RCPT, but the acceptor must not store blindly).
  auto none = acceptor_->Process(Message(9, {"cccc@intake.example.net"}, "x\r\n"));
  EXPECT_FALSE(none.status.ok());
  // A duplicate id (the disk state disagrees with the id counter): 452, not a silent overwrite.
  ASSERT_TRUE(acceptor_->Process(Message(10, {"aaaa@intake.example.net"}, "a\r\n")).status.ok());
  EXPECT_FALSE(acceptor_->Process(Message(10, {"aaaa@intake.example.net"}, "b\r\n")).status.ok());
  EXPECT_EQ(*store_->ReadRaw((*store_->ListMessages("demo"))[0]), "a\r\n");
}

TEST(AccountDirectory, SetupCreatesAUuidAddressAtTheHostnameAndPersistsIt) {
  TempDir dir;
  auto cfg = config::ParseIntakeConfig(
      "hostname: intake.example.net\nlisten: 127.0.0.1:0\ndata_dir: " + dir.path() +
          "\naccounts:\n  - {name: demo, intake_address: aaaa@intake.example.net}\n",
      dir.path() + "/intake.yaml");
  ASSERT_TRUE(cfg);
  base::FakeClock clock;
  std::string created_address;
  {
    auto store = Store::Open(dir.path(), &base::PosixFilesystem());
    ASSERT_TRUE(store);
    auto accounts = AccountDirectory::Load(**cfg, store->get(), &clock);
    ASSERT_TRUE(accounts);
    auto created = (*accounts)->Create({.name = "acme", .gateway_in_front = true,
                                        .remote_ip_header = "X-IronPort-RemoteIP"});
    ASSERT_TRUE(created) << created.error().message;
    created_address = created->intake_address;
    // 8-4-4-4-12 lower-case hex, version 4, variant 10xx.
    ASSERT_EQ(created_address.size(), 36 + 1 + 18u) << created_address;
    EXPECT_EQ(created_address.substr(36), "@intake.example.net");
    EXPECT_EQ(created_address[14], '4');
    EXPECT_NE(std::string("89ab").find(created_address[19]), std::string::npos);
    EXPECT_TRUE((*accounts)->FindByAddress(*mail::ParseMailbox(created_address)));
    const auto named = [](std::string name) {
      NewAccount a;
      a.name = std::move(name);
      a.remote_ip_header = "X-IronPort-RemoteIP";
      return a;
    };
    EXPECT_FALSE((*accounts)->Create(named("demo")));  // taken by the config
    EXPECT_FALSE((*accounts)->Create(named("../x")));  // not a folder name
    EXPECT_FALSE((*accounts)->Create({.name = "bad", .gateway_in_front = true,
                                      .remote_ip_header = "Bad Header:"}));
  }
  auto store = Store::Open(dir.path(), &base::PosixFilesystem());
  auto accounts = AccountDirectory::Load(**cfg, store->get(), &clock);
  ASSERT_TRUE(accounts);
  auto again = (*accounts)->FindByName("acme");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->intake_address, created_address);
  EXPECT_EQ((*accounts)->List().size(), 2u);
  EXPECT_NE(RandomUuidV4(), RandomUuidV4());
}

}  // namespace
}  // namespace tidegate::intake
