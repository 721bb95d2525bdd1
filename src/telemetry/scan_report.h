// scan_report.h — the one place that renders the scan stage's facts (CONTRACT §10) into mail log
// lines, message tracking events and counters, so that the three can never disagree.
//
// The scan stage (scan/stage.h) states what happened to one message — an engine's verdict, the
// authentication results, a quarantine, a drop, a failed scan that will be retried — and knows
// nothing of how it reads. The wording is the contract's (ESA wording), byte for byte.
// Thread-safety: every method may be called from any thread (MailLog, Counters and the tracking
// sink are thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "telemetry/counters.h"
#include "telemetry/mail_log.h"
#include "telemetry/tracking_sink.h"

namespace tidegate::telemetry {

class ScanReport {
 public:
  ScanReport(MailLog* log, Counters* counters) : log_(log), counters_(counters) {}
  void set_tracking(TrackingSink events) { events_ = std::move(events); }

  // verdict: "negative" | "suspect" | "positive".
  void Spam(std::uint64_t mid, std::string_view verdict, double score);
  void SpamSkipped(std::uint64_t mid, std::uint64_t size);
  void Authentication(std::uint64_t mid, std::string_view spf, std::string_view dkim,
                      std::string_view dmarc);
  void VirusNegative(std::uint64_t mid);
  void VirusPositive(std::uint64_t mid, std::string_view name);
  void VirusUnscannable(std::uint64_t mid, std::string_view reason);
  void VirusSkipped(std::uint64_t mid, std::uint64_t size);
  // One engine call ended (answered or failed) after `took`: tidegate_scan_seconds{engine}.
  enum class Engine { kRspamd, kClamd };
  void EngineAnswered(Engine engine, std::chrono::steady_clock::duration took);
  // engine: "anti-spam" | "anti-virus".
  void ScanFailed(std::uint64_t mid, std::string_view engine, std::string_view reason,
                  std::int64_t retry_seconds);
  // The verdict could not be carried out (spool or quarantine write failed, e.g. a full disk):
  // the message stays pending and is scanned again (critical: mail is held).
  void DecisionFailed(std::uint64_t mid, std::string_view reason, std::int64_t retry_seconds);
  // quarantine: "Spam" | "Virus"; by: "antispam" | "antivirus".
  void Quarantined(std::uint64_t mid, std::string_view quarantine, std::string_view by);
  void Dropped(std::uint64_t mid, std::string_view by);
  void Released(std::uint64_t mid, std::string_view quarantine, std::string_view user);
  // The message goes on to delivery in the form the verdicts gave it.
  void Clean(std::uint64_t mid);
  // Deleted from a quarantine by an operator (or expired): the end of its story.
  void QuarantineDeleted(std::uint64_t mid, std::string_view quarantine, std::string_view why);

 private:
  void Emit(std::uint64_t mid, std::string line, std::string status = "");

  MailLog* log_;
  Counters* counters_;
  TrackingSink events_;
};

}  // namespace tidegate::telemetry
