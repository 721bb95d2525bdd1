// harvest_test.cc — HarvestLimiter: the sliding hour, per IP, IPv6 by /64, bounded memory.
#include "validation/harvest.h"

#include <gtest/gtest.h>

namespace tidegate::validation {
namespace {

TEST(HarvestLimiter, TheOneAfterMaxIsOverAndEveryLaterOne) {
  base::FakeClock clock;
  HarvestLimiter limiter(&clock);
  limiter.set_max(3);
  EXPECT_FALSE(limiter.Count("192.0.2.1"));
  EXPECT_FALSE(limiter.Count("192.0.2.1"));
  EXPECT_FALSE(limiter.Count("192.0.2.1"));
  EXPECT_TRUE(limiter.Count("192.0.2.1"));  // number 4 = max + 1
  EXPECT_TRUE(limiter.Count("192.0.2.1"));
  EXPECT_FALSE(limiter.Count("192.0.2.2"));  // another IP is unaffected
}

TEST(HarvestLimiter, TheHourSlides) {
  base::FakeClock clock;
  HarvestLimiter limiter(&clock);
  limiter.set_max(2);
  EXPECT_FALSE(limiter.Count("192.0.2.1"));
  clock.Advance(std::chrono::minutes(30));
  EXPECT_FALSE(limiter.Count("192.0.2.1"));
  clock.Advance(std::chrono::minutes(30));  // the first one is an hour old: gone
  EXPECT_FALSE(limiter.Count("192.0.2.1"));
  EXPECT_EQ(limiter.Recent("192.0.2.1"), 2u);
  EXPECT_TRUE(limiter.Count("192.0.2.1"));
}

TEST(HarvestLimiter, KeepsTryingKeepsItOver) {
  base::FakeClock clock;
  HarvestLimiter limiter(&clock);
  limiter.set_max(2);
  for (int i = 0; i < 3; ++i) limiter.Count("192.0.2.1");
  for (int i = 0; i < 100; ++i) {
    clock.Advance(std::chrono::minutes(10));
    EXPECT_TRUE(limiter.Count("192.0.2.1")) << i;
  }
  EXPECT_LE(limiter.Recent("192.0.2.1"), 3u);  // bounded: max + 1 timestamps
  clock.Advance(std::chrono::hours(1));
  EXPECT_FALSE(limiter.Count("192.0.2.1"));
}

TEST(HarvestLimiter, ZeroMeansOff) {
  base::FakeClock clock;
  HarvestLimiter limiter(&clock);
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limiter.Count("192.0.2.1"));
  EXPECT_EQ(limiter.tracked_ips(), 0u);
}

TEST(HarvestLimiter, Ipv6CountsBySlash64) {
  EXPECT_EQ(HarvestLimiter::Key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(HarvestLimiter::Key("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(HarvestLimiter::Key("::ffff:192.0.2.7"), "192.0.2.7");
  base::FakeClock clock;
  HarvestLimiter limiter(&clock);
  limiter.set_max(1);
  EXPECT_FALSE(limiter.Count("2001:db8:1:2::10"));
  EXPECT_TRUE(limiter.Count("2001:db8:1:2::20"));   // same /64
  EXPECT_FALSE(limiter.Count("2001:db8:1:3::20"));  // another /64
}

TEST(HarvestLimiter, IdleIpsAreSwept) {
  base::FakeClock clock;
  HarvestLimiter limiter(&clock);
  limiter.set_max(5);
  for (int i = 0; i < 50; ++i) limiter.Count("192.0.2." + std::to_string(i));
  EXPECT_EQ(limiter.tracked_ips(), 50u);
  clock.Advance(std::chrono::hours(2));
  limiter.Count("198.51.100.1");
  EXPECT_EQ(limiter.tracked_ips(), 1u);
}

}  // namespace
}  // namespace tidegate::validation
