// reception_report.cc — renders the acceptance step's events (see reception_report.h).
#include "telemetry/reception_report.h"

#include <fmt/format.h>

#include <type_traits>

namespace tidegate::telemetry {

ReceptionReport::ReceptionReport(MailLog* log, Counters* counters)
    : log_(log), counters_(counters) {}

void ReceptionReport::Track(std::uint64_t mid, std::string text) {
  if (events_) events_(mid, std::move(text), "");
}

void ReceptionReport::Report(const std::vector<ReceptionEvent>& events) {
  if (events.empty()) return;
  const Received& tx = std::get<Received>(events.front());
  Render(tx);
  for (std::size_t i = 1; i < events.size(); ++i) {
    std::visit(
        [&](const auto& e) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(e)>, Received>) Render(tx, e);
        },
        events[i]);
  }
}

void ReceptionReport::Render(const Received&) {
  counters_->UpdateGlobal([](GlobalCounters& g) { ++g.messages_received; });
}

void ReceptionReport::Render(const Received& tx, const Accepted& e) {
  counters_->UpdateGlobal([&](GlobalCounters& g) { g.recipients_received += e.recipients.size(); });
  if (rows_) {
    rows_(MessageSummary{.mid = e.mid,
                         .icid = tx.icid,
                         .received = tx.received,
                         .sender = tx.sender,
                         .recipients = e.recipients,
                         .message_id = tx.message_id,
                         .subject = tx.subject,
                         .policy = e.policy,
                         .parent_mid = e.parent_mid,
                         .status = "queued"});
  }
  Track(e.mid, fmt::format("Incoming connection (ICID {}) from {} ({}) on {}{}", tx.icid,
                           tx.client_ip, tx.helo, tx.listener, tx.tls ? ", TLS" : ""));
  Track(e.mid, fmt::format("Message {} received from <{}> for {} recipient(s), {} bytes", e.mid,
                           tx.sender, e.recipients.size(), tx.size));
  if (!tx.message_id.empty()) Track(e.mid, fmt::format("Message-ID '{}'", tx.message_id));
  Track(e.mid, fmt::format("Subject '{}'", tx.subject));
  if (e.parent_mid != 0) {
    Track(e.mid, fmt::format("Message {} was split from message {} by policy {}", e.mid,
                             e.parent_mid, e.policy));
    log_->Info(fmt::format(
        "MID {} was split creating MID {} due to a per-recipient policy {} in the inbound table",
        e.parent_mid, e.mid, e.policy));
  }
  log_->Info(
      fmt::format("MID {} matched all recipients for per-recipient policy {} in the inbound table",
                  e.mid, e.policy));
  Track(e.mid, fmt::format("Message {} matched policy {}; queued for delivery", e.mid, e.policy));
}

void ReceptionReport::Render(const Received& tx, const JournalCopyMade& e) {
  counters_->UpdateGlobal([](GlobalCounters& g) { ++g.journal_copies; });
  if (rows_) {
    rows_(MessageSummary{.mid = e.journal_mid,
                         .icid = tx.icid,
                         .received = tx.received,
                         .sender = "",
                         .recipients = {e.intake},
                         .message_id = tx.message_id,
                         .subject = tx.subject,
                         .policy = e.policy,
                         .parent_mid = e.mid,
                         .journal = true,
                         .status = "queued"});
  }
  const std::string generated = fmt::format(
      "TDC: Message {} generated based on message {} by Threat Defense Connector, for {} at {}",
      e.journal_mid, e.mid, e.service, e.intake);
  Track(e.mid, generated);
  Track(e.journal_mid, generated);
  log_->Info(fmt::format("MID {} generated based on MID {} by Threat Defense Connector",
                         e.journal_mid, e.mid));
  log_->Info(fmt::format("TDC: MID {} with Message-ID '{}' enqueued for delivery to {}",
                         e.journal_mid, tx.message_id, e.service));
}

void ReceptionReport::Render(const Received&, const JournalSkipped& e) {
  log_->Info(fmt::format("TDC: MID {} not journaled: the.tdc.queue holds {} copies (max_queued)",
                         e.mid, e.queued));
}

void ReceptionReport::Render(const Received&, const Queued& e) {
  log_->Info(fmt::format("MID {} queued for delivery", e.mid));
}

}  // namespace tidegate::telemetry
