// stage.h — the scan stage: between a message's durable acceptance (its 250) and its delivery,
// the anti-spam and anti-virus verdicts of CONTRACT §10 decide what becomes of it.
//
// Life of a scanned message (docs/life-of-a-message.md, "The scan stage"): PlanAcceptance marks
// a message of a scanning policy `scan=pending` and makes no journal copy. The server hands such
// messages (received, or found at recovery) to Stage::Add(). The stage reads the body from the
// spool once, asks the policy's engines concurrently (rspamd and clamd clients, each with its own
// timeout and concurrency limit), and decides (scan::Decide). Every outcome is a spool commit
// before anything acts on it:
//   deliver    → the delivered form (edits: Authentication-Results, verdict headers, subject
//                tag) replaces the message under its MID, `scan` removed, in the same commit as
//                its journal copy made from that form; then both go to the delivery queue.
//   quarantine → the delivered form is stored durably in the quarantine, then the spool entry
//                is finished.
//   drop       → the spool entry is finished.
// An engine unavailable (refused, reset, timed out, garbage) is never a verdict: the message stays
// pending and is scanned again after the engine's retry_delay (logged each time). kill -9 at any
// moment finds it either still pending (scanned again: scans have no side effects) or decided.
// Threading: Add() may be called from any thread; everything else runs on the io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/config.h"
#include "engines/verdicts.h"
#include "scan/scan_attr.h"
#include "spool/spool.h"
#include "telemetry/scan_report.h"

namespace tidegate::scan {

// The engines, as the stage uses them (real clients in production, fakes in unit tests).
class SpamEngine {
 public:
  virtual ~SpamEngine() = default;
  virtual void Check(const engines::Envelope& envelope, std::shared_ptr<const std::string> message,
                     std::function<void(base::Result<engines::SpamResult>)> done) = 0;
};
class VirusEngine {
 public:
  virtual ~VirusEngine() = default;
  virtual void Scan(std::shared_ptr<const std::string> message,
                    std::function<void(base::Result<engines::VirusResult>)> done) = 0;
};

class Stage {
 public:
  struct Hooks {
    // The decided message (and its journal copy, when one was made) goes on to delivery.
    std::function<void(std::vector<spool::MessageMeta>)> deliver;
    // The journal copy of a message about to be delivered in form `body`, or nullopt (no intake
    // for its policy, or the TDC's quota reached — the hook reports that).
    std::function<std::optional<spool::NewMessage>(const spool::MessageMeta&, std::string_view)>
        journal_copy;
    // The copy is durable: report it (log lines, tracking, counters).
    std::function<void(const spool::MessageMeta& original, const spool::MessageMeta& copy)>
        journal_made;
    // Stores the delivered form durably in quarantine `name`; `done` runs on any thread.
    std::function<void(std::string name, spool::MessageMeta meta, std::string body,
                       std::string reason, std::function<void(base::Status)> done)>
        quarantine;
    // Engine factories (nullptr: the real rspamd / clamd clients).
    std::function<std::unique_ptr<SpamEngine>(const config::AntiSpamEngine&)> make_spam;
    std::function<std::unique_ptr<VirusEngine>(const config::AntiVirusEngine&)> make_virus;
  };

  Stage(boost::asio::io_context& io, spool::Spool* spool, telemetry::ScanReport* report,
        std::function<std::shared_ptr<const config::GatewayConfig>()> config, Hooks hooks);
  ~Stage();
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;

  // Messages to scan (scan=pending). Any thread.
  void Add(std::vector<spool::MessageMeta> metas);
  // The configuration changed: engines whose settings changed are replaced (scans in flight on
  // the old ones finish there). Any thread.
  void ConfigChanged();
  // No new scans; timers cancelled. Messages not yet decided stay pending in the spool.
  void Stop();

  // Messages waiting for a scan, being scanned, or waiting for a retry (status).
  std::size_t backlog() const { return backlog_.load(); }

 private:
  struct Job;
  void Pump();
  void StartJob(std::shared_ptr<Job> job);
  void EngineDone(const std::shared_ptr<Job>& job);
  void Decided(const std::shared_ptr<Job>& job);
  void Retry(const std::shared_ptr<Job>& job, std::chrono::milliseconds delay);
  void Done(const std::shared_ptr<Job>& job);
  void ApplyConfig();
  std::size_t MaxInFlight() const;

  boost::asio::io_context& io_;
  spool::Spool* spool_;
  telemetry::ScanReport* report_;
  std::function<std::shared_ptr<const config::GatewayConfig>()> config_;
  Hooks hooks_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  std::shared_ptr<const config::GatewayConfig> cfg_;
  std::optional<config::AntiSpamEngine> spam_settings_;
  std::optional<config::AntiVirusEngine> virus_settings_;
  std::shared_ptr<SpamEngine> spam_;
  std::shared_ptr<VirusEngine> virus_;

  std::deque<spool::MessageMeta> waiting_;
  std::map<std::uint64_t, std::unique_ptr<boost::asio::steady_timer>> retry_timers_;
  std::size_t in_flight_ = 0;
  bool stopped_ = false;
  std::atomic<std::size_t> backlog_{0};
};

}  // namespace tidegate::scan
