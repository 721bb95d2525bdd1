// auth_test.cc — credentials, sessions and the login slowdown, with time passed in.
#include "admin/auth.h"

#include <gtest/gtest.h>

#include <set>

namespace tidegate::admin {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RandomHex, IsHexOfTheRightLengthAndDiffers) {
  auto a = RandomHex(32);
  auto b = RandomHex(32);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->size(), 64u);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(*a, *b);
}

TEST(ConstantTimeEquals, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

TEST(Credentials, ChecksUserAndPassword) {
  Credentials c;
  c.Set("admin", "s3cret");
  EXPECT_TRUE(c.Check("admin", "s3cret"));
  EXPECT_FALSE(c.Check("admin", "s3cre"));
  EXPECT_FALSE(c.Check("admin", "s3cret "));
  EXPECT_FALSE(c.Check("root", "s3cret"));
  EXPECT_FALSE(c.Check("", ""));
  EXPECT_TRUE(c.IsUser("admin"));
  EXPECT_FALSE(c.IsUser("s3cret"));
}

TEST(Credentials, EmptyPasswordLetsNobodyIn) {
  Credentials c;
  EXPECT_FALSE(c.Check("", ""));
  c.Set("admin", "");
  EXPECT_FALSE(c.Check("admin", ""));
}

TEST(Credentials, GenerationChangesOnlyWithTheCredentials) {
  Credentials c;
  c.Set("admin", "one");
  std::uint64_t g = c.generation();
  c.Set("admin", "one");
  EXPECT_EQ(c.generation(), g);
  c.Set("admin", "two");
  EXPECT_GT(c.generation(), g);
  EXPECT_FALSE(c.Check("admin", "one"));
  EXPECT_TRUE(c.Check("admin", "two"));
}

TEST(SessionTable, FindsRefreshesAndExpires) {
  SessionTable table(seconds(30), std::chrono::hours(12), 100);
  SteadyTime t0{};
  auto id = table.Create("admin", 1, t0);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->size(), 64u);
  const Session* s = table.Find(*id, 1, t0 + seconds(20));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->user, "admin");
  EXPECT_EQ(s->csrf_token.size(), 64u);
  EXPECT_NE(s->csrf_token, *id);
  // Use at 20 s moved the expiry to 50 s.
  EXPECT_NE(table.Find(*id, 1, t0 + seconds(45)), nullptr);
  EXPECT_EQ(table.Find(*id, 1, t0 + seconds(76)), nullptr);
  EXPECT_EQ(table.size(), 0u);
}

TEST(SessionTable, MaxAgeEndsEvenABusySession) {
  SessionTable table(seconds(30), seconds(60), 100);
  SteadyTime t0{};
  auto id = table.Create("admin", 1, t0);
  ASSERT_TRUE(id);
  for (int t = 20; t < 60; t += 20) EXPECT_NE(table.Find(*id, 1, t0 + seconds(t)), nullptr);
  EXPECT_EQ(table.Find(*id, 1, t0 + seconds(61)), nullptr);
}

TEST(SessionTable, UnknownIdsOldGenerationsAndErased) {
  SessionTable table(seconds(30), std::chrono::hours(1), 100);
  SteadyTime t0{};
  auto a = table.Create("admin", 1, t0);
  auto b = table.Create("admin", 1, t0);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(table.Find(std::string(64, '0'), 1, t0), nullptr);
  EXPECT_EQ(table.Find(*a, 2, t0), nullptr);  // credentials changed
  EXPECT_EQ(table.Find(*a, 1, t0), nullptr);  // and it is gone
  table.Erase(*b);
  EXPECT_EQ(table.Find(*b, 1, t0), nullptr);
}

TEST(SessionTable, BoundedNumberOfSessions) {
  SessionTable table(seconds(30), std::chrono::hours(1), 3);
  SteadyTime t0{};
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(*table.Create("admin", 1, t0 + seconds(i)));
  EXPECT_LE(table.size(), 3u);
  EXPECT_EQ(table.Find(ids[0], 1, t0 + seconds(5)), nullptr);  // the oldest went first
  EXPECT_NE(table.Find(ids[4], 1, t0 + seconds(5)), nullptr);
}

TEST(LoginThrottle, DelayDoublesUpToTheCapAndSuccessClears) {
  LoginThrottle throttle(milliseconds(250), seconds(8));
  SteadyTime t{};
  const std::string ip = "192.0.2.1";
  EXPECT_EQ(throttle.Admit(ip, t), t);
  EXPECT_EQ(throttle.Failed(ip, t), 1u);
  // The next attempt, right away, waits 250 ms; then 500 ms, 1 s, ... capped at 8 s.
  SteadyClock::duration expected = milliseconds(250);
  for (int i = 0; i < 8; ++i) {
    SteadyTime slot = throttle.Admit(ip, t);
    EXPECT_EQ(slot - t, expected) << i;
    t = slot;
    throttle.Failed(ip, t);
    expected = std::min<SteadyClock::duration>(expected * 2, seconds(8));
  }
  EXPECT_EQ(throttle.Admit(ip, t) - t, seconds(8));
  throttle.Succeeded(ip);
  EXPECT_EQ(throttle.Admit(ip, t), t);
  EXPECT_EQ(throttle.failures_total(), 9u);
}

TEST(LoginThrottle, ParallelAttemptsQueueAndOtherIpsAreFree) {
  LoginThrottle throttle(milliseconds(250), seconds(8));
  SteadyTime t{};
  throttle.Failed("a", t);
  throttle.Failed("a", t);  // two in a row: 500 ms per attempt
  EXPECT_EQ(throttle.Admit("a", t) - t, milliseconds(500));
  EXPECT_EQ(throttle.Admit("a", t) - t, milliseconds(1000));
  EXPECT_EQ(throttle.Admit("a", t) - t, milliseconds(1500));
  EXPECT_EQ(throttle.Admit("b", t), t);
}

TEST(LoginThrottle, ForgetsQuietIpsAndIsBounded) {
  LoginThrottle throttle(milliseconds(250), seconds(8), std::chrono::minutes(15), 2);
  SteadyTime t{};
  throttle.Failed("a", t);
  EXPECT_EQ(throttle.Admit("a", t + std::chrono::minutes(16)), t + std::chrono::minutes(16));
  throttle.Failed("a", t);
  throttle.Failed("b", t + seconds(1));
  throttle.Failed("c", t + seconds(2));
  EXPECT_LE(throttle.tracked(), 2u);
  EXPECT_EQ(throttle.Admit("a", t + seconds(3)), t + seconds(3));  // "a" was evicted
}

}  // namespace
}  // namespace tidegate::admin
