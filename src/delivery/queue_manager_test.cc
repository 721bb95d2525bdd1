// queue_manager_test.cc — the delivery engine with a fake clock, a real spool in a temp dir and a
// scripted peer instead of the network: windows growing and shrinking, a single probe after a
// connection was cut, a retry at its time (not before), a journal copy expiring in its queue.
#include "delivery/queue_manager.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "delivery/testing/scripted_peer.h"
#include "spool/testing/test_util.h"
#include "spool/transfer_needs.h"

namespace tidegate::delivery {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ScriptedPeer;

class QueueManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cfg = std::make_shared<config::GatewayConfig>();
    cfg->hostname = "gw.test";
    cfg->delivery.max_connections_per_host = 50;
    cfg->delivery.retry.initial = seconds(60);
    cfg->delivery.connect_timeout = seconds(2);
    cfg->delivery.command_timeout = seconds(5);
    cfg->delivery.data_timeout = seconds(5);
    cfg->tdc.enabled = true;
    cfg->tdc.service_name = "Scanning Service";
    cfg->tdc.max_queue_time = seconds(120);
    cfg->tdc.retry_delay = seconds(10);
    config_ = cfg;

    spool::Options so;
    so.dir = base::JoinPath(tmp_.path(), "spool");
    so.clock = &clock_;
    auto sp = spool::Spool::Open(so);
    ASSERT_TRUE(sp) << sp.error().message;
    spool_ = std::move(*sp);
    telemetry::MailLogOptions lo;
    lo.path = base::JoinPath(tmp_.path(), "mail.current");
    auto log = telemetry::MailLog::Open(lo);
    ASSERT_TRUE(log) << log.error().message;
    log_ = std::move(*log);

    QueueManager::Network network;
    network.find_next_hop = [this](std::string) -> asio::awaitable<NextHop> {
      NextHop hop;
      hop.status = DnsStatus::kOk;
      hop.hosts = {peer_.address};
      co_return hop;
    };
    network.transport = peer_.Factory();
    qm_ = std::make_unique<QueueManager>(
        io_, spool_.get(), log_.get(), &counters_, &clock_,
        [this] { return std::shared_ptr<const config::GatewayConfig>(config_); },
        std::move(network));
    qm_->set_tracking([this](std::uint64_t mid, std::string text, std::string) {
      tracked_.push_back(std::to_string(mid) + " " + text);
    });
    ASSERT_TRUE(qm_->Start());
  }

  void TearDown() override {
    qm_->Stop();
    io_.run_for(milliseconds(50));
    qm_.reset();
  }

  // Commits `n` messages to `domain` (journal copies if `journal`) and hands them to the engine;
  // `edit` may change each before it is committed.
  void Queue(int n, const std::string& domain, bool journal = false,
             const std::function<void(spool::NewMessage&)>& edit = nullptr) {
    std::vector<spool::NewMessage> messages;
    std::vector<spool::MessageMeta> metas;
    for (int i = 0; i < n; ++i) {
      spool::NewMessage m = spool::testing::MakeMessage(spool_->NextMid(), 1, 300);
      if (edit) edit(m);
      m.meta.recipients[0].address = "user" + std::to_string(i) + "@" + domain;
      if (journal) {
        m.meta.kind = spool::MessageKind::kJournal;
        m.meta.sender = "";
      }
      messages.push_back(m);
      metas.push_back(m.meta);
    }
    ASSERT_TRUE(spool::testing::CommitAndWait(*spool_, std::move(messages)));
    for (auto& meta : metas) meta.received = clock_.Now();
    qm_->Enqueue(std::move(metas));
  }

  // Runs the event loop until `done` holds (false after `limit` of real time).
  template <typename Pred>
  bool RunUntil(Pred done, milliseconds limit = milliseconds(10000)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      io_.run_one_for(milliseconds(5));
    }
    return true;
  }
  void RunFor(milliseconds d) {
    RunUntil([] { return false; }, d);
  }

  std::optional<queue::Scheduler::DestinationStatus> StatusOf(const queue::Destination& d) {
    for (const auto& s : qm_->Status()) {
      if (s.destination == d) return s;
    }
    return std::nullopt;
  }
  bool Tracked(const std::string& needle) const {
    for (const auto& t : tracked_) {
      if (t.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  // Connects between the `from`-th event and the next session that got through EHLO.
  int ConnectsBeforeReady(std::size_t from) const {
    int connects = 0;
    const auto& events = peer_.journal.events;
    for (std::size_t i = from; i < events.size(); ++i) {
      if (events[i] == "connect") ++connects;
      if (events[i] == "ehlo") return connects;
    }
    return -1;
  }

  asio::io_context io_;
  // The loop may run out of work between steps (every connection closed): keep it runnable.
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  base::FakeClock clock_;
  spool::testing::TempDir tmp_;
  ScriptedPeer peer_{io_.get_executor()};
  std::shared_ptr<config::GatewayConfig> config_;
  std::unique_ptr<spool::Spool> spool_;
  std::unique_ptr<telemetry::MailLog> log_;
  telemetry::Counters counters_;
  std::unique_ptr<QueueManager> qm_;
  std::vector<std::string> tracked_;
};

TEST_F(QueueManagerTest, TheWindowGrowsWithDeliveriesAndShrinksByOneOnAFailedConnection) {
  Queue(60, "example.com");
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.transactions == 60; }));
  auto status = StatusOf("example.com");
  ASSERT_TRUE(status);
  // 5 at first, +1 after each `window` deliveries: 60 deliveries take it past 10.
  EXPECT_GE(status->window, 10u);
  const std::uint32_t grown = status->window;

  // Everything delivered: the connections linger, then close.
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.open == 0; }));
  EXPECT_GT(peer_.journal.max_open, 1);
  peer_.script.refuse_connect = true;
  Queue(1, "example.com");
  ASSERT_TRUE(RunUntil([&] { return StatusOf("example.com")->down; }));
  EXPECT_EQ(StatusOf("example.com")->window, grown - 1);
  EXPECT_EQ(peer_.journal.refused, 1);  // one probe, not a window of them
  EXPECT_TRUE(RunUntil([&] { return Tracked("Delayed message"); }));
}

TEST_F(QueueManagerTest, AfterACutTheNextConnectionIsASingleProbe) {
  // A verified destination opens its window at once...
  Queue(1, "example.com");
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.transactions == 1; }));
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.open == 0; }));
  std::size_t mark = peer_.journal.events.size();
  EXPECT_FALSE(StatusOf("example.com")->unverified);
  EXPECT_EQ(StatusOf("example.com")->window, 5u);
  Queue(20, "example.com");
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.transactions == 21; }));
  EXPECT_GT(ConnectsBeforeReady(mark), 1) << ::testing::PrintToString(
      std::vector<std::string>(peer_.journal.events.begin() + mark, peer_.journal.events.end()));
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.open == 0; }));

  // ... but after the peer cut a transaction it probes with one connection first.
  peer_.script.cut_at_data = true;
  Queue(1, "example.com");
  ASSERT_TRUE(RunUntil([&] { return StatusOf("example.com")->unverified; }));
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.open == 0; }));
  peer_.script.cut_at_data = false;
  mark = peer_.journal.events.size();
  Queue(20, "example.com");
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.transactions == 41; }));
  EXPECT_EQ(ConnectsBeforeReady(mark), 1);
  EXPECT_GT(peer_.journal.max_open, 1);  // and then the window again
}

TEST_F(QueueManagerTest, ADeferredRecipientIsRetriedAtItsTimeAndNotBefore) {
  peer_.script.rcpt_reply = [](const std::string&) { return std::string("451 4.3.0 later"); };
  Queue(1, "example.com");
  ASSERT_TRUE(RunUntil(
      [&] { return StatusOf("example.com") && StatusOf("example.com")->scheduled_entries == 1; }));
  ASSERT_EQ(peer_.journal.rcpts.size(), 1u);
  EXPECT_TRUE(RunUntil([&] { return Tracked("Delayed message"); }));

  clock_.Advance(seconds(59));  // retry.initial is 60 s
  qm_->TimeChanged();
  RunFor(milliseconds(300));
  EXPECT_EQ(peer_.journal.rcpts.size(), 1u) << "retried early";

  peer_.script.rcpt_reply = nullptr;
  clock_.Advance(seconds(1));
  qm_->TimeChanged();
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.transactions == 1; }));
  EXPECT_EQ(peer_.journal.rcpts.size(), 2u);
}

TEST_F(QueueManagerTest, AJournalCopyExpiresInItsQueueWithoutADsnAndWithItsOwnWording) {
  peer_.script.rcpt_reply = [](const std::string&) { return std::string("451 4.3.0 busy"); };
  Queue(1, "intake.test", /*journal=*/true);
  const queue::Destination journal(queue::kTdcQueue, "intake.test");
  ASSERT_TRUE(
      RunUntil([&] { return StatusOf(journal) && StatusOf(journal)->scheduled_entries == 1; }));
  EXPECT_EQ(peer_.journal.tls, 1);  // the journal queue's rules require TLS
  ASSERT_EQ(peer_.journal.mail_froms.size(), 1u);
  EXPECT_EQ(peer_.journal.mail_froms[0].rfind("MAIL FROM:<>", 0), 0u);

  // Its lifetime (120 s) ends before anything else happens to it.
  clock_.Advance(seconds(121));
  qm_->TimeChanged();
  ASSERT_TRUE(RunUntil([&] { return Tracked("could not be delivered for scanning"); }));
  EXPECT_TRUE(Tracked("queued longer than 120 seconds"));
  EXPECT_EQ(peer_.journal.rcpts.size(), 1u);  // never tried again
  EXPECT_EQ(qm_->journal_backlog(), 0u);
  std::uint64_t dsns = 0, failed = 0;
  counters_.UpdateGlobal([&](telemetry::GlobalCounters& g) {
    dsns = g.dsns_generated;
    failed = g.journal_failed;
  });
  EXPECT_EQ(dsns, 0u);
  EXPECT_EQ(failed, 1u);
  // Operators see one row for the queue, not one per intake domain.
  EXPECT_EQ(counters_.Destinations().count(queue::kTdcQueue), 1u);
  EXPECT_EQ(counters_.Destinations().at(queue::kTdcQueue).hard_bounced, 1u);
}

// Destinations that share a next hop share its caps: here every domain resolves to the same peer.
// Control first: without a tighter cap two busy domains open more than 3 connections to it.
TEST_F(QueueManagerTest, TwoDomainsOnOneNextHopOpenTheirWindowsWithoutASharedCap) {
  Queue(40, "a.example");
  Queue(40, "b.example");
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.transactions == 80; }));
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.open == 0; }));
  EXPECT_GT(peer_.journal.max_open, 3);
}

TEST_F(QueueManagerTest, APerAddressCapHoldsAcrossDomainsAndNeitherStarves) {
  config_->delivery.max_connections_per_ip = 3;
  qm_->ConfigChanged();
  Queue(40, "a.example");
  Queue(40, "b.example");
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.transactions == 80; }));
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.open == 0; }));  // late openers count too
  EXPECT_LE(peer_.journal.max_open, 3);
  EXPECT_EQ(peer_.journal.refused, 0);
  EXPECT_EQ(peer_.journal.rcpts.size(), 80u);  // no attempt failed for want of a slot
}

TEST_F(QueueManagerTest, TheTotalCapHoldsAcrossDomains) {
  config_->delivery.max_connections = 2;
  qm_->ConfigChanged();
  for (const char* domain : {"a.example", "b.example", "c.example"}) Queue(20, domain);
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.transactions == 60; }));
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.open == 0; }));
  EXPECT_LE(peer_.journal.max_open, 2);
}

// BODY=8BITMIME follows what reception recorded (spool/transfer_needs.h), not a scan of the body
// at each attempt; a message from an older spool, without the record, is still scanned.
TEST_F(QueueManagerTest, BodyEightBitComesFromTheRecordMadeAtReception) {
  auto with_body = [](std::string body, std::optional<bool> recorded) {
    return [body, recorded](spool::NewMessage& m) {
      m.body = body;
      if (recorded) spool::RecordTransferNeeds(m.meta, *recorded);
    };
  };
  // Recorded "yes" on an ASCII body, recorded "no" on an 8-bit one, and no record on an 8-bit one.
  Queue(1, "a.example", false, with_body("Subject: a\r\n\r\nascii\r\n", true));
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.transactions == 1; }));
  Queue(1, "b.example", false, with_body("Subject: b\r\n\r\ncaf\xc3\xa9\r\n", false));
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.transactions == 2; }));
  Queue(1, "c.example", false, with_body("Subject: c\r\n\r\ncaf\xc3\xa9\r\n", std::nullopt));
  ASSERT_TRUE(RunUntil([&] { return peer_.journal.transactions == 3; }));
  ASSERT_EQ(peer_.journal.mail_froms.size(), 3u);
  EXPECT_NE(peer_.journal.mail_froms[0].find("BODY=8BITMIME"), std::string::npos);
  EXPECT_EQ(peer_.journal.mail_froms[1].find("BODY=8BITMIME"), std::string::npos);
  EXPECT_NE(peer_.journal.mail_froms[2].find("BODY=8BITMIME"), std::string::npos);
}

}  // namespace
}  // namespace tidegate::delivery
