// scheduler.h — the delivery scheduler: destination queues, retry times, expiry, windows.
//
// Pure logic (no I/O, no sockets, no timers): the delivery code owns connections on its event loop
// and asks the Scheduler what to do; time comes from the injected base::Clock. One Scheduler holds
// every destination queue. An entry is one message's recipients for one destination and lives in
// exactly one stage:
//   scheduled  waiting for a time (a retry, or a not-before time on Add);  global ordered index
//   ready      may be sent now; FIFO per destination (the.tdc.queue: newest first under backlog)
//   in flight  taken by a connection (TakeReady) until Complete() or Release()
// Tick() moves due scheduled entries to ready and removes entries of expire_while_queued queues
// (the.tdc.queue) whose lifetime is over, even if they were never attempted. Every operation is
// O(log n) or O(1) amortized in the number of entries (plus the size of the entry it touches);
// nothing scans all entries except RulesChanged().
//
// Each destination has a Postfix-style concurrency window: it grows by one after `window`
// successful deliveries (up to max_connections) and shrinks by one per failed connection, never
// below max(1, min_connections), so a queue that must keep min_connections open does so again as
// soon as it is back up. A failed connection marks the destination down and fails every ready entry
// of it at once: a dead destination costs one probe, not one attempt per message. While it is down
// no entry becomes ready before its next probe time (the failure + the queue's first retry
// interval: retry_delay for the.tdc.queue, initial_retry otherwise); entries added or due earlier
// wait, scheduled, until then, as Postfix's qmgr holds a dead destination's mail until its
// throttle expires. Without that hold every new message to a dead destination was a probe of its
// own: the TDC soak saw ~100 TLS handshakes a second against an intake with a bad certificate.
//
// Probing: a destination is *verified* once a connection to it got through greeting, EHLO and TLS
// (OnConnectionEstablished). It is unverified while it has never connected, while it is down, and
// after OnConnectionLost(): an established connection was cut by the peer or the network (closed
// while idle, reset or closed mid-transaction), which says nothing good about the next connect — a
// next hop that cut its connections may be gone (Postfix treats it the same way). While unverified
// WantedConnections() asks for one connection (a probe), so reconnecting to a dead next hop costs
// one connect timeout, not `window` of them at once. The window itself is kept: the first sign of
// life (OnConnectionEstablished, or a Complete() that delivered a rid) verifies the destination and
// the queue reopens its whole window (and min_connections) at once, so a healthy next hop that
// merely closes idle connections costs one extra connect.
//
// Protocol for the caller: open a connection when WantedConnections() asks for more, report it
// with OnConnectionEstablished() / OnConnectionFailed(), and only then TakeReady() entries for it.
// Every Plan returned must be acted upon (made durable, logged, DSN) by the caller; the Scheduler
// has already forgotten finished entries when it returns the Plan.
//
// Ownership: the Scheduler keeps a reference to the Clock (which must outlive it) and a copy of
// the rules function. The rules function is called when a destination is first seen and by
// RulesChanged(); it must not call back into the Scheduler.
// Thread-safety: none. Only the delivery loop's thread may call it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "queue/destination.h"
#include "queue/rules.h"

namespace tidegate::queue {

using EntryId = std::uint64_t;

// One message's recipients queued for one destination.
struct Entry {
  EntryId id = 0;
  std::uint64_t mid = 0;
  Destination destination;
  std::vector<std::uint32_t> rids;  // recipients still to be delivered, in the order added
  Time queued_at{};                 // when the message was received (its age counts from here)
  std::uint32_t attempts = 0;       // delivery attempts made so far
  Time next_attempt{};              // when it was (or will be) due; the not_before of Add at first
};

// What one delivery attempt did to the recipients of the entry it carried.
struct AttemptOutcome {
  std::vector<std::uint32_t> delivered;
  std::vector<std::pair<std::uint32_t, Failure>> failed;
};

// What the caller must now do for one entry: make the outcome durable, log it, build DSNs.
// Every rid the entry held is in exactly one of delivered/bounced/expired/retried.
struct Plan {
  EntryId id = 0;
  std::uint64_t mid = 0;
  Destination destination;
  std::vector<std::uint32_t> delivered, bounced, expired, retried;
  Time retry_at{};             // when the retried rids are due (meaningful if retried is non-empty)
  std::uint32_t attempts = 0;  // attempts made so far, including the one this Plan reports
  bool entry_finished = false;  // the entry is gone (nothing retried)
};

class Scheduler {
 public:
  using RulesFunction = std::function<QueueRules(const Destination& destination)>;

  Scheduler(const base::Clock& clock, RulesFunction rules);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues `rids` of message `mid` for `destination`: ready at once if not_before <= now, else
  // scheduled for not_before. Recovery after a restart passes the stored next attempt time and
  // the attempts already made (the spool keeps both, docs/spool-format.md), so that a restart
  // neither retries early nor grants new retries: Decide() counts on from `attempts`.
  // An entry already past its lifetime on an expire_while_queued queue is removed by the next
  // Tick(). `rids` must not be empty.
  EntryId Add(std::uint64_t mid, Destination destination, std::vector<std::uint32_t> rids,
              Time queued_at, Time not_before = {}, std::uint32_t attempts = 0);

  // Removes entries of expire_while_queued queues whose lifetime is over (ready or scheduled; an
  // entry in flight is decided by its Complete()), returning one Plan each with `expired` filled;
  // then moves due scheduled entries to the back of their ready queues, in order of due time, then
  // id. Call it when NextWakeup() is reached; Add(), Complete() and OnConnectionFailed() may move
  // NextWakeup() earlier, so re-read it after them.
  std::vector<Plan> Tick();

  // The earliest due time of a scheduled entry or lifetime end of an expiring entry; nullopt if
  // there is nothing to wait for. May be in the past (then Tick() at once).
  std::optional<Time> NextWakeup() const;

  // The oldest ready entry of `destination`, now in flight; nullopt if none is ready. On
  // expire_while_queued queues (the.tdc.queue) the newest instead, once the oldest has used half
  // its lifetime (adaptive LIFO under backlog; see the definition).
  std::optional<Entry> TakeReady(const Destination& destination);

  // Puts an in-flight entry back at the FRONT of its ready queue without counting an attempt
  // (e.g. the connection was closed by us before the transaction). No-op for an id that is no
  // longer known (removed meanwhile).
  void Release(EntryId id);

  // Applies the outcome of an attempt on an in-flight entry: counts one attempt, applies Decide()
  // to every failed rid; retried rids stay in the entry, scheduled at the earliest retry time;
  // delivered, bounced and expired rids leave it. Rids of the entry that the outcome does not
  // mention count as failed with Failure{} (temporary), so that no recipient is ever lost; rids
  // not in the entry are ignored. For an id that is no longer known (removed meanwhile) the Plan
  // is empty with entry_finished set. At least one delivered rid is a success: it grows the window
  // and verifies a destination left unverified by OnConnectionLost() (the next hop took mail).
  // If the connection that carried the attempt was then lost, call OnConnectionLost() after this.
  Plan Complete(EntryId id, const AttemptOutcome& outcome);

  // Connection feedback. Established: the destination is up and verified (clears down and lost).
  // The window's positive feedback comes from Complete(): an attempt with at least one delivered
  // rid is one success.
  void OnConnectionEstablished(const Destination& destination);
  // Lost: a connection that OnConnectionEstablished() reported was cut without our asking — the
  // peer closed it (while idle, or mid-transaction), or a network error (reset, broken pipe) broke
  // it. Not for our own QUIT or idle close, nor for a connection the peer ended with an SMTP reply
  // (a 421 is an answer, not a loss). The destination becomes unverified: WantedConnections()
  // offers a single probe until OnConnectionEstablished() or a Complete() with a delivered rid.
  // Window, down state and entries are untouched (the entry that was in flight on the connection
  // gets its outcome through Complete() as usual). O(1) for a known destination.
  void OnConnectionLost(const Destination& destination);
  // Failed (before any entry was taken for it): the destination is marked down until
  // now + ProbeInterval() at least (no entry becomes ready before that), its window shrinks, and
  // every READY entry of it is failed with `failure`, one attempt counted each. Entries in flight
  // on other connections and scheduled entries are left alone.
  std::vector<Plan> OnConnectionFailed(const Destination& destination, const Failure& failure);
  // How long a down destination waits for its next probe: FirstRetryDelay() of its rules, the
  // same delay its failed entries get, so held and retried entries become ready together.
  static Duration ProbeInterval(const QueueRules& rules);

  // How many connections `destination` wants open now: 0 when it holds no entries; while it is
  // unverified (never connected, down, or lost since its last sign of life), 1 (a probe) if it has
  // ready or in-flight entries, else 0; otherwise min(window, max(min_connections, ready +
  // in_flight)), where min_connections applies whenever it holds any entries (also only scheduled
  // ones). Always capped by max_connections. O(1).
  std::uint32_t WantedConnections(const Destination& destination) const;

  // Destinations that have ready entries, sorted by name.
  std::vector<Destination> DestinationsWithReady() const;

  // Drops every entry of message `mid` (operator delete), in flight or not; false if none.
  bool Remove(std::uint64_t mid);

  // Re-reads the rules of every known destination (config reload): windows are clamped to the
  // new limits and lifetime deadlines recomputed. O(n log n) in the number of entries.
  void RulesChanged();

  struct DestinationStatus {
    Destination destination;
    std::size_t active_recipients = 0;  // rids in ready + scheduled + in-flight entries
    std::size_t ready_entries = 0, scheduled_entries = 0, in_flight_entries = 0;
    bool down = false;
    bool unverified = false;  // never connected, down, or lost: WantedConnections() probes
    std::uint32_t window = 0;
  };
  // Every known destination (including recently emptied ones, which keep their window and down /
  // lost state), sorted by name.
  std::vector<DestinationStatus> Status() const;
  std::optional<DestinationStatus> Status(const Destination& destination) const;
  // When the next delivery attempt for the destinations shown as `display` (Destination::
  // Display(): a domain, or a named queue such as the.tdc.queue) is due: now if an entry is ready
  // (it waits for a connection), else the earliest scheduled entry's due time (a down
  // destination's entries wait for its next probe); nullopt if none waits. O(destinations +
  // scheduled entries), for the status pages.
  std::optional<Time> NextAttempt(const std::string& display) const;

  std::size_t size() const;  // entries

  // Empty destinations whose state (window, down, lost) is kept; beyond this the longest-idle are
  // forgotten.
  static constexpr std::size_t kMaxIdleDestinations = 1024;

 private:
  struct Queue;
  struct State;
  using TimeKey = std::pair<Time, EntryId>;

  Queue& GetDestination(const Destination& name);  // creates (idle) on first sight
  void ApplyRules(Queue& dest, QueueRules rules);
  void Activate(Queue& dest);  // it holds entries again: no longer idle
  void NoteIdle(Queue& dest);  // idle if it holds no entries; evicts the longest idle
  State* Find(EntryId id);
  void Enqueue(State& state, Time due, Time now);  // to ready or scheduled, expiry indexed
  void PushReady(State& state, bool front);
  void IndexExpiry(State& state);
  void UnindexExpiry(State& state);
  void Unlink(State& state);  // out of its stage and the expiry index
  void Forget(State& state);  // out of the maps; destroys it
  void Erase(State& state);   // Unlink + Forget
  Plan Finish(State& state, const AttemptOutcome& outcome, Time now);
  DestinationStatus MakeStatus(const Queue& dest) const;

  const base::Clock& clock_;
  RulesFunction rules_;
  EntryId next_id_ = 1;
  std::unordered_map<EntryId, std::unique_ptr<State>> entries_;
  std::unordered_map<std::uint64_t, std::vector<EntryId>> by_mid_;
  // Destinations by name. Node-based, so Queue* held by entries stay valid.
  std::unordered_map<Destination, std::unique_ptr<Queue>, DestinationHash> destinations_;
  std::list<Queue*> idle_;       // empty destinations, longest idle first
  std::set<TimeKey> scheduled_;  // (due time, id): FIFO by due time, then id
  std::set<TimeKey> expiry_;     // (lifetime end, id) of ready/scheduled expiring entries
};

}  // namespace tidegate::queue
