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

}  // namespace
}  // namespace tidegate::telemetry
