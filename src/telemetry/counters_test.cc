#include "telemetry/counters.h"

#include <gtest/gtest.h>

namespace tidegate::telemetry {
namespace {

TEST(Counters, PerDestinationAndGlobal) {
  Counters c;
  c.Touch("the.tdc.queue");
  c.Delivered("example.com", 3);
  c.SoftBounced("example.com", 2, "451 try later");
  c.HardBounced("example.com", 1, "550 no such user");
  c.ConnectionOpened("example.com");
  c.ConnectionOpened("example.com");
  c.ConnectionClosed("example.com");
  c.ConnectionClosed("other.test");  // never below zero
  c.SetDown("example.com", true);
  auto d = c.Destinations();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d["the.tdc.queue"].delivered, 0u);
  EXPECT_EQ(d["example.com"].delivered, 3u);
  EXPECT_EQ(d["example.com"].soft_bounced, 2u);
  EXPECT_EQ(d["example.com"].hard_bounced, 1u);
  EXPECT_EQ(d["example.com"].connections_out, 1u);
  EXPECT_EQ(d["other.test"].connections_out, 0u);
  EXPECT_TRUE(d["example.com"].down);
  EXPECT_EQ(d["example.com"].last_error, "550 no such user");
  c.UpdateGlobal([](GlobalCounters& g) { ++g.messages_received; });
  EXPECT_EQ(c.Global().messages_received, 1u);
  EXPECT_EQ(c.Global().recipients_delivered, 3u);
  EXPECT_EQ(c.Global().recipients_bounced, 1u);
}

TEST(Counters, DeliveredSplitsMailAndJournalCopies) {
  Counters c;
  c.Delivered("example.com", 3);
  c.Delivered("the.tdc.queue", 2, /*journal=*/true);
  c.Delivered("example.org", 1, /*journal=*/false);
  const GlobalCounters g = c.Global();
  EXPECT_EQ(g.recipients_delivered, 6u);
  EXPECT_EQ(g.recipients_delivered_mail, 4u);
  EXPECT_EQ(g.recipients_delivered_journal, 2u);
  EXPECT_EQ(c.Destinations()["the.tdc.queue"].delivered, 2u);
}

TEST(Counters, LastActivityErrorTimeAndIpsUsed) {
  base::FakeClock clock;
  const base::SystemTime start = clock.Now();
  Counters c(clock);
  c.Touch("idle.test");  // listed, but nothing happened
  c.ConnectionUsed("example.com", "192.0.2.1:25");
  clock.Advance(std::chrono::seconds(5));
  c.ConnectionUsed("example.com", "192.0.2.2:25");
  c.ConnectionUsed("example.com", "192.0.2.1:25");  // moves to the front, once
  clock.Advance(std::chrono::seconds(5));
  c.RecordError("example.com", Counters::ErrorKind::kTemporary, "451 later");
  clock.Advance(std::chrono::seconds(5));
  c.Delivered("example.com", 1);
  auto d = c.Destinations();
  EXPECT_EQ(d["idle.test"].last_activity, base::SystemTime{});
  EXPECT_EQ(d["example.com"].last_activity, start + std::chrono::seconds(15));
  EXPECT_EQ(d["example.com"].last_error_at, start + std::chrono::seconds(10));
  EXPECT_EQ(d["example.com"].last_error, "451 later");
  EXPECT_EQ(d["example.com"].ips_used, (std::vector<std::string>{"192.0.2.1:25", "192.0.2.2:25"}));
  for (int i = 0; i < 20; ++i)
    c.ConnectionUsed("many.test", "192.0.2." + std::to_string(i) + ":25");
  d = c.Destinations();
  ASSERT_EQ(d["many.test"].ips_used.size(), Counters::kMaxIpsUsed);
  EXPECT_EQ(d["many.test"].ips_used.front(), "192.0.2.19:25");
  clock.Advance(std::chrono::seconds(5));
  c.HardBounced("example.com", 1, "550 no");
  EXPECT_EQ(c.Destinations()["example.com"].last_error_at, start + std::chrono::seconds(20));
}

}  // namespace
}  // namespace tidegate::telemetry
