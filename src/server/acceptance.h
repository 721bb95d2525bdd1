// acceptance.h — the pure acceptance step: what one received SMTP transaction becomes.
//
// PlanAcceptance() decides, without I/O, everything MessagePipeline::Accept() commits and reports:
// loop protection (more than kMaxReceivedHeaders Received: fields → refused 554 5.4.6, nothing
// stored), the recipients' incoming mail policies (policy::PolicyTable), one message per policy
// (the first keeps the received MID, the others are splits with parent_mid = that MID), and a
// journal copy for each message whose policy resolves to an intake address
// (config::GatewayConfig::JournalAddress) unless the.tdc.queue already holds tdc.max_queued
// copies. It returns the messages to commit, in commit order, and the events to report once they
// are durable, in the order they happened. MIDs come from the caller's id source, called in the
// order the messages are made (split, then its journal copy, then the next split), so logs and
// ids read as they always have; the clock's time is the message's `received`.
// Pure: no I/O except through the injected id source; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "config/config.h"
#include "inbound/acceptor.h"
#include "policy/policy_table.h"
#include "scan/scan_attr.h"
#include "spool/spool.h"
#include "telemetry/reception_events.h"

namespace tidegate::server {

// Loop protection: a message whose header section carries more Received: fields than this (not
// counting our own) is refused "554 5.4.6" at the end of DATA and nothing is stored.
inline constexpr std::size_t kMaxReceivedHeaders = 50;

// The events PlanAcceptance() states are telemetry's (rendered by telemetry::ReceptionReport).
namespace event {
using telemetry::Accepted;
using telemetry::JournalCopyMade;
using telemetry::JournalSkipped;
using telemetry::Queued;
using telemetry::Received;
}  // namespace event

using AcceptanceEvent = telemetry::ReceptionEvent;

struct AcceptancePlan {
  std::optional<inbound::Rejection> refusal;  // set: answer 554, store nothing, report nothing
  std::vector<spool::NewMessage> messages;    // to commit in one write, in this order
  std::vector<AcceptanceEvent> events;        // to report after the commit, in this order
};

struct AcceptanceContext {
  // Reserves a fresh MID for a split or a journal copy; 0 when none can be had (the ids file
  // could not be written), which fails the plan (the session answers 452).
  std::function<std::uint64_t()> next_mid;
  std::size_t journal_backlog = 0;  // journal copies queued now (tdc.max_queued is checked on it)
};

// The journal copy (CONTRACT §3: a journal report wrapping `body`, the original's delivered form)
// of `original` for `intake`, with MID `jmid`. Used at reception and by the scan stage.
spool::NewMessage MakeJournalCopy(const config::GatewayConfig& config,
                                  const spool::MessageMeta& original, std::string_view body,
                                  const mail::Address& intake, std::uint64_t jmid);

// Errors (nothing to commit, answer 452): a temporary policy lookup failure, no MID available.
base::Result<AcceptancePlan> PlanAcceptance(inbound::ReceivedMessage message,
                                            const config::GatewayConfig& config,
                                            const policy::PolicyTable& table,
                                            const AcceptanceContext& context);

}  // namespace tidegate::server
