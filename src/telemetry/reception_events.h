// reception_events.h — the acceptance step's typed events: plain structs, no I/O.
//
// server::PlanAcceptance() returns them (what one received transaction became, in the order it
// happened); telemetry::ReceptionReport (reception_report.h) renders them once the messages are
// durable. Kept apart from the renderer so the pure acceptance step links no telemetry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "base/clock.h"

namespace tidegate::telemetry {

// The transaction as received (once, first): what every later event's rendering refers to.
struct Received {
  std::uint64_t mid = 0;  // the received MID (the first message keeps it)
  std::uint64_t icid = 0;
  base::SystemTime received{};
  std::string listener;
  std::string client_ip;
  std::string helo;
  bool tls = false;
  std::string sender;
  std::string message_id;
  std::string subject;
  std::uint64_t size = 0;  // body bytes, our trace headers included
};

// One message made for one policy's recipients: the original (parent_mid 0) or a split.
struct Accepted {
  std::uint64_t mid = 0;
  std::uint64_t parent_mid = 0;  // the received MID for a split, else 0
  std::string policy;
  std::vector<std::string> recipients;
};

// A journal copy of message `mid` was made for the TDC's intake.
struct JournalCopyMade {
  std::uint64_t mid = 0;
  std::uint64_t journal_mid = 0;
  std::string policy;
  std::string intake;
  std::string service;  // the TDC's service name (tdc.service_name), as its lines name it
};

// Message `mid` was not journaled: the.tdc.queue held `queued` copies (tdc.max_queued).
struct JournalSkipped {
  std::uint64_t mid = 0;
  std::size_t queued = 0;
};

// Message `mid` (and its journal copy, if any) is ready for delivery once committed.
struct Queued {
  std::uint64_t mid = 0;
};

using ReceptionEvent = std::variant<Received, Accepted, JournalCopyMade, JournalSkipped, Queued>;

}  // namespace tidegate::telemetry
