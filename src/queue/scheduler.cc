#include "queue/scheduler.h"

#include <algorithm>
#include <cassert>

namespace tidegate::queue {

struct Scheduler::Queue {
  Destination name;
  QueueRules rules;          // normalized (see ApplyRules)
  std::list<EntryId> ready;  // FIFO; front is taken first
  std::size_t scheduled = 0, in_flight = 0;
  std::size_t recipients = 0;  // rids over all its entries
  bool ever_connected = false;
  bool down = false;
  bool lost = false;  // a connection was cut since the last sign of life (OnConnectionLost)
  Time probe_at{};    // while down: no entry becomes ready before this (the next probe)
  std::uint32_t window = 1;
  std::uint32_t successes = 0;  // successful deliveries since the window last grew
  bool idle = false;            // holds no entries; listed in idle_
  std::list<Queue*>::iterator idle_pos;

  std::size_t entries() const { return ready.size() + scheduled + in_flight; }
  std::uint32_t window_floor() const { return std::max<std::uint32_t>(1, rules.min_connections); }
  bool unverified() const { return !ever_connected || down || lost; }
};

struct Scheduler::State {
  enum class Stage { kReady, kScheduled, kInFlight };
  Entry entry;
  Queue* dest = nullptr;
  Stage stage = Stage::kReady;
  std::list<EntryId>::iterator ready_pos;  // valid while kReady
  Time due{};                              // key in scheduled_ while kScheduled
  bool in_expiry = false;                  // (deadline, id) is in expiry_
  Time deadline{};
};

Scheduler::Scheduler(const base::Clock& clock, RulesFunction rules)
    : clock_(clock), rules_(std::move(rules)) {}

Scheduler::~Scheduler() = default;

// ---- destinations -------------------------------------------------------------------------

Scheduler::Queue& Scheduler::GetDestination(const Destination& name) {
  auto it = destinations_.find(name);
  if (it != destinations_.end()) return *it->second;
  auto dest = std::make_unique<Queue>();
  dest->name = name;
  ApplyRules(*dest, rules_(name));
  dest->window = dest->rules.initial_window;
  Queue& ref = *dest;
  destinations_.emplace(name, std::move(dest));
  NoteIdle(ref);  // known but empty until an entry arrives
  return ref;
}

void Scheduler::ApplyRules(Queue& dest, QueueRules rules) {
  // Normalize once so that the arithmetic elsewhere needs no special cases: a queue can always
  // open at least one connection, and min <= initial window <= max.
  rules.max_connections = std::max<std::uint32_t>(rules.max_connections, 1);
  rules.min_connections = std::min(rules.min_connections, rules.max_connections);
  const std::uint32_t floor = std::max<std::uint32_t>(1, rules.min_connections);
  rules.initial_window = std::clamp(rules.initial_window, floor, rules.max_connections);
  dest.rules = rules;
  dest.window = std::clamp(dest.window, floor, rules.max_connections);
}

void Scheduler::Activate(Queue& dest) {
  if (!dest.idle) return;
  idle_.erase(dest.idle_pos);
  dest.idle = false;
}

void Scheduler::NoteIdle(Queue& dest) {
  if (dest.idle || dest.entries() != 0) return;
  dest.idle = true;
  dest.idle_pos = idle_.insert(idle_.end(), &dest);
  // Keep the window and down state of recently emptied destinations (mail to them usually comes
  // back soon), but never let thousands of one-off domains accumulate.
  while (idle_.size() > kMaxIdleDestinations) {
    Queue* victim = idle_.front();
    idle_.pop_front();
    destinations_.erase(victim->name);
  }
}

// ---- entry stages -------------------------------------------------------------------------

void Scheduler::PushReady(State& state, bool front) {
  Queue& dest = *state.dest;
  state.stage = State::Stage::kReady;
  state.ready_pos =
      dest.ready.insert(front ? dest.ready.begin() : dest.ready.end(), state.entry.id);
}

void Scheduler::Enqueue(State& state, Time due, Time now) {
  // A down destination's entries wait for its next probe (see the header).
  if (state.dest->down && due < state.dest->probe_at) due = state.dest->probe_at;
  state.entry.next_attempt = due;
  if (due <= now) {
    PushReady(state, /*front=*/false);
  } else {
    state.stage = State::Stage::kScheduled;
    state.due = due;
    scheduled_.emplace(due, state.entry.id);
    ++state.dest->scheduled;
  }
  IndexExpiry(state);
}

void Scheduler::IndexExpiry(State& state) {
  if (state.in_expiry || !state.dest->rules.expire_while_queued) return;
  // An entry in flight is never pulled from under its connection; Complete() decides it.
  if (state.stage == State::Stage::kInFlight) return;
  state.deadline = Deadline(state.dest->rules, state.entry.queued_at);
  expiry_.emplace(state.deadline, state.entry.id);
  state.in_expiry = true;
}

void Scheduler::UnindexExpiry(State& state) {
  if (!state.in_expiry) return;
  expiry_.erase({state.deadline, state.entry.id});
  state.in_expiry = false;
}

void Scheduler::Unlink(State& state) {
  Queue& dest = *state.dest;
  switch (state.stage) {
    case State::Stage::kReady:
      dest.ready.erase(state.ready_pos);
      break;
    case State::Stage::kScheduled:
      scheduled_.erase({state.due, state.entry.id});
      --dest.scheduled;
      break;
    case State::Stage::kInFlight:
      --dest.in_flight;
      break;
  }
  UnindexExpiry(state);
}

void Scheduler::Forget(State& state) {
  Queue& dest = *state.dest;
  dest.recipients -= state.entry.rids.size();
  auto mids = by_mid_.find(state.entry.mid);
  assert(mids != by_mid_.end());
  if (mids != by_mid_.end()) {
    auto& ids = mids->second;
    ids.erase(std::remove(ids.begin(), ids.end(), state.entry.id), ids.end());
    if (ids.empty()) by_mid_.erase(mids);
  }
  entries_.erase(state.entry.id);  // destroys `state`
  NoteIdle(dest);
}

void Scheduler::Erase(State& state) {
  Unlink(state);
  Forget(state);
}

Scheduler::State* Scheduler::Find(EntryId id) {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : it->second.get();
}

// ---- public operations --------------------------------------------------------------------

EntryId Scheduler::Add(std::uint64_t mid, Destination destination, std::vector<std::uint32_t> rids,
                       Time queued_at, Time not_before, std::uint32_t attempts) {
  assert(!rids.empty());
  const Time now = clock_.Now();
  Queue& dest = GetDestination(destination);
  Activate(dest);
  auto state = std::make_unique<State>();
  state->entry.id = next_id_++;
  state->entry.mid = mid;
  state->entry.destination = std::move(destination);
  state->entry.rids = std::move(rids);
  state->entry.queued_at = queued_at;
  state->entry.attempts = attempts;
  state->dest = &dest;
  dest.recipients += state->entry.rids.size();
  const EntryId id = state->entry.id;
  by_mid_[mid].push_back(id);
  State& ref = *state;
  entries_.emplace(id, std::move(state));
  Enqueue(ref, not_before, now);
  return id;
}

std::vector<Plan> Scheduler::Tick() {
  const Time now = clock_.Now();
  std::vector<Plan> plans;
  // Expiry first: an entry whose lifetime ends exactly when it becomes due is removed, not sent.
  while (!expiry_.empty() && expiry_.begin()->first <= now) {
    State* state = Find(expiry_.begin()->second);
    assert(state != nullptr);
    Plan plan;
    plan.id = state->entry.id;
    plan.mid = state->entry.mid;
    plan.destination = state->entry.destination;
    plan.expired = state->entry.rids;
    plan.attempts = state->entry.attempts;
    plan.entry_finished = true;
    Erase(*state);
    plans.push_back(std::move(plan));
  }
  while (!scheduled_.empty() && scheduled_.begin()->first <= now) {
    State* state = Find(scheduled_.begin()->second);
    assert(state != nullptr && state->stage == State::Stage::kScheduled);
    scheduled_.erase(scheduled_.begin());
    --state->dest->scheduled;
    // Ready now, or held (again, later) until a down destination's next probe. Its expiry index
    // entry, if any, stays as it is.
    Enqueue(*state, state->due, now);
  }
  return plans;
}

std::optional<Time> Scheduler::NextWakeup() const {
  std::optional<Time> next;
  if (!scheduled_.empty()) next = scheduled_.begin()->first;
  if (!expiry_.empty() && (!next || expiry_.begin()->first < *next)) {
    next = expiry_.begin()->first;
  }
  return next;
}

std::optional<Entry> Scheduler::TakeReady(const Destination& destination) {
  auto it = destinations_.find(destination);
  if (it == destinations_.end() || it->second->ready.empty()) return std::nullopt;
  Queue& dest = *it->second;
  // The.tdc.queue under backlog (adaptive LIFO): once the oldest ready copy has used half its
  // lifetime, the newest goes first. A copy taken with little lifetime left cannot finish before
  // its deadline on a slow intake; its transaction is cut, the connection torn down, and the next
  // one takes the next-oldest copy: the TDC soak saw 3 of 2,400 copies delivered that way. Newest
  // first lets those that can still make it through; the old ones expire as they would anyway.
  // Without backlog the queue stays first in, first out.
  bool newest = false;
  if (dest.rules.expire_while_queued && dest.ready.size() > 1) {
    const State* oldest = Find(dest.ready.front());
    assert(oldest != nullptr);
    const Time half_life = oldest->entry.queued_at + dest.rules.max_queue_time / 2;
    newest = clock_.Now() >= half_life;
  }
  State* state = Find(newest ? dest.ready.back() : dest.ready.front());
  assert(state != nullptr);
  if (newest) {
    dest.ready.pop_back();
  } else {
    dest.ready.pop_front();
  }
  state->stage = State::Stage::kInFlight;
  ++dest.in_flight;
  UnindexExpiry(*state);
  return state->entry;
}

void Scheduler::Release(EntryId id) {
  State* state = Find(id);
  if (state == nullptr) return;  // removed while in flight: nothing to put back
  assert(state->stage == State::Stage::kInFlight);
  if (state->stage != State::Stage::kInFlight) return;
  --state->dest->in_flight;
  PushReady(*state, /*front=*/true);  // it keeps its place in line: it was the oldest
  IndexExpiry(*state);
}

Plan Scheduler::Complete(EntryId id, const AttemptOutcome& outcome) {
  State* state = Find(id);
  if (state == nullptr) {
    Plan plan;  // removed while in flight (operator delete): nothing left to do
    plan.id = id;
    plan.entry_finished = true;
    return plan;
  }
  assert(state->stage == State::Stage::kInFlight);
  Queue& dest = *state->dest;
  Plan plan = Finish(*state, outcome, clock_.Now());
  if (!plan.delivered.empty()) {
    dest.lost = false;  // the next hop took mail: it is alive, reopen the window
    // Positive feedback, Postfix style: +1 per `window` successes, i.e. +1/window each.
    if (++dest.successes >= dest.window) {
      dest.successes = 0;
      dest.window = std::min(dest.window + 1, dest.rules.max_connections);
    }
  }
  return plan;
}

Plan Scheduler::Finish(State& state, const AttemptOutcome& outcome, Time now) {
  Entry& entry = state.entry;
  const QueueRules& rules = state.dest->rules;
  Plan plan;
  plan.id = entry.id;
  plan.mid = entry.mid;
  plan.destination = entry.destination;
  Unlink(state);
  plan.attempts = ++entry.attempts;

  // Sorted copies make the per-rid lookups O(log k) for entries with many recipients.
  std::vector<std::uint32_t> delivered = outcome.delivered;
  std::sort(delivered.begin(), delivered.end());
  std::vector<std::pair<std::uint32_t, Failure>> failed = outcome.failed;
  std::stable_sort(failed.begin(), failed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  std::optional<Time> earliest;
  for (std::uint32_t rid : entry.rids) {
    if (std::binary_search(delivered.begin(), delivered.end(), rid)) {
      plan.delivered.push_back(rid);
      continue;
    }
    Failure failure;  // not reported: counted as a temporary failure, never dropped
    auto f = std::lower_bound(failed.begin(), failed.end(), rid,
                              [](const auto& item, std::uint32_t r) { return item.first < r; });
    if (f != failed.end() && f->first == rid) failure = f->second;
    const Decision decision = Decide(rules, failure, entry.attempts, entry.queued_at, now);
    switch (decision.verdict) {
      case Verdict::kRetry:
        plan.retried.push_back(rid);
        if (!earliest || decision.retry_at < *earliest) earliest = decision.retry_at;
        break;
      case Verdict::kBounce:
        plan.bounced.push_back(rid);
        break;
      case Verdict::kExpire:
        plan.expired.push_back(rid);
        break;
    }
  }

  if (plan.retried.empty()) {
    plan.entry_finished = true;
    Forget(state);  // destroys `state`
    return plan;
  }
  state.dest->recipients -= entry.rids.size() - plan.retried.size();
  entry.rids = plan.retried;
  plan.retry_at = *earliest;
  Enqueue(state, *earliest, now);
  return plan;
}

void Scheduler::OnConnectionEstablished(const Destination& destination) {
  Queue& dest = GetDestination(destination);
  dest.ever_connected = true;
  dest.down = false;
  dest.lost = false;
}

void Scheduler::OnConnectionLost(const Destination& destination) {
  // Only a mark: the window stays as it is, so that a healthy next hop that closes idle
  // connections gets its full window back on the first sign of life, not one per `window` wins.
  GetDestination(destination).lost = true;
}

std::vector<Plan> Scheduler::OnConnectionFailed(const Destination& destination,
                                                const Failure& failure) {
  Queue& dest = GetDestination(destination);
  const Time now = clock_.Now();
  dest.down = true;
  dest.probe_at = now + ProbeInterval(dest.rules);
  dest.successes = 0;
  if (dest.window > dest.window_floor()) --dest.window;
  // Snapshot the ready ids: an entry whose retry is due at once goes back to the ready queue and
  // must not be failed twice by this one connection failure.
  const std::vector<EntryId> ids(dest.ready.begin(), dest.ready.end());
  std::vector<Plan> plans;
  plans.reserve(ids.size());
  for (EntryId id : ids) {
    State* state = Find(id);
    assert(state != nullptr);
    AttemptOutcome outcome;
    outcome.failed.reserve(state->entry.rids.size());
    for (std::uint32_t rid : state->entry.rids) outcome.failed.emplace_back(rid, failure);
    plans.push_back(Finish(*state, outcome, now));
  }
  return plans;
}

Duration Scheduler::ProbeInterval(const QueueRules& rules) { return FirstRetryDelay(rules); }

std::uint32_t Scheduler::WantedConnections(const Destination& destination) const {
  auto it = destinations_.find(destination);
  if (it == destinations_.end()) return 0;
  const Queue& dest = *it->second;
  if (dest.entries() == 0) return 0;
  const std::size_t active = dest.ready.size() + dest.in_flight;
  if (dest.unverified()) return active > 0 ? 1 : 0;
  const std::size_t wanted =
      std::min<std::size_t>(dest.window, std::max<std::size_t>(dest.rules.min_connections, active));
  return static_cast<std::uint32_t>(std::min<std::size_t>(wanted, dest.rules.max_connections));
}

std::vector<Destination> Scheduler::DestinationsWithReady() const {
  std::vector<Destination> names;
  for (const auto& [name, dest] : destinations_) {
    if (!dest->ready.empty()) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool Scheduler::Remove(std::uint64_t mid) {
  auto it = by_mid_.find(mid);
  if (it == by_mid_.end()) return false;
  const std::vector<EntryId> ids = it->second;  // Erase() edits the index
  for (EntryId id : ids) {
    State* state = Find(id);
    assert(state != nullptr);
    Erase(*state);
  }
  return true;
}

void Scheduler::RulesChanged() {
  for (auto& [name, dest] : destinations_) ApplyRules(*dest, rules_(name));
  // Lifetimes and expire_while_queued may have changed: rebuild the expiry index.
  expiry_.clear();
  for (auto& [id, state] : entries_) {
    state->in_expiry = false;
    IndexExpiry(*state);
  }
}

Scheduler::DestinationStatus Scheduler::MakeStatus(const Queue& dest) const {
  DestinationStatus status;
  status.destination = dest.name;
  status.active_recipients = dest.recipients;
  status.ready_entries = dest.ready.size();
  status.scheduled_entries = dest.scheduled;
  status.in_flight_entries = dest.in_flight;
  status.down = dest.down;
  status.unverified = dest.unverified();
  status.window = dest.window;
  return status;
}

std::vector<Scheduler::DestinationStatus> Scheduler::Status() const {
  std::vector<DestinationStatus> all;
  all.reserve(destinations_.size());
  for (const auto& [name, dest] : destinations_) all.push_back(MakeStatus(*dest));
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.destination < b.destination; });
  return all;
}

std::optional<Scheduler::DestinationStatus> Scheduler::Status(
    const Destination& destination) const {
  auto it = destinations_.find(destination);
  if (it == destinations_.end()) return std::nullopt;
  return MakeStatus(*it->second);
}

std::optional<Time> Scheduler::NextAttempt(const std::string& display) const {
  bool scheduled = false;
  for (const auto& [name, dest] : destinations_) {
    if (name.Display() != display) continue;
    if (!dest->ready.empty()) return clock_.Now();
    scheduled = scheduled || dest->scheduled > 0;
  }
  if (!scheduled) return std::nullopt;
  for (const auto& [due, id] : scheduled_) {
    auto it = entries_.find(id);
    if (it != entries_.end() && it->second->dest->name.Display() == display) return due;
  }
  return std::nullopt;
}

std::size_t Scheduler::size() const { return entries_.size(); }

}  // namespace tidegate::queue
