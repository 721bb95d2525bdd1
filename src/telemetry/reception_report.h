// reception_report.h — the one place that renders the acceptance step's typed events
// (reception_events.h) into their mail log lines (CONTRACT §5), message tracking rows (§7) and
// counters (§6).
//
// The acceptance step (server/acceptance.h: PlanAcceptance) states what one received transaction
// became — "received as MID 7", "MID 8 split off for policy strict", "MID 9 journaled MID 7",
// "MID 7 queued" — and knows nothing of how it reads. Once the plan's messages are durable,
// MessagePipeline hands the events to ReceptionReport::Report(), in the order they happened. Each
// fact is emitted once and rendered here, so a log line, its tracking row and its counter can
// never disagree. The wording is pinned by e2e tests and operators' log parsers: byte for byte.
//
// Threading: Report() may be called from any thread; MailLog, Counters and the tracking sinks are
// thread-safe themselves.
#pragma once

#include <cstdint>
#include <vector>

#include "telemetry/counters.h"
#include "telemetry/mail_log.h"
#include "telemetry/reception_events.h"
#include "telemetry/tracking_sink.h"

namespace tidegate::telemetry {

class ReceptionReport {
 public:
  ReceptionReport(MailLog* log, Counters* counters);
  // Tracking's two feeds (either may be empty: no tracking).
  void set_tracking(TrackingRowSink rows, TrackingSink events) {
    rows_ = std::move(rows);
    events_ = std::move(events);
  }

  // One accepted transaction's events, Received first, once its messages are durable.
  void Report(const std::vector<ReceptionEvent>& events);
  // One event of a message received earlier (the scan stage's journal copy, made at the
  // verdict): rendered like the others, without counting a new reception. `tx` describes the
  // original transaction as far as the message's meta still tells it.
  void ReportLate(const Received& tx, const ReceptionEvent& event);

 private:
  void Render(const Received& tx);
  void Render(const Received& tx, const Accepted& e);
  void Render(const Received& tx, const JournalCopyMade& e);
  void Render(const Received& tx, const JournalSkipped& e);
  void Render(const Received& tx, const Queued& e);
  void Track(std::uint64_t mid, std::string text);

  MailLog* log_;
  Counters* counters_;
  TrackingRowSink rows_;
  TrackingSink events_;
};

}  // namespace tidegate::telemetry
