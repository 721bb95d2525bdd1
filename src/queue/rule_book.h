// rule_book.h — every destination queue's rules, built from one configuration snapshot.
//
// Ordinary mail travels under the default rules (queue::Destination::queue empty): the
// `delivery` settings. Named queues have rules of their own; today one, `the.tdc.queue`, on which
// journal copies travel with the Threat Defense Connector's rules (CONTRACT §4). The delivery
// engine asks the book, never the configuration, so it has no branch for any particular queue.
//
// A plain value built by a pure function; thread-safe to read.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "queue/destination.h"
#include "queue/rules.h"

namespace tidegate::queue {

inline constexpr char kTdcQueue[] = "the.tdc.queue";

struct RuleBook {
  QueueRules mail;                                       // Destination::queue == ""
  std::map<std::string, QueueRules, std::less<>> named;  // by queue name
  std::string journal_queue;                             // the named queue journal copies travel on
  std::vector<std::string> listed;                       // queues shown (tophosts) even while empty

  // The rules of `destination`'s queue; an unknown name gets the default rules.
  const QueueRules& For(const Destination& destination) const;
  // Where a journal copy for `next_hop` (the intake address's domain) travels.
  Destination JournalDestination(std::string next_hop) const {
    return Destination(journal_queue, std::move(next_hop));
  }
};

RuleBook RuleBookFromConfig(const config::GatewayConfig& config);

}  // namespace tidegate::queue
