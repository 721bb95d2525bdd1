// tracking_sink.h — how the reports (delivery_report.h, reception_report.h) feed message tracking
// (CONTRACT §7) without holding the store: plain functions the server wiring binds to its one
// Tracking, or to nothing when tracking could not be opened (mail flows without it).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "telemetry/tracking.h"

namespace tidegate::telemetry {

// A line of a message's history, and its new status ("" = unchanged).
using TrackingSink = std::function<void(std::uint64_t mid, std::string text, std::string status)>;
// A message's summary row (Tracking::RecordMessage): a new message, or fields filled in.
using TrackingRowSink = std::function<void(MessageSummary summary)>;

}  // namespace tidegate::telemetry
