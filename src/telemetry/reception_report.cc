// reception_report.cc — renders the acceptance step's events (see reception_report.h).
#include "telemetry/reception_report.h"

#include <fmt/format.h>

#include <type_traits>

#include "telemetry/log_quote.h"

namespace tidegate::telemetry {

namespace {

// A new message's tracking row: what it shares with the transaction it came in.
MessageSummary Row(const Received& tx, std::uint64_t mid, const std::string& policy,
                   std::uint64_t parent_mid) {
  return MessageSummary{.mid = mid,
                        .icid = tx.icid,
                        .sender_ip = tx.client_ip,
                        .received = tx.received,
                        .message_id = tx.message_id,
                        .subject = tx.subject,
                        .policy = policy,
                        .parent_mid = parent_mid,
                        .status = "queued"};
}

}  // namespace

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

void ReceptionReport::ReportLate(const Received& tx, const ReceptionEvent& event) {
  std::visit(
      [&](const auto& e) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(e)>, Received>) Render(tx, e);
      },
      event);
}

void ReceptionReport::Render(const Received&) {
  counters_->UpdateGlobal([](GlobalCounters& g) { ++g.messages_received; });
}

void ReceptionReport::Render(const Received& tx, const Accepted& e) {
  counters_->UpdateGlobal([&](GlobalCounters& g) { g.recipients_received += e.recipients.size(); });
  if (rows_) {
    MessageSummary row = Row(tx, e.mid, e.policy, e.parent_mid);
    row.sender = tx.sender;
    row.recipients = e.recipients;
    rows_(std::move(row));
  }
  Track(e.mid, fmt::format("Incoming connection (ICID {}) from {} ({}) on {}{}", tx.icid,
                           tx.client_ip, tx.helo, tx.listener, tx.tls ? ", TLS" : ""));
  Track(e.mid, fmt::format("Message {} received from <{}> for {} recipient(s), {} bytes", e.mid,
                           tx.sender, e.recipients.size(), tx.size));
  if (!tx.message_id.empty()) Track(e.mid, "Message-ID " + ReprQuote(tx.message_id));
  Track(e.mid, "Subject " + ReprQuote(tx.subject));
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
    MessageSummary row = Row(tx, e.journal_mid, e.policy, e.mid);
    row.recipients = {e.intake};
    row.journal = true;
    rows_(std::move(row));
  }
  const std::string generated = fmt::format(
      "TDC: Message {} generated based on message {} by Threat Defense Connector, for {} at {}",
      e.journal_mid, e.mid, e.service, e.intake);
  Track(e.mid, generated);
  Track(e.journal_mid, generated);
  log_->Info(fmt::format("MID {} generated based on MID {} by Threat Defense Connector",
                         e.journal_mid, e.mid));
  log_->Info(fmt::format("TDC: MID {} with Message-ID {} enqueued for delivery to {}",
                         e.journal_mid, ReprQuote(tx.message_id), e.service));
}

void ReceptionReport::Render(const Received&, const JournalSkipped& e) {
  log_->Info(fmt::format("TDC: MID {} not journaled: the.tdc.queue holds {} copies (max_queued)",
                         e.mid, e.queued));
}

void ReceptionReport::Render(const Received&, const Queued& e) {
  log_->Info(fmt::format("MID {} queued for delivery", e.mid));
}

}  // namespace tidegate::telemetry
