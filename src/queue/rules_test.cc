#include "queue/rules.h"

#include <gtest/gtest.h>

namespace tidegate::queue {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const Time kQueued = Time(seconds(1700000000));

Failure Smtp(int code) {
  return Failure{code >= 500 ? FailureClass::kPermanent : FailureClass::kTemporary, code};
}
Failure Of(FailureClass cls) { return Failure{cls, 0}; }

QueueRules Normal() {
  QueueRules rules;
  rules.initial_retry = seconds(60);
  rules.max_retry_interval = seconds(3600);
  rules.max_queue_time = hours(72);
  return rules;
}

QueueRules Tdc() { return TdcQueueRules(3, 20, seconds(120), seconds(10)); }

// ---- kBackoff (normal mail) ---------------------------------------------------------------

TEST(DecideBackoff, PermanentAndDnsHardBounceAtOnce) {
  for (std::uint32_t attempts : {1u, 2u}) {
    const Time now = kQueued + seconds(5);
    EXPECT_EQ(Decide(Normal(), Smtp(550), attempts, kQueued, now).verdict, Verdict::kBounce);
    EXPECT_EQ(Decide(Normal(), Smtp(503), attempts, kQueued, now).verdict, Verdict::kBounce);
    EXPECT_EQ(Decide(Normal(), Of(FailureClass::kDnsHard), attempts, kQueued, now).verdict,
              Verdict::kBounce);
  }
}

TEST(DecideBackoff, SoftFailuresRetryWithDoublingDelay) {
  const Time now = kQueued + seconds(5);
  for (FailureClass cls : {FailureClass::kTemporary, FailureClass::kNetwork, FailureClass::kTls,
                           FailureClass::kDnsTemporary}) {
    SCOPED_TRACE(FailureClassName(cls));
    Decision d1 = Decide(Normal(), Of(cls), 1, kQueued, now);
    ASSERT_EQ(d1.verdict, Verdict::kRetry);
    EXPECT_EQ(d1.retry_at, now + seconds(60));
    Decision d2 = Decide(Normal(), Of(cls), 2, kQueued, now);
    ASSERT_EQ(d2.verdict, Verdict::kRetry);
    EXPECT_EQ(d2.retry_at, now + seconds(120));
  }
  EXPECT_EQ(Decide(Normal(), Smtp(451), 3, kQueued, now).retry_at, now + seconds(240));
  EXPECT_EQ(Decide(Normal(), Smtp(451), 6, kQueued, now).retry_at, now + seconds(1920));
}

TEST(DecideBackoff, DelayIsCappedAtMaxInterval) {
  const Time now = kQueued + hours(1);
  EXPECT_EQ(Decide(Normal(), Smtp(421), 7, kQueued, now).retry_at, now + seconds(3600));
  EXPECT_EQ(Decide(Normal(), Smtp(421), 40, kQueued, now).retry_at, now + seconds(3600));
  // Absurd attempt counts must neither overflow nor loop for long.
  EXPECT_EQ(Decide(Normal(), Smtp(421), 4000000000u, kQueued, now).retry_at, now + seconds(3600));
  QueueRules zero = Normal();
  zero.initial_retry = seconds(0);
  EXPECT_EQ(Decide(zero, Smtp(421), 4000000000u, kQueued, now).retry_at, now);
}

TEST(DecideBackoff, LastAttemptAtTheDeadlineThenExpire) {
  const Time deadline = kQueued + hours(72);
  const Time now = deadline - seconds(100);
  Decision d = Decide(Normal(), Smtp(451), 30, kQueued, now);
  ASSERT_EQ(d.verdict, Verdict::kRetry);
  EXPECT_EQ(d.retry_at, deadline);  // not now + 3600 s
  EXPECT_EQ(Decide(Normal(), Smtp(451), 31, kQueued, deadline).verdict, Verdict::kExpire);
  EXPECT_EQ(Decide(Normal(), Smtp(451), 31, kQueued, deadline + seconds(1)).verdict,
            Verdict::kExpire);
  EXPECT_EQ(Decide(Normal(), Smtp(451), 31, kQueued, deadline - seconds(1)).verdict,
            Verdict::kRetry);
  // A permanent reply is still reported as what it is, even after the deadline.
  EXPECT_EQ(Decide(Normal(), Smtp(550), 31, kQueued, deadline).verdict, Verdict::kBounce);
}

// ---- kTdcTable (CONTRACT §4) --------------------------------------------------------------

struct TdcRow {
  const char* name;
  Failure failure;
  bool retried_once;  // false: no retry (hard bounce)
};

class DecideTdcTable : public ::testing::TestWithParam<TdcRow> {};

TEST_P(DecideTdcTable, FirstAndSecondAttempt) {
  const TdcRow& row = GetParam();
  const Time now = kQueued + seconds(3);
  Decision first = Decide(Tdc(), row.failure, 1, kQueued, now);
  Decision second = Decide(Tdc(), row.failure, 2, kQueued, now + seconds(10));
  if (row.retried_once) {
    ASSERT_EQ(first.verdict, Verdict::kRetry);
    EXPECT_EQ(first.retry_at, now + seconds(10));
    EXPECT_EQ(second.verdict, Verdict::kExpire);  // retries used up: exactly two attempts
  } else {
    EXPECT_EQ(first.verdict, Verdict::kBounce);  // one attempt
    EXPECT_EQ(second.verdict, Verdict::kBounce);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Contract, DecideTdcTable,
    ::testing::Values(TdcRow{"smtp451", Smtp(451), true}, TdcRow{"smtp421", Smtp(421), true},
                      TdcRow{"smtp550", Smtp(550), false}, TdcRow{"smtp554", Smtp(554), false},
                      TdcRow{"smtp503", Smtp(503), true}, TdcRow{"smtp552", Smtp(552), true},
                      TdcRow{"smtp551", Smtp(551), false},
                      TdcRow{"permanent_without_code", Of(FailureClass::kPermanent), false},
                      TdcRow{"tls", Of(FailureClass::kTls), false},
                      TdcRow{"network", Of(FailureClass::kNetwork), true},
                      TdcRow{"dns_servfail", Of(FailureClass::kDnsTemporary), true},
                      TdcRow{"nxdomain", Of(FailureClass::kDnsHard), false}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(DecideTdc, PastLifetimeExpires) {
  const Time deadline = kQueued + seconds(120);
  EXPECT_EQ(Decide(Tdc(), Smtp(451), 1, kQueued, deadline).verdict, Verdict::kExpire);
  EXPECT_EQ(Decide(Tdc(), Of(FailureClass::kNetwork), 1, kQueued, deadline + minutes(5)).verdict,
            Verdict::kExpire);
}

TEST(DecideTdc, RetryPastLifetimeExpiresRightAway) {
  const Time deadline = kQueued + seconds(120);
  // 115 s old: a retry at 125 s would be past the lifetime.
  EXPECT_EQ(Decide(Tdc(), Smtp(451), 1, kQueued, deadline - seconds(5)).verdict, Verdict::kExpire);
  // Exactly at the deadline: the queue would remove it at that instant, so it goes now.
  EXPECT_EQ(Decide(Tdc(), Smtp(451), 1, kQueued, deadline - seconds(10)).verdict, Verdict::kExpire);
  Decision d = Decide(Tdc(), Smtp(451), 1, kQueued, deadline - seconds(11));
  ASSERT_EQ(d.verdict, Verdict::kRetry);
  EXPECT_EQ(d.retry_at, deadline - seconds(1));
}

TEST(DecideTdc, ZeroAttemptsReadAsFirst) {
  EXPECT_EQ(Decide(Tdc(), Smtp(451), 0, kQueued, kQueued).verdict, Verdict::kRetry);
}

TEST(TdcQueueRules, CarriesTheConnectorSettings) {
  QueueRules rules = TdcQueueRules(3, 20, seconds(120), seconds(10));
  EXPECT_EQ(rules.min_connections, 3u);
  EXPECT_EQ(rules.max_connections, 20u);
  EXPECT_GE(rules.initial_window, 3u);
  EXPECT_EQ(rules.max_queue_time, seconds(120));
  EXPECT_EQ(rules.retry_delay, seconds(10));
  EXPECT_TRUE(rules.expire_while_queued);
  EXPECT_EQ(rules.retry, QueueRules::Retry::kTdcTable);
  EXPECT_FALSE(rules.send_dsn);
  EXPECT_EQ(Deadline(rules, kQueued), kQueued + seconds(120));
}

TEST(RetriesTlsFailures, AgreesWithDecide) {
  const QueueRules tdc = TdcQueueRules(3, 20, seconds(120), seconds(10));
  const QueueRules normal;
  const Failure tls{FailureClass::kTls, 0};
  EXPECT_FALSE(RetriesTlsFailures(tdc));
  EXPECT_EQ(Decide(tdc, tls, 1, kQueued, kQueued).verdict, Verdict::kBounce);
  EXPECT_TRUE(RetriesTlsFailures(normal));
  EXPECT_EQ(Decide(normal, tls, 1, kQueued, kQueued).verdict, Verdict::kRetry);
}

// Journal copies carry the null sender, so an end-to-end test cannot tell this rule from the
// null-sender one: a copy must get no DSN even if it had a sender.
TEST(SendsDsn, NeverForJournalCopiesNorTheNullSender) {
  const QueueRules tdc = TdcQueueRules(3, 20, seconds(120), seconds(10));
  EXPECT_FALSE(SendsDsn(tdc, "alice@sender.test"));
  EXPECT_FALSE(SendsDsn(tdc, ""));
  EXPECT_TRUE(SendsDsn(QueueRules{}, "alice@sender.test"));
  EXPECT_FALSE(SendsDsn(QueueRules{}, ""));
}

}  // namespace
}  // namespace tidegate::queue
