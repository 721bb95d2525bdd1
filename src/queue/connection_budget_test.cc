#include "queue/connection_budget.h"

#include <gtest/gtest.h>

namespace tidegate::queue {
namespace {

TEST(ConnectionBudget, HostAndAddressCapsSpanDestinationsWithinAPoolOnly) {
  ConnectionBudget b;
  const ConnectionBudget::Caps caps{.per_host = 2, .per_ip = 3, .total = 10};
  EXPECT_TRUE(b.Acquire("", "hub.example", "192.0.2.1", caps));
  EXPECT_TRUE(b.Acquire("", "hub.example", "192.0.2.1", caps));
  EXPECT_FALSE(b.Acquire("", "hub.example", "192.0.2.1", caps));  // host full
  // Another name on the same address: the address cap (3) still has one.
  EXPECT_TRUE(b.Acquire("", "alias.example", "192.0.2.1", caps));
  EXPECT_FALSE(b.Acquire("", "other.example", "192.0.2.1", caps));  // address full
  EXPECT_EQ(b.to_ip("", "192.0.2.1"), 3u);
  // Another pool never competes.
  EXPECT_TRUE(b.Acquire("journal", "hub.example", "192.0.2.1", caps));
  b.Release("", "hub.example", "192.0.2.1");
  EXPECT_EQ(b.to_host("", "hub.example"), 1u);
  EXPECT_TRUE(b.Acquire("", "hub.example", "192.0.2.2", caps));  // was refused for the address
}

TEST(ConnectionBudget, TheTotalCountsStartedConnectionsPerPool) {
  ConnectionBudget b;
  const ConnectionBudget::Caps caps{.per_host = 50, .per_ip = 50, .total = 2};
  EXPECT_TRUE(b.CanStart("", caps));
  b.Started("");
  b.Started("");
  EXPECT_FALSE(b.CanStart("", caps));
  EXPECT_TRUE(b.CanStart("journal", caps));
  b.Stopped("");
  EXPECT_TRUE(b.CanStart("", caps));
  EXPECT_EQ(b.started(""), 1u);
}

}  // namespace
}  // namespace tidegate::queue
