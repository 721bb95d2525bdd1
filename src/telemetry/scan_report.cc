// scan_report.cc — see scan_report.h.
#include "telemetry/scan_report.h"

#include <fmt/format.h>

namespace tidegate::telemetry {

void ScanReport::Emit(std::uint64_t mid, std::string line, std::string status) {
  if (events_) events_(mid, line, std::move(status));
  log_->Info(std::move(line));
}

void ScanReport::Spam(std::uint64_t mid, std::string_view verdict, double score) {
  counters_->UpdateGlobal([&](GlobalCounters& g) {
    if (verdict == "positive") {
      ++g.spam_positive;
    } else if (verdict == "suspect") {
      ++g.spam_suspect;
    } else {
      ++g.spam_negative;
    }
  });
  Emit(mid, fmt::format("MID {} using engine: RSPAMD spam {} score {:.2f}", mid, verdict, score));
}

void ScanReport::SpamSkipped(std::uint64_t mid, std::uint64_t size) {
  Emit(mid, fmt::format("MID {} using engine: RSPAMD spam skipped size {}", mid, size));
}

void ScanReport::Authentication(std::uint64_t mid, std::string_view spf, std::string_view dkim,
                                std::string_view dmarc) {
  Emit(mid, fmt::format("MID {} authentication spf={} dkim={} dmarc={}", mid, spf, dkim, dmarc));
}

void ScanReport::VirusNegative(std::uint64_t mid) {
  counters_->UpdateGlobal([](GlobalCounters& g) { ++g.virus_negative; });
  Emit(mid, fmt::format("MID {} antivirus negative", mid));
}

void ScanReport::VirusPositive(std::uint64_t mid, std::string_view name) {
  counters_->UpdateGlobal([](GlobalCounters& g) { ++g.virus_positive; });
  Emit(mid, fmt::format("MID {} antivirus positive '{}'", mid, name));
}

void ScanReport::VirusUnscannable(std::uint64_t mid, std::string_view reason) {
  counters_->UpdateGlobal([](GlobalCounters& g) { ++g.virus_unscannable; });
  Emit(mid, fmt::format("MID {} antivirus unscannable {}", mid, reason));
}

void ScanReport::VirusSkipped(std::uint64_t mid, std::uint64_t size) {
  Emit(mid, fmt::format("MID {} using engine: CLAMAV antivirus skipped size {}", mid, size));
}

void ScanReport::EngineAnswered(Engine engine, std::chrono::steady_clock::duration took) {
  Histogram& h = engine == Engine::kRspamd ? counters_->scan_seconds_rspamd()
                                           : counters_->scan_seconds_clamd();
  h.Observe(std::chrono::duration<double>(took).count());
}

void ScanReport::ScanFailed(std::uint64_t mid, std::string_view engine, std::string_view reason,
                            std::int64_t retry_seconds) {
  counters_->UpdateGlobal([](GlobalCounters& g) { ++g.scan_failures; });
  // A warning: an engine that keeps failing holds mail back, which an operator must see.
  std::string line = fmt::format("MID {} {} scan failed: {}; will retry in {} seconds", mid, engine,
                                 reason, retry_seconds);
  if (events_) events_(mid, line, "");
  log_->Warning(std::move(line));
}

void ScanReport::DecisionFailed(std::uint64_t mid, std::string_view reason,
                                std::int64_t retry_seconds) {
  std::string line =
      fmt::format("MID {} verdict not carried out: {}; will scan again in {} seconds", mid, reason,
                  retry_seconds);
  if (events_) events_(mid, line, "");
  log_->Critical(std::move(line));
}

void ScanReport::Quarantined(std::uint64_t mid, std::string_view quarantine, std::string_view by) {
  counters_->UpdateGlobal([](GlobalCounters& g) { ++g.quarantined; });
  Emit(mid, fmt::format("MID {} quarantined to \"{}\" ({})", mid, quarantine, by),
       fmt::format("quarantined ({})", quarantine));
}

void ScanReport::Dropped(std::uint64_t mid, std::string_view by) {
  counters_->UpdateGlobal([](GlobalCounters& g) { ++g.dropped; });
  Emit(mid, fmt::format("Message aborted MID {} Dropped by {}", mid, by), "dropped");
}

void ScanReport::Released(std::uint64_t mid, std::string_view quarantine, std::string_view user) {
  counters_->UpdateGlobal([](GlobalCounters& g) { ++g.released; });
  Emit(mid, fmt::format("MID {} released from quarantine \"{}\" by {}", mid, quarantine, user),
       "queued");
}

void ScanReport::Clean(std::uint64_t mid) {
  if (events_) events_(mid, fmt::format("Message {} scanned; queued for delivery", mid), "");
}

void ScanReport::QuarantineDeleted(std::uint64_t mid, std::string_view quarantine,
                                   std::string_view why) {
  Emit(mid, fmt::format("MID {} deleted from quarantine \"{}\" ({})", mid, quarantine, why),
       "deleted");
}

}  // namespace tidegate::telemetry
