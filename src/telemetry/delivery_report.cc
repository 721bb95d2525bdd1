// delivery_report.cc — renders the delivery engine's events (see delivery_report.h).
#include "telemetry/delivery_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "telemetry/log_quote.h"

namespace tidegate::telemetry {

namespace {

using Wording = ReportStyle::Wording;

bool Journal(const ReportStyle& style) { return style.wording == Wording::kJournalCopy; }

// Short human text for an enhanced status code, in the style of ESA's delivery lines.
std::string Describe(const std::string& enhanced) {
  if (enhanced.rfind("5.1.", 0) == 0) return "Bad destination mailbox address";
  if (enhanced.rfind("5.7.", 0) == 0) return "Delivery not authorized";
  if (enhanced.rfind("4.4.7", 0) == 0) return "Message expired";
  if (enhanced.rfind("4.4.", 0) == 0) return "Network or routing problem";
  if (enhanced.rfind("4.7.", 0) == 0) return "Security or policy problem";
  if (!enhanced.empty() && enhanced[0] == '5') return "Permanent failure";
  return "Temporary failure";
}

template <typename Pairs>
std::vector<std::uint32_t> Rids(const Pairs& pairs) {
  std::vector<std::uint32_t> rids;
  rids.reserve(pairs.size());
  for (const auto& [rid, reply] : pairs) rids.push_back(rid);
  return rids;
}

}  // namespace

std::string ReplySummary::Brief() const {
  return code > 0 ? fmt::format("{} {}", code, text) : text;
}

std::string ReplySummary::Counted() const {
  if (answered) return fmt::format("{} {}", code, text);
  return text.empty() ? "no reply" : text;
}

DeliveryReport::DeliveryReport(MailLog* log, Counters* counters) : log_(log), counters_(counters) {}

void DeliveryReport::Track(std::uint64_t mid, std::string text, std::string status) {
  if (tracking_) tracking_(mid, std::move(text), std::move(status));
}

void DeliveryReport::Opening(const ReportStyle& style) { counters_->ConnectionOpened(style.queue); }

void DeliveryReport::Closed(const ReportStyle& style, std::uint64_t dcid) {
  if (dcid != 0) log_->Info(fmt::format("DCID {} close", dcid));
  connections_.erase(dcid);
  counters_->ConnectionClosed(style.queue);
}

void DeliveryReport::Down(const ReportStyle& style, bool down) {
  counters_->SetDown(style.queue, down);
}

void DeliveryReport::Listed(const ReportStyle& style) { counters_->Touch(style.queue); }

void DeliveryReport::Report(const ReportStyle&, const NextHopUnusable& e) {
  if (e.nxdomain) log_->Info(fmt::format("DNS Error {} MX - NXDomain", e.domain));
}

void DeliveryReport::Report(const ReportStyle& style, const NextHopsResolved& e) {
  counters_->SetNextHops(style.queue, e.hops);
}

void DeliveryReport::Report(const ReportStyle& style, const ConnectionError& e) {
  if (e.kind == ConnectionErrorKind::kNetwork) {
    if (Journal(style)) {
      log_->Info(fmt::format(
          "TDC: Connection Error: DCID {} domain: {} IP: {} port: {} details: {} interface: {} "
          "reason: network error",
          e.dcid, style.queue, e.ip, e.port, e.details, e.interface));
    } else {
      log_->Info(fmt::format("Connection Error: domain: {} IP: {} port: {} details: {}",
                             style.queue, e.ip, e.port, e.details));
    }
    return;
  }
  counters_->RecordError(style.queue,
                         e.kind == ConnectionErrorKind::kTls ? Counters::ErrorKind::kTls
                         : e.permanent                       ? Counters::ErrorKind::kPermanent
                                                             : Counters::ErrorKind::kTemporary,
                         e.summary);
  if (Journal(style)) {
    log_->Info(fmt::format(
        "TDC: Connection Error: DCID {} domain: {} IP: {} port: {} details: {} interface: {} "
        "reason: {}",
        e.dcid, style.queue, e.ip, e.port, e.details, e.interface,
        e.kind == ConnectionErrorKind::kTls ? "TLS error" : "protocol error"));
  }
}

void DeliveryReport::Report(const ReportStyle& style, const ConnectionOpened& e) {
  // Bounded even if some path never reports the close: the oldest DCIDs go first.
  constexpr std::size_t kMaxOpen = 4096;
  while (connections_.size() >= kMaxOpen) connections_.erase(connections_.begin());
  connections_[e.dcid] = OpenConnection{.interface = e.interface, .ip = e.ip, .port = e.port};
  const bool v6 = e.ip.find(':') != std::string::npos;
  counters_->ConnectionUsed(
      style.queue, v6 ? fmt::format("[{}]:{}", e.ip, e.port) : fmt::format("{}:{}", e.ip, e.port));
  log_->Info(fmt::format("{}New SMTP DCID {} interface {} address {} port {}",
                         Journal(style) ? "TDC: " : "", e.dcid, e.interface, e.ip, e.port));
}

void DeliveryReport::Report(const ReportStyle&, const TlsResult& e) {
  if (auto it = connections_.find(e.dcid); it != connections_.end() && e.ok) {
    it->second.tls_protocol = e.protocol;
    it->second.tls_cipher = e.cipher;
  }
  if (e.ok) {
    log_->Info(
        fmt::format("DCID {} TLS success protocol {} cipher {}", e.dcid, e.protocol, e.cipher));
  } else {
    log_->Info(fmt::format("DCID {} TLS failed: {}", e.dcid, e.error));
  }
}

void DeliveryReport::Report(const ReportStyle& style, const DeliveryStarted& e) {
  if (auto it = connections_.find(e.dcid); it != connections_.end()) {
    const OpenConnection& c = it->second;
    Track(e.mid, fmt::format("SMTP delivery connection (DCID {}) opened from interface {} to IP "
                             "address {} on port {}.",
                             e.dcid, c.interface.empty() ? "-" : c.interface, c.ip, c.port));
    if (!c.tls_protocol.empty()) {
      Track(e.mid, fmt::format("Delivery connection (DCID {}) successfully accepted TLS protocol "
                               "{} cipher {}.",
                               e.dcid, c.tls_protocol, c.tls_cipher));
    }
  }
  if (Journal(style)) {
    log_->Info(fmt::format("TDC: Delivery start DCID {} MID {}", e.dcid, e.mid));
  } else {
    log_->Info(fmt::format("Delivery start DCID {} MID {} to RID [{}]", e.dcid, e.mid,
                           fmt::join(e.rids, ", ")));
  }
}

void DeliveryReport::Count(const ReportStyle& style, const AttemptResult& e) {
  // The peer's own error replies, in rid order: the last one recorded is the queue's last error.
  std::vector<const std::pair<std::uint32_t, ReplySummary>*> errors;
  for (const auto* list : {&e.delivered, &e.retried, &e.bounced, &e.expired}) {
    for (const auto& reply : *list) {
      if (reply.second.answered && reply.second.code >= 400 && !reply.second.synthetic) {
        errors.push_back(&reply);
      }
    }
  }
  std::sort(errors.begin(), errors.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* error : errors) {
    const ReplySummary& reply = error->second;
    counters_->RecordError(
        style.queue,
        reply.code >= 500 ? Counters::ErrorKind::kPermanent : Counters::ErrorKind::kTemporary,
        fmt::format("{} {}", reply.code, reply.text));
  }
  if (!e.delivered.empty()) counters_->Delivered(style.queue, e.delivered.size(), Journal(style));
  if (!e.retried.empty()) {
    counters_->SoftBounced(style.queue, e.retried.size(), e.retried[0].second.Counted());
  }
  if (!e.bounced.empty() || !e.expired.empty()) {
    const ReplySummary& first = e.bounced.empty() ? e.expired[0].second : e.bounced[0].second;
    counters_->HardBounced(style.queue, e.bounced.size() + e.expired.size(), first.Counted());
  }
}

void DeliveryReport::Report(const ReportStyle& style, const AttemptResult& e) {
  auto address = [&](std::uint32_t rid) {
    auto it = e.addresses.find(rid);
    return it == e.addresses.end() ? std::string("?") : it->second;
  };
  if (Journal(style)) {
    const std::string& service = style.service_name;
    auto both = [&](const std::string& text) {
      Track(e.mid, text);
      if (e.parent_mid != 0) Track(e.parent_mid, text);
    };
    if (!e.delivered.empty()) {
      log_->Info(
          fmt::format("TDC: MID {} successfully delivered for scanning with {}", e.mid, service));
      counters_->UpdateGlobal([](GlobalCounters& g) { ++g.journal_delivered; });
      if (e.received != base::SystemTime{}) {
        counters_->journal_delay().Observe(
            std::chrono::duration<double>(e.ended - e.received).count());
      }
      both(fmt::format("TDC: Message {} was successfully delivered for scanning with {}.", e.mid,
                       service));
    }
    for (const auto& [rid, reply] : e.retried) {
      log_->Info(fmt::format("TDC: MID {} will be retried in {} seconds: {}", e.mid,
                             std::max<long>(0, e.retry_in.count()), reply.Brief()));
    }
    auto failed = [&](const std::string& reason, bool removed) {
      log_->Info(fmt::format("TDC: MID {} delivery failed to {}: {}", e.mid, service, reason));
      counters_->UpdateGlobal([removed](GlobalCounters& g) {
        ++g.journal_failed;
        if (removed) ++g.journal_removed;
      });
      both(fmt::format("TDC: Message {} could not be delivered for scanning with {}: {}.", e.mid,
                       service, reason));
    };
    for (const auto& [rid, reply] : e.bounced) {
      log_->Info(fmt::format("TDC: Hard bounced - {} - {}", reply.enhanced, reply.Brief()));
      failed(reply.Brief(), false);
    }
    for (const auto& [rid, reply] : e.expired) {
      const std::string why =
          e.too_old ? fmt::format("queued longer than {} seconds", style.max_queue_time.count())
                    : std::string("retries exhausted");
      log_->Info(fmt::format("TDC: MID {} removed from {}: {}", e.mid, style.queue, why));
      failed(reply.text.empty() ? why : fmt::format("{} ({})", why, reply.Brief()), true);
    }
    return;
  }

  if (!e.delivered.empty()) {
    const auto rids = Rids(e.delivered);
    log_->Info(fmt::format("Message done DCID {} MID {} to RID [{}]", e.dcid, e.mid,
                           fmt::join(rids, ", ")));
    const std::string& text = e.delivered[0].second.text;
    log_->Info(
        fmt::format("MID {} RID [{}] Response {}", e.mid, fmt::join(rids, ", "), ReprQuote(text)));
    for (std::uint32_t rid : rids) {
      Track(e.mid, fmt::format("Message {} to {} received remote SMTP response {}", e.mid,
                               address(rid), ReprQuote(text)));
    }
  }
  auto line = [&](const char* what, std::uint32_t rid, const ReplySummary& reply, bool expired) {
    const std::string enhanced = expired ? std::string("4.4.7") : reply.enhanced;
    log_->Info(fmt::format("{}: DCID {} MID {} to RID {} - {} - {} ('{:03d}', [{}])", what,
                           e.dcid, e.mid, rid, enhanced,
                           expired ? std::string("Message expired") : Describe(enhanced),
                           reply.code, ReprQuote(reply.text)));
    Track(e.mid, fmt::format("{} message {} to {} - {} - {}", what, e.mid, address(rid), enhanced,
                             reply.text));
  };
  for (const auto& [rid, reply] : e.retried) line("Delayed", rid, reply, false);
  for (const auto& [rid, reply] : e.bounced) line("Bounced", rid, reply, false);
  for (const auto& [rid, reply] : e.expired) line("Bounced", rid, reply, true);
}

void DeliveryReport::Report(const ReportStyle&, const MessageFinished& e) {
  log_->Info(fmt::format("Message finished MID {} done", e.mid));
  Track(e.mid, fmt::format("Message {} done ({} recipient(s) failed)", e.mid, e.failed),
        e.failed == 0 ? "delivered" : "done with failures");
}

void DeliveryReport::DsnGenerated(std::uint64_t dsn_mid, std::uint64_t mid) {
  log_->Info(fmt::format("MID {} was generated for bounce of MID {}", dsn_mid, mid));
  counters_->UpdateGlobal([](GlobalCounters& g) { ++g.dsns_generated; });
}

void DeliveryReport::CannotRead(std::uint64_t mid, Reading what, const std::string& error) {
  log_->Critical(fmt::format(
      "MID {} cannot read {}: {}", mid,
      what == Reading::kToSend ? "the stored message" : "the message for its DSN", error));
}

void DeliveryReport::CannotRecord(std::uint64_t mid, const std::string& error) {
  log_->Critical(fmt::format("MID {} could not record delivery results: {}; retrying", mid, error));
}

void DeliveryReport::ResultsRecorded(std::uint64_t mid) {
  log_->Info(fmt::format("MID {} delivery results recorded", mid));
}

}  // namespace tidegate::telemetry
