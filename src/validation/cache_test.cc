// cache_test.cc — Cache: expiry, key normalisation, LRU bound, failures never stored.
#include "validation/cache.h"

#include <gtest/gtest.h>

namespace tidegate::validation {
namespace {

mail::Address A(std::string local, std::string domain) { return {std::move(local), std::move(domain)}; }

TEST(ValidationCache, StoresFoundAndNotFoundUntilTheTtl) {
  base::FakeClock clock;
  Cache cache(&clock, std::chrono::minutes(10));
  cache.Store(A("alice", "example.com"), {Outcome::kKnown, Method::kLdap, "entry"});
  cache.Store(A("nobody", "example.com"), {Outcome::kUnknown, Method::kLdap, "no entry"});
  ASSERT_TRUE(cache.Find(A("alice", "example.com")));
  EXPECT_EQ(cache.Find(A("alice", "example.com"))->outcome, Outcome::kKnown);
  EXPECT_EQ(cache.Find(A("nobody", "example.com"))->outcome, Outcome::kUnknown);
  EXPECT_EQ(cache.Find(A("nobody", "example.com"))->reason, "no entry");
  clock.Advance(std::chrono::minutes(10) - std::chrono::milliseconds(1));
  EXPECT_TRUE(cache.Find(A("alice", "example.com")));
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_FALSE(cache.Find(A("alice", "example.com")));
  EXPECT_FALSE(cache.Find(A("nobody", "example.com")));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ValidationCache, FailuresAreNeverStored) {
  base::FakeClock clock;
  Cache cache(&clock, std::chrono::minutes(10));
  cache.Store(A("alice", "example.com"), {Outcome::kFailure, Method::kLdap, "timeout"});
  EXPECT_FALSE(cache.Find(A("alice", "example.com")));
}

TEST(ValidationCache, ZeroTtlStoresNothing) {
  base::FakeClock clock;
  Cache cache(&clock, base::Duration(0));
  cache.Store(A("alice", "example.com"), {Outcome::kKnown, Method::kLdap, ""});
  EXPECT_FALSE(cache.Find(A("alice", "example.com")));
}

TEST(ValidationCache, DomainCaseIgnoredLocalPartKept) {
  base::FakeClock clock;
  Cache cache(&clock, std::chrono::minutes(1));
  cache.Store(A("Alice", "Example.COM"), {Outcome::kKnown, Method::kLdap, ""});
  EXPECT_TRUE(cache.Find(A("Alice", "example.com")));
  EXPECT_FALSE(cache.Find(A("alice", "example.com")));
  // A quoted local part is the same mailbox as its unquoted form.
  EXPECT_TRUE(cache.Find(A("\"Alice\"", "example.com")));
}

TEST(ValidationCache, BoundedLeastRecentlyUsedGoesFirst) {
  base::FakeClock clock;
  Cache cache(&clock, std::chrono::minutes(1), 2);
  cache.Store(A("a", "x.test"), {Outcome::kKnown, Method::kLdap, ""});
  cache.Store(A("b", "x.test"), {Outcome::kKnown, Method::kLdap, ""});
  ASSERT_TRUE(cache.Find(A("a", "x.test")));  // a is now the most recent
  cache.Store(A("c", "x.test"), {Outcome::kKnown, Method::kLdap, ""});
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.Find(A("a", "x.test")));
  EXPECT_FALSE(cache.Find(A("b", "x.test")));
  EXPECT_TRUE(cache.Find(A("c", "x.test")));
}

}  // namespace
}  // namespace tidegate::validation
