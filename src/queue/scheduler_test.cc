#include "queue/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace tidegate::queue {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kTdc[] = "the.tdc.queue";

// Rules as the integrator will build them: the.tdc.queue from the connector settings, every other
// destination from `delivery`. Tests override single destinations through `overrides`.
struct RulesBook {
  std::map<std::string, QueueRules> overrides;
  int calls = 0;
  QueueRules operator()(const Destination& dest) {
    const std::string& destination = dest.next_hop;
    ++calls;
    auto it = overrides.find(destination);
    if (it != overrides.end()) return it->second;
    if (destination == kTdc) return TdcQueueRules(3, 20, seconds(120), seconds(10));
    QueueRules rules;
    rules.max_connections = 50;
    rules.initial_window = 5;
    rules.initial_retry = seconds(60);
    rules.max_retry_interval = seconds(3600);
    rules.max_queue_time = hours(72);
    return rules;
  }
};

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : scheduler_(clock_, [this](const Destination& d) { return book_(d); }) {}

  Time Now() const { return clock_.Now(); }
  void Advance(Duration d) { clock_.Advance(d); }
  EntryId AddNow(std::uint64_t mid, const std::string& dest, std::vector<std::uint32_t> rids) {
    return scheduler_.Add(mid, dest, std::move(rids), Now());
  }
  static AttemptOutcome Delivered(const Entry& e) { return AttemptOutcome{e.rids, {}}; }
  static AttemptOutcome FailedAll(const Entry& e, Failure f) {
    AttemptOutcome out;
    for (auto rid : e.rids) out.failed.emplace_back(rid, f);
    return out;
  }
  // Makes `dest` "up": one successful connection.
  void Up(const std::string& dest) { scheduler_.OnConnectionEstablished(dest); }

  base::FakeClock clock_;
  RulesBook book_;
  Scheduler scheduler_;
};

const Failure k451{FailureClass::kTemporary, 451};
const Failure k550{FailureClass::kPermanent, 550};
const Failure k503{FailureClass::kPermanent, 503};
const Failure k552{FailureClass::kPermanent, 552};
const Failure kTlsFail{FailureClass::kTls, 0};
const Failure kRefused{FailureClass::kNetwork, 0};
const Failure kNxdomain{FailureClass::kDnsHard, 0};

// ---- stages -------------------------------------------------------------------------------

TEST_F(SchedulerTest, AddIsReadyAtOnceOrScheduled) {
  EntryId now_id = AddNow(1, "a.example", {0});
  EntryId later_id = scheduler_.Add(2, "a.example", {0, 1}, Now(), Now() + seconds(30));
  auto st = scheduler_.Status("a.example");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->ready_entries, 1u);
  EXPECT_EQ(st->scheduled_entries, 1u);
  EXPECT_EQ(st->active_recipients, 3u);
  EXPECT_EQ(scheduler_.size(), 2u);
  EXPECT_EQ(scheduler_.NextWakeup(), Now() + seconds(30));

  auto e = scheduler_.TakeReady("a.example");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id, now_id);
  EXPECT_FALSE(scheduler_.TakeReady("a.example"));  // the other is not due yet

  Advance(seconds(29));
  EXPECT_THAT(scheduler_.Tick(), IsEmpty());
  EXPECT_FALSE(scheduler_.TakeReady("a.example"));
  Advance(seconds(1));
  EXPECT_THAT(scheduler_.Tick(), IsEmpty());
  EXPECT_FALSE(scheduler_.NextWakeup());
  e = scheduler_.TakeReady("a.example");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id, later_id);
  EXPECT_THAT(e->rids, ElementsAre(0u, 1u));
}

TEST_F(SchedulerTest, ReadyIsFifoAndDueEntriesMoveByTimeThenId) {
  const Time t0 = Now();
  EntryId late = scheduler_.Add(1, "a.example", {0}, t0, t0 + seconds(20));
  EntryId early = scheduler_.Add(2, "a.example", {0}, t0, t0 + seconds(10));
  EntryId tie1 = scheduler_.Add(3, "a.example", {0}, t0, t0 + seconds(15));
  EntryId tie2 = scheduler_.Add(4, "a.example", {0}, t0, t0 + seconds(15));
  EntryId ready = AddNow(5, "a.example", {0});
  Advance(seconds(60));
  scheduler_.Tick();
  std::vector<EntryId> order;
  while (auto e = scheduler_.TakeReady("a.example")) order.push_back(e->id);
  EXPECT_THAT(order, ElementsAre(ready, early, tie1, tie2, late));
}

TEST_F(SchedulerTest, ReleasePutsBackAtTheFrontWithoutCountingAnAttempt) {
  EntryId first = AddNow(1, "a.example", {0});
  EntryId second = AddNow(2, "a.example", {0});
  auto e = scheduler_.TakeReady("a.example");
  ASSERT_EQ(e->id, first);
  EXPECT_EQ(scheduler_.Status("a.example")->in_flight_entries, 1u);
  scheduler_.Release(first);
  EXPECT_EQ(scheduler_.Status("a.example")->in_flight_entries, 0u);
  e = scheduler_.TakeReady("a.example");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id, first);
  EXPECT_EQ(e->attempts, 0u);
  EXPECT_EQ(scheduler_.TakeReady("a.example")->id, second);
}

// ---- outcomes -----------------------------------------------------------------------------

TEST_F(SchedulerTest, MixedOutcomesInOneEntry) {
  AddNow(7, "a.example", {0, 1, 2});
  auto e = scheduler_.TakeReady("a.example");
  Advance(seconds(1));
  Plan plan = scheduler_.Complete(e->id, AttemptOutcome{{0}, {{1, k451}, {2, k550}}});
  EXPECT_EQ(plan.mid, 7u);
  EXPECT_EQ(plan.destination, "a.example");
  EXPECT_THAT(plan.delivered, ElementsAre(0u));
  EXPECT_THAT(plan.retried, ElementsAre(1u));
  EXPECT_THAT(plan.bounced, ElementsAre(2u));
  EXPECT_THAT(plan.expired, IsEmpty());
  EXPECT_EQ(plan.attempts, 1u);
  EXPECT_FALSE(plan.entry_finished);
  EXPECT_EQ(plan.retry_at, Now() + seconds(60));
  auto st = scheduler_.Status("a.example");
  EXPECT_EQ(st->active_recipients, 1u);
  EXPECT_EQ(st->scheduled_entries, 1u);

  Advance(seconds(60));
  scheduler_.Tick();
  e = scheduler_.TakeReady("a.example");
  ASSERT_TRUE(e);
  EXPECT_THAT(e->rids, ElementsAre(1u));
  EXPECT_EQ(e->attempts, 1u);
  plan = scheduler_.Complete(e->id, Delivered(*e));
  EXPECT_THAT(plan.delivered, ElementsAre(1u));
  EXPECT_TRUE(plan.entry_finished);
  EXPECT_EQ(scheduler_.size(), 0u);
  EXPECT_EQ(scheduler_.Status("a.example")->active_recipients, 0u);
}

TEST_F(SchedulerTest, RidsMissingFromTheOutcomeAreRetriedNotLost) {
  AddNow(1, "a.example", {0, 1});
  auto e = scheduler_.TakeReady("a.example");
  Plan plan = scheduler_.Complete(e->id, AttemptOutcome{{0, 99}, {}});
  EXPECT_THAT(plan.delivered, ElementsAre(0u));
  EXPECT_THAT(plan.retried, ElementsAre(1u));
}

TEST_F(SchedulerTest, BackoffDoublesThenLastAttemptAtDeadlineThenExpires) {
  QueueRules short_life = book_("x");
  short_life.max_queue_time = seconds(200);
  book_.overrides["short.example"] = short_life;
  const Time queued = Now();
  AddNow(1, "short.example", {0});
  std::vector<Time> retries;
  Plan plan;
  for (int i = 0; i < 10; ++i) {
    scheduler_.Tick();
    auto e = scheduler_.TakeReady("short.example");
    ASSERT_TRUE(e) << i;
    plan = scheduler_.Complete(e->id, FailedAll(*e, k451));
    if (plan.entry_finished) break;
    retries.push_back(plan.retry_at);
    clock_.Advance(plan.retry_at - Now());
  }
  // 60 s, then 120 s, then capped by the 200 s lifetime: the last attempt at the deadline.
  EXPECT_THAT(retries,
              ElementsAre(queued + seconds(60), queued + seconds(180), queued + seconds(200)));
  EXPECT_THAT(plan.expired, ElementsAre(0u));
  EXPECT_EQ(plan.attempts, 4u);
  EXPECT_EQ(scheduler_.size(), 0u);
}

// Drives one journal copy through the.tdc.queue with the intake failing every time with `f`, and
// returns the number of attempts made and the final plan.
std::pair<int, Plan> RunTdc(Scheduler& s, base::FakeClock& clock, Failure f) {
  s.Add(100, kTdc, {0}, clock.Now());
  s.OnConnectionEstablished(kTdc);
  int attempts = 0;
  for (int i = 0; i < 5; ++i) {
    for (const Plan& p : s.Tick()) return {attempts, p};
    auto e = s.TakeReady(kTdc);
    if (!e) {
      clock.Advance(seconds(1));
      continue;
    }
    ++attempts;
    Plan plan = s.Complete(e->id, AttemptOutcome{{}, {{0, f}}});
    if (plan.entry_finished) return {attempts, plan};
    EXPECT_EQ(plan.retry_at, clock.Now() + seconds(10));
    clock.Advance(seconds(10));
  }
  return {attempts, Plan{}};
}

TEST_F(SchedulerTest, TdcTableAttemptCounts) {
  struct Row {
    Failure failure;
    int attempts;
    bool bounced;  // else expired
  };
  const std::vector<std::pair<const char*, Row>> rows = {
      {"451", {k451, 2, false}},          {"550", {k550, 1, true}},
      {"503", {k503, 2, false}},          {"552", {k552, 2, false}},
      {"tls", {kTlsFail, 1, true}},       {"refused", {kRefused, 2, false}},
      {"nxdomain", {kNxdomain, 1, true}},
  };
  for (const auto& [name, row] : rows) {
    SCOPED_TRACE(name);
    base::FakeClock clock;
    RulesBook book;
    Scheduler s(clock, [&](const Destination& d) { return book(d); });
    auto [attempts, plan] = RunTdc(s, clock, row.failure);
    EXPECT_EQ(attempts, row.attempts);
    EXPECT_TRUE(plan.entry_finished);
    EXPECT_THAT(row.bounced ? plan.bounced : plan.expired, ElementsAre(0u));
    EXPECT_EQ(s.size(), 0u);
  }
}

TEST_F(SchedulerTest, TdcCopyExpiresWhileQueuedEvenIfNeverAttempted) {
  const Time queued = Now() - seconds(30);  // received 30 s ago: 90 s of lifetime left
  EntryId id = scheduler_.Add(5, kTdc, {0}, queued);
  AddNow(6, "a.example", {0});
  EXPECT_EQ(scheduler_.NextWakeup(), queued + seconds(120));
  Advance(seconds(89));
  EXPECT_THAT(scheduler_.Tick(), IsEmpty());
  Advance(seconds(1));
  auto plans = scheduler_.Tick();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].id, id);
  EXPECT_EQ(plans[0].mid, 5u);
  EXPECT_THAT(plans[0].expired, ElementsAre(0u));
  EXPECT_EQ(plans[0].attempts, 0u);
  EXPECT_TRUE(plans[0].entry_finished);
  EXPECT_EQ(scheduler_.Status(kTdc)->active_recipients, 0u);
  EXPECT_FALSE(scheduler_.NextWakeup());
  EXPECT_EQ(scheduler_.size(), 1u);  // normal mail never expires while queued
}

// Under backlog the.tdc.queue sends its newest copy first: an old copy could not finish on a slow
// intake before its deadline anyway (TDC soak finding). Ordinary destinations stay FIFO.
TEST_F(SchedulerTest, TdcTakesNewestFirstOnceTheOldestUsedHalfItsLifetime) {
  AddNow(1, kTdc, {0});
  AddNow(10, "a.example", {0});
  Advance(seconds(30));
  AddNow(2, kTdc, {0});
  AddNow(3, kTdc, {0});
  AddNow(20, "a.example", {0});
  EXPECT_EQ(scheduler_.TakeReady(kTdc)->mid, 1u);  // the oldest has used 30 s of 120: FIFO
  Advance(seconds(29));
  EXPECT_EQ(scheduler_.TakeReady(kTdc)->mid, 2u);  // 29 s of 120: FIFO
  AddNow(4, kTdc, {0});
  Advance(seconds(31));                             // copy 3 has used 60 s: half its lifetime
  EXPECT_EQ(scheduler_.TakeReady(kTdc)->mid, 4u);  // newest first
  EXPECT_EQ(scheduler_.TakeReady(kTdc)->mid, 3u);  // the last one, whatever its age
  EXPECT_FALSE(scheduler_.TakeReady(kTdc));
  Advance(hours(1));
  EXPECT_EQ(scheduler_.TakeReady("a.example")->mid, 10u);  // normal mail: oldest first, always
}

TEST_F(SchedulerTest, TdcExpiryWaitsForAnEntryInFlight) {
  const Time queued = Now();
  EntryId id = AddNow(5, kTdc, {0});
  ASSERT_TRUE(scheduler_.TakeReady(kTdc));
  EXPECT_FALSE(scheduler_.NextWakeup());
  Advance(seconds(200));
  EXPECT_THAT(scheduler_.Tick(), IsEmpty());  // the connection owns it now
  scheduler_.Release(id);
  EXPECT_EQ(scheduler_.NextWakeup(), queued + seconds(120));
  auto plans = scheduler_.Tick();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_THAT(plans[0].expired, ElementsAre(0u));
}

TEST_F(SchedulerTest, RecoveredCopyPastLifetimeIsRemovedOnFirstTick) {
  scheduler_.Add(9, kTdc, {0}, Now() - seconds(500), Now() + seconds(5));
  auto plans = scheduler_.Tick();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].mid, 9u);
  EXPECT_EQ(scheduler_.size(), 0u);
}

// A restart rebuilds entries from the spool with their attempts and next attempt time: a copy
// that already used its one retry's first attempt gets exactly one more, at its stored time, and
// normal mail keeps its backoff (the doubling goes on from the stored count).
TEST_F(SchedulerTest, RecoveredEntryKeepsItsAttemptsAndNextAttemptTime) {
  Up(kTdc);
  const Time due = Now() + seconds(7);
  scheduler_.Add(9, kTdc, {0}, Now() - seconds(3), due, /*attempts=*/1);
  EXPECT_FALSE(scheduler_.TakeReady(kTdc));  // not before its stored time
  EXPECT_EQ(scheduler_.NextWakeup(), due);
  Advance(seconds(7));
  EXPECT_THAT(scheduler_.Tick(), IsEmpty());
  auto copy = scheduler_.TakeReady(kTdc);
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->attempts, 1u);
  Plan plan = scheduler_.Complete(copy->id, FailedAll(*copy, k451));
  EXPECT_EQ(plan.attempts, 2u);
  EXPECT_THAT(plan.expired, ElementsAre(0u));  // retries used up: no third attempt
  EXPECT_TRUE(plan.entry_finished);

  Up("a.example");
  scheduler_.Add(10, "a.example", {0}, Now(), Now(), /*attempts=*/3);
  auto entry = scheduler_.TakeReady("a.example");
  ASSERT_TRUE(entry);
  plan = scheduler_.Complete(entry->id, FailedAll(*entry, k451));
  EXPECT_EQ(plan.attempts, 4u);
  EXPECT_EQ(plan.retry_at, Now() + seconds(60 * 8));  // 60 s doubled per earlier attempt
}

// ---- connections and windows --------------------------------------------------------------

TEST_F(SchedulerTest, WantedConnections) {
  EXPECT_EQ(scheduler_.WantedConnections("a.example"), 0u);  // unknown
  AddNow(1, "a.example", {0});
  AddNow(2, "a.example", {0});
  EXPECT_EQ(scheduler_.WantedConnections("a.example"), 1u);  // probe: never connected
  Up("a.example");
  EXPECT_EQ(scheduler_.WantedConnections("a.example"), 2u);  // backlog of 2 < window 5

  // min_connections 3 with a single ready entry, once connected.
  AddNow(3, kTdc, {0});
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 1u);
  Up(kTdc);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 3u);
  // Still 3 while the copy only waits for its retry; 0 once the queue is empty.
  auto e = scheduler_.TakeReady(kTdc);
  Plan p = scheduler_.Complete(e->id, FailedAll(*e, k451));
  ASSERT_FALSE(p.entry_finished);
  EXPECT_EQ(scheduler_.Status(kTdc)->scheduled_entries, 1u);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 3u);
  Advance(seconds(10));
  scheduler_.Tick();
  e = scheduler_.TakeReady(kTdc);
  scheduler_.Complete(e->id, Delivered(*e));
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 0u);
}

TEST_F(SchedulerTest, WindowGrowsWithBacklogUpToMax) {
  QueueRules rules = book_("x");
  rules.initial_window = 2;
  rules.max_connections = 4;
  book_.overrides["b.example"] = rules;
  for (std::uint64_t mid = 1; mid <= 100; ++mid) AddNow(mid, "b.example", {0});
  Up("b.example");
  EXPECT_EQ(scheduler_.WantedConnections("b.example"), 2u);
  std::vector<std::uint32_t> wanted;
  for (int i = 0; i < 20; ++i) {
    auto e = scheduler_.TakeReady("b.example");
    scheduler_.Complete(e->id, Delivered(*e));
    wanted.push_back(scheduler_.WantedConnections("b.example"));
  }
  // +1 after 2 successes (window 2), after 3 more (window 3), then capped at max 4.
  EXPECT_THAT(std::vector<std::uint32_t>(wanted.begin(), wanted.begin() + 6),
              ElementsAre(2u, 3u, 3u, 3u, 4u, 4u));
  EXPECT_EQ(wanted.back(), 4u);
  EXPECT_EQ(scheduler_.Status("b.example")->window, 4u);
}

TEST_F(SchedulerTest, WindowShrinksOnFailureDownToItsFloor) {
  for (std::uint64_t mid = 1; mid <= 10; ++mid) AddNow(mid, "a.example", {0});
  Up("a.example");
  EXPECT_EQ(scheduler_.Status("a.example")->window, 5u);
  scheduler_.OnConnectionFailed("a.example", kRefused);
  EXPECT_EQ(scheduler_.Status("a.example")->window, 4u);
  for (int i = 0; i < 10; ++i) scheduler_.OnConnectionFailed("a.example", kRefused);
  EXPECT_EQ(scheduler_.Status("a.example")->window, 1u);

  // the.tdc.queue never drops below min_connections: once up again it keeps 3 open.
  AddNow(20, kTdc, {0});
  for (int i = 0; i < 10; ++i) scheduler_.OnConnectionFailed(kTdc, kRefused);
  EXPECT_EQ(scheduler_.Status(kTdc)->window, 3u);
}

TEST_F(SchedulerTest, ConnectionFailureDefersEveryReadyEntryOnce) {
  EntryId a = AddNow(1, "dead.example", {0, 1});
  EntryId b = AddNow(2, "dead.example", {0});
  EntryId c = AddNow(3, "dead.example", {0});
  AddNow(4, "alive.example", {0});
  Up("dead.example");
  auto in_flight = scheduler_.TakeReady("dead.example");  // a, on another connection
  ASSERT_EQ(in_flight->id, a);
  auto plans = scheduler_.OnConnectionFailed("dead.example", kRefused);
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_EQ(plans[0].id, b);
  EXPECT_EQ(plans[1].id, c);
  for (const Plan& p : plans) {
    EXPECT_THAT(p.retried, ElementsAre(0u));
    EXPECT_EQ(p.attempts, 1u);
    EXPECT_EQ(p.retry_at, Now() + seconds(60));
  }
  auto st = scheduler_.Status("dead.example");
  EXPECT_TRUE(st->down);
  EXPECT_EQ(st->ready_entries, 0u);
  EXPECT_EQ(st->scheduled_entries, 2u);
  EXPECT_EQ(st->in_flight_entries, 1u);
  EXPECT_EQ(scheduler_.WantedConnections("dead.example"), 1u);  // down: a probe only
  EXPECT_THAT(scheduler_.DestinationsWithReady(), ElementsAre("alive.example"));
  EXPECT_FALSE(scheduler_.Status("alive.example")->down);
  // Up again: no longer down.
  Up("dead.example");
  EXPECT_FALSE(scheduler_.Status("dead.example")->down);
}

TEST_F(SchedulerTest, TdcTlsFailureBouncesEveryReadyCopy) {
  for (std::uint64_t mid = 1; mid <= 3; ++mid) AddNow(mid, kTdc, {0});
  auto plans = scheduler_.OnConnectionFailed(kTdc, kTlsFail);
  ASSERT_EQ(plans.size(), 3u);
  for (const Plan& p : plans) {
    EXPECT_THAT(p.bounced, ElementsAre(0u));
    EXPECT_TRUE(p.entry_finished);
  }
  EXPECT_EQ(scheduler_.size(), 0u);
  EXPECT_TRUE(scheduler_.Status(kTdc)->down);  // kept while idle, for tophosts
}

// A dead destination is probed once per probe interval, not once per new message (TDC soak: an
// intake with a bad certificate got ~100 TLS handshakes a second, one per new copy).
TEST_F(SchedulerTest, DownDestinationHoldsNewEntriesUntilItsNextProbe) {
  AddNow(1, kTdc, {0});
  auto plans = scheduler_.OnConnectionFailed(kTdc, kTlsFail);  // the probe: bad certificate
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(Scheduler::ProbeInterval(book_(kTdc)), seconds(10));
  const Time probe_at = Now() + seconds(10);
  Advance(seconds(1));
  for (std::uint64_t mid = 2; mid <= 50; ++mid) AddNow(mid, kTdc, {0});
  auto st = scheduler_.Status(kTdc);
  EXPECT_EQ(st->ready_entries, 0u);
  EXPECT_EQ(st->scheduled_entries, 49u);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 0u);  // no probe per new copy
  EXPECT_EQ(scheduler_.NextWakeup(), probe_at);
  Advance(seconds(8));
  EXPECT_THAT(scheduler_.Tick(), IsEmpty());
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 0u);
  Advance(seconds(1));  // the probe time: all of them ready for one probe
  EXPECT_THAT(scheduler_.Tick(), IsEmpty());
  EXPECT_EQ(scheduler_.Status(kTdc)->ready_entries, 49u);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 1u);
  // The probe gets through: the queue is up, new copies are ready at once, 3 connections.
  Up(kTdc);
  AddNow(51, kTdc, {0});
  EXPECT_EQ(scheduler_.Status(kTdc)->ready_entries, 50u);
  EXPECT_GE(scheduler_.WantedConnections(kTdc), 3u);
}

TEST_F(SchedulerTest, DownHoldsRetriesDueBeforeTheProbeAndUsesTheQueuesFirstRetry) {
  Up("dead.example");
  EntryId a = scheduler_.Add(1, "dead.example", {0}, Now(), Now() + seconds(5));  // a retry due
  auto plans = scheduler_.OnConnectionFailed("dead.example", kRefused);
  EXPECT_THAT(plans, IsEmpty());  // nothing was ready
  EXPECT_EQ(Scheduler::ProbeInterval(book_("dead.example")), seconds(60));
  Advance(seconds(5));
  EXPECT_THAT(scheduler_.Tick(), IsEmpty());
  EXPECT_EQ(scheduler_.Status("dead.example")->ready_entries, 0u);  // held, not probed at 5 s
  EXPECT_EQ(scheduler_.NextWakeup(), Now() + seconds(55));
  Advance(seconds(55));
  EXPECT_THAT(scheduler_.Tick(), IsEmpty());
  auto e = scheduler_.TakeReady("dead.example");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id, a);
  EXPECT_EQ(e->attempts, 0u);  // holding is not an attempt
}

// ---- lost connections: a probe, not the whole window ---------------------------------------

// Grows the.tdc.queue's window to `window` with deliveries (initial 3, +1 per `window` wins) and
// leaves `backlog` copies ready.
void GrowTdcWindow(Scheduler& s, const base::FakeClock& clock, std::uint32_t window,
                   int backlog) {
  std::uint64_t mid = 1000;
  s.OnConnectionEstablished(kTdc);
  while (s.Status(kTdc)->window < window) {
    s.Add(mid++, kTdc, {0}, clock.Now());
    auto e = s.TakeReady(kTdc);
    s.Complete(e->id, AttemptOutcome{e->rids, {}});
  }
  for (int i = 0; i < backlog; ++i) s.Add(mid++, kTdc, {0}, clock.Now());
}

TEST_F(SchedulerTest, LostConnectionWantsOneProbeUntilAConnectionGetsThrough) {
  GrowTdcWindow(scheduler_, clock_, 8, 30);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 8u);
  EXPECT_FALSE(scheduler_.Status(kTdc)->unverified);

  scheduler_.OnConnectionLost(kTdc);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 1u);  // a probe, not 8 connect timeouts
  auto st = scheduler_.Status(kTdc);
  EXPECT_TRUE(st->unverified);
  EXPECT_FALSE(st->down);          // nothing failed yet
  EXPECT_EQ(st->window, 8u);       // kept for when it is back
  EXPECT_EQ(st->ready_entries, 30u);  // entries untouched
  scheduler_.OnConnectionLost(kTdc);  // every cut connection reports; still one probe
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 1u);

  // The probe gets through: the whole window at once, not one connection per success.
  Up(kTdc);
  EXPECT_FALSE(scheduler_.Status(kTdc)->unverified);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 8u);
}

TEST_F(SchedulerTest, LostThenProbeFailsStaysAProbeUntilUp) {
  GrowTdcWindow(scheduler_, clock_, 6, 10);
  scheduler_.OnConnectionLost(kTdc);
  auto plans = scheduler_.OnConnectionFailed(kTdc, kRefused);  // the probe: blackholed
  EXPECT_EQ(plans.size(), 10u);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 0u);  // only scheduled retries: no probe yet
  Advance(seconds(10));
  scheduler_.Tick();
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 1u);
  Up(kTdc);  // back: at least min_connections again (window 6 - 1 for the failure)
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 5u);
}

TEST_F(SchedulerTest, DeliveryOnAnOpenConnectionEndsTheProbe) {
  GrowTdcWindow(scheduler_, clock_, 5, 20);
  auto a = scheduler_.TakeReady(kTdc);  // on a connection that survives
  auto b = scheduler_.TakeReady(kTdc);
  scheduler_.OnConnectionLost(kTdc);     // another connection was cut
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 1u);
  // A failed attempt is no sign of life.
  scheduler_.Complete(b->id, FailedAll(*b, k451));
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 1u);
  // A delivery is: the next hop took mail on an open connection.
  scheduler_.Complete(a->id, Delivered(*a));
  EXPECT_FALSE(scheduler_.Status(kTdc)->unverified);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 5u);
  // A delivery then a loss on that same connection (reported in this order): a probe again.
  auto c = scheduler_.TakeReady(kTdc);
  scheduler_.Complete(c->id, Delivered(*c));
  scheduler_.OnConnectionLost(kTdc);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 1u);
}

TEST_F(SchedulerTest, TdcKeepsMinConnectionsOnceVerifiedAfterALoss) {
  // Only a scheduled retry left: while unverified nothing is opened for it (like down), once
  // verified the queue keeps its min_connections (3) open again.
  AddNow(1, kTdc, {0});
  Up(kTdc);
  auto e = scheduler_.TakeReady(kTdc);
  scheduler_.Complete(e->id, FailedAll(*e, kRefused));  // lost mid-transaction: retried
  scheduler_.OnConnectionLost(kTdc);
  EXPECT_EQ(scheduler_.Status(kTdc)->scheduled_entries, 1u);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 0u);
  Advance(seconds(10));
  scheduler_.Tick();
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 1u);
  Up(kTdc);
  EXPECT_EQ(scheduler_.WantedConnections(kTdc), 3u);
}

TEST_F(SchedulerTest, LostIsKeptWhileTheDestinationIsIdle) {
  AddNow(1, "a.example", {0});
  Up("a.example");
  auto e = scheduler_.TakeReady("a.example");
  scheduler_.Complete(e->id, Delivered(*e));
  scheduler_.OnConnectionLost("a.example");  // the peer closed our idle connection
  EXPECT_EQ(scheduler_.WantedConnections("a.example"), 0u);  // empty
  AddNow(2, "a.example", {0});
  AddNow(3, "a.example", {0});
  EXPECT_EQ(scheduler_.WantedConnections("a.example"), 1u);  // new mail: a probe first
  Up("a.example");
  EXPECT_EQ(scheduler_.WantedConnections("a.example"), 2u);
  // Unknown destinations are created by the report, as by the other feedback calls.
  scheduler_.OnConnectionLost("new.example");
  EXPECT_TRUE(scheduler_.Status("new.example")->unverified);
}

// ---- operator actions, reload, bookkeeping ------------------------------------------------

TEST_F(SchedulerTest, RemoveDropsEveryEntryOfAMessage) {
  EntryId a = AddNow(1, "a.example", {0});
  scheduler_.Add(1, "b.example", {1}, Now(), Now() + seconds(100));
  AddNow(2, "a.example", {0});
  auto e = scheduler_.TakeReady("a.example");
  ASSERT_EQ(e->id, a);
  EXPECT_TRUE(scheduler_.Remove(1));
  EXPECT_FALSE(scheduler_.Remove(1));
  EXPECT_FALSE(scheduler_.Remove(12345));
  EXPECT_EQ(scheduler_.size(), 1u);
  EXPECT_FALSE(scheduler_.NextWakeup());
  EXPECT_EQ(scheduler_.Status("a.example")->in_flight_entries, 0u);
  // The connection that carried it finishes later: nothing left to do.
  scheduler_.Release(a);
  Plan p = scheduler_.Complete(a, Delivered(*e));
  EXPECT_TRUE(p.entry_finished);
  EXPECT_THAT(p.delivered, IsEmpty());
  EXPECT_EQ(scheduler_.TakeReady("a.example")->mid, 2u);
}

TEST_F(SchedulerTest, RulesAreReadOncePerDestinationAndOnReload) {
  AddNow(1, "a.example", {0});
  AddNow(2, "a.example", {0});
  AddNow(3, kTdc, {0});
  EXPECT_EQ(book_.calls, 2);
  // Reload: a.example now expires while queued after 10 s, with at most 2 connections.
  QueueRules rules = book_("x");
  rules.expire_while_queued = true;
  rules.max_queue_time = seconds(10);
  rules.max_connections = 2;
  book_.overrides["a.example"] = rules;
  book_.calls = 0;
  scheduler_.RulesChanged();
  EXPECT_EQ(book_.calls, 2);
  EXPECT_EQ(scheduler_.Status("a.example")->window, 2u);
  EXPECT_EQ(scheduler_.NextWakeup(), Now() + seconds(10));
  Advance(seconds(10));
  EXPECT_EQ(scheduler_.Tick().size(), 2u);
}

TEST_F(SchedulerTest, StatusListsDestinationsSorted) {
  AddNow(1, "b.example", {0, 1, 2});
  AddNow(2, "a.example", {0});
  scheduler_.Add(3, "a.example", {0, 1}, Now(), Now() + seconds(5));
  scheduler_.TakeReady("b.example");
  auto all = scheduler_.Status();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].destination, "a.example");
  EXPECT_EQ(all[0].active_recipients, 3u);
  EXPECT_EQ(all[0].ready_entries, 1u);
  EXPECT_EQ(all[0].scheduled_entries, 1u);
  EXPECT_EQ(all[1].destination, "b.example");
  EXPECT_EQ(all[1].in_flight_entries, 1u);
  EXPECT_EQ(all[1].active_recipients, 3u);
  EXPECT_FALSE(scheduler_.Status("c.example"));
}

TEST_F(SchedulerTest, NextAttemptPerDisplayedDestination) {
  EXPECT_FALSE(scheduler_.NextAttempt("a.example"));  // unknown
  AddNow(1, "a.example", {0});
  EXPECT_EQ(scheduler_.NextAttempt("a.example"), Now());  // ready: waits for a connection
  auto e = scheduler_.TakeReady("a.example");
  EXPECT_FALSE(scheduler_.NextAttempt("a.example"));  // in flight only: nothing waits
  scheduler_.Complete(e->id, FailedAll(*e, k451));
  EXPECT_EQ(scheduler_.NextAttempt("a.example"), Now() + seconds(60));
  // Another destination's earlier entry is not this one's.
  scheduler_.Add(2, "b.example", {0}, Now(), Now() + seconds(5));
  EXPECT_EQ(scheduler_.NextAttempt("a.example"), Now() + seconds(60));
  EXPECT_EQ(scheduler_.NextAttempt("b.example"), Now() + seconds(5));
  // A named queue: every next hop of it counts under its name, not under the next hop's.
  scheduler_.Add(3, Destination(kTdc, "intake-a.test"), {0}, Now(), Now() + seconds(40));
  scheduler_.Add(4, Destination(kTdc, "intake-b.test"), {0}, Now(), Now() + seconds(30));
  EXPECT_EQ(scheduler_.NextAttempt(kTdc), Now() + seconds(30));
  EXPECT_FALSE(scheduler_.NextAttempt("intake-b.test"));
  // A down destination's new entries wait for its probe.
  AddNow(5, "dead.example", {0});
  scheduler_.OnConnectionFailed("dead.example", kRefused);
  AddNow(6, "dead.example", {0});
  EXPECT_EQ(scheduler_.NextAttempt("dead.example"), Now() + seconds(60));
}

TEST_F(SchedulerTest, EmptyDestinationsAreForgottenBeyondTheIdleLimit) {
  AddNow(1, "first.example", {0});
  scheduler_.OnConnectionFailed("first.example", kRefused);  // down, entry scheduled
  Advance(seconds(60));
  scheduler_.Tick();
  auto e = scheduler_.TakeReady("first.example");
  scheduler_.Complete(e->id, Delivered(*e));
  EXPECT_TRUE(scheduler_.Status("first.example")->down);  // kept while idle
  for (std::size_t i = 0; i < Scheduler::kMaxIdleDestinations; ++i) {
    const std::string dest = "d" + std::to_string(i) + ".example";
    EntryId id = AddNow(10 + i, dest, {0});
    scheduler_.TakeReady(dest);
    scheduler_.Complete(id, AttemptOutcome{{0}, {}});
  }
  EXPECT_FALSE(scheduler_.Status("first.example"));  // the longest idle was evicted
  EXPECT_EQ(scheduler_.Status().size(), Scheduler::kMaxIdleDestinations);
  EXPECT_EQ(scheduler_.size(), 0u);
}

}  // namespace
}  // namespace tidegate::queue
