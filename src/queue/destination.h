// destination.h — the key of a destination queue: {queue rules, next hop}.
//
// Postfix's qmgr keys its queues by transport and next hop; tidegate does the same. `queue` names
// the rule set the entries travel under (queue/rule_book.h): empty for ordinary mail, or a named
// queue whose rules differ (the journal copies' queue, CONTRACT §4). `next_hop` is the lower-case
// domain whose route or MX the connection resolves. Two destinations with the same next hop but
// different rules never share a connection, a window or a retry schedule.
//
// Operators see a destination by Display(): a named queue as its name (all its next hops are one
// row, as tophosts shows `the.tdc.queue`), ordinary mail as its next hop.
//
// A plain value; thread-safe like a std::string.
#pragma once

#include <compare>
#include <cstddef>
#include <functional>
#include <string>

namespace tidegate::queue {

struct Destination {
  std::string queue;     // rule set name; "" = the default rules (ordinary mail)
  std::string next_hop;  // the domain the connection resolves

  Destination() = default;
  // Ordinary mail to `next_hop` (implicit: most callers and tests name a domain).
  Destination(std::string next_hop_) : next_hop(std::move(next_hop_)) {}  // NOLINT
  Destination(const char* next_hop_) : next_hop(next_hop_) {}             // NOLINT
  Destination(std::string queue_, std::string next_hop_)
      : queue(std::move(queue_)), next_hop(std::move(next_hop_)) {}

  // What operators see: the queue's name for a named queue, else the next hop.
  const std::string& Display() const { return queue.empty() ? next_hop : queue; }

  // A unique name: the next hop, or "<queue>/<next hop>" (the admin API's workqueue shows it).
  std::string Name() const { return queue.empty() ? next_hop : queue + "/" + next_hop; }

  auto operator<=>(const Destination&) const = default;
  bool operator==(const Destination&) const = default;
};

struct DestinationHash {
  std::size_t operator()(const Destination& d) const {
    const std::size_t h = std::hash<std::string>()(d.queue);
    return h ^ (std::hash<std::string>()(d.next_hop) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  }
};

}  // namespace tidegate::queue
