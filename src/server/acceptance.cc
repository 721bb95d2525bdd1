// acceptance.cc — see acceptance.h.
#include "server/acceptance.h"

#include <fmt/format.h>

#include "mail/journal_report.h"
#include "spool/transfer_needs.h"

namespace tidegate::server {
namespace {

// The attrs every message made from the transaction carries.
void CopyHeaderAttrs(const inbound::ReceivedMessage& message, spool::MessageMeta& meta) {
  if (!message.message_id.empty()) meta.attrs["message_id"] = message.message_id;
  if (!message.subject.empty()) meta.attrs["subject"] = message.subject;
}

}  // namespace

spool::NewMessage MakeJournalCopy(const config::GatewayConfig& config,
                                  const spool::MessageMeta& original, std::string_view body,
                                  const mail::Address& intake, std::uint64_t jmid) {
  spool::NewMessage copy;
  spool::MessageMeta& jm = copy.meta;
  jm.mid = jmid;
  jm.icid = original.icid;
  jm.parent_mid = original.mid;
  jm.kind = spool::MessageKind::kJournal;
  jm.received = original.received;
  jm.sender = "";
  jm.policy = original.policy;
  jm.recipients.push_back(spool::Recipient{0, intake.str(), spool::RecipientState::kPending});
  auto attr = [&](const char* key) {
    auto it = original.attrs.find(key);
    return it == original.attrs.end() ? std::string() : it->second;
  };
  const std::string message_id = attr("message_id");
  const std::string subject = attr("subject");
  if (!message_id.empty()) jm.attrs["message_id"] = message_id;
  if (!subject.empty()) jm.attrs["subject"] = subject;
  jm.attrs["original_mid"] = std::to_string(original.mid);
  std::vector<std::string> recipients;
  for (const spool::Recipient& r : original.recipients) recipients.push_back(r.address);
  copy.body = mail::BuildJournalReport(mail::JournalInput{.reporting_host = config.hostname,
                                                          .sender = original.sender,
                                                          .recipients = recipients,
                                                          .subject = subject,
                                                          .message_id = message_id,
                                                          .original = std::string(body),
                                                          .now = original.received,
                                                          .original_mid = original.mid});
  jm.body_size = copy.body.size();
  // The report's own envelope (<> to the intake) and body, not the original's.
  spool::RecordTransferNeeds(jm, spool::Has8Bit(copy.body));
  return copy;
}

namespace {

// In place: a temporary variant trips GCC 12's -Wmaybe-uninitialized (a false positive).
template <typename Event>
void Emit(std::vector<AcceptanceEvent>& events, Event event) {
  events.emplace_back(std::in_place_type<Event>, std::move(event));
}

}  // namespace

base::Result<AcceptancePlan> PlanAcceptance(inbound::ReceivedMessage message,
                                            const config::GatewayConfig& config,
                                            const policy::PolicyTable& table,
                                            const AcceptanceContext& context) {
  AcceptancePlan plan;
  // Loop protection first: a message that has already crossed this many MTAs is going round in
  // circles; storing it would only send it round once more. Refused for good, like Postfix's
  // hopcount_limit (default 50, which we follow; RFC 5321 §6.3 suggests a threshold of normally
  // at least 100, but no legitimate path comes near 50 hops).
  if (message.received_headers > kMaxReceivedHeaders) {
    plan.refusal = inbound::Rejection{
        .enhanced_code = "5.4.6",
        .text = fmt::format("Too many hops: {} Received: headers (limit {}), mail loop",
                            message.received_headers, kMaxReceivedHeaders)};
    return plan;
  }
  auto groups = table.Assign(message.sender, message.recipients);
  if (!groups) return groups.error();

  Emit(plan.events, event::Received{.mid = message.mid,
                                    .icid = message.icid,
                                    .received = message.received,
                                    .listener = message.listener,
                                    .client_ip = message.client_ip,
                                    .helo = message.helo,
                                    .tls = message.tls,
                                    .sender = message.sender.str(),
                                    .message_id = message.message_id,
                                    .subject = message.subject,
                                    .size = message.body.size()});
  std::size_t new_copies = 0;
  // Scanned once here, where the body is in memory, instead of on every delivery attempt.
  const bool body_8bit = spool::Has8Bit(message.body);
  const spool::DeclaredTransfer declared{.body_8bitmime = message.declared_8bitmime,
                                         .smtputf8 = message.declared_smtputf8};
  for (std::size_t gi = 0; gi < groups->size(); ++gi) {
    const policy::PolicyTable::Group& group = (*groups)[gi];
    const config::Policy& policy = config.policies[group.policy];
    const std::uint64_t mid = gi == 0 ? message.mid : context.next_mid();
    if (mid == 0) return base::MakeError("no message id available (spool ids file)");
    spool::NewMessage record;
    spool::MessageMeta& meta = record.meta;
    meta.mid = mid;
    meta.icid = message.icid;
    meta.parent_mid = gi == 0 ? 0 : message.mid;
    meta.kind = spool::MessageKind::kOriginal;
    meta.received = message.received;
    meta.sender = message.sender.str();
    meta.policy = policy.name;
    std::vector<std::string> recipients;
    for (std::uint32_t rid : group.rids) {
      meta.recipients.push_back(
          spool::Recipient{rid, message.recipients[rid].str(), spool::RecipientState::kPending});
      recipients.push_back(message.recipients[rid].str());
    }
    meta.attrs["client_ip"] = message.client_ip;
    meta.attrs["helo"] = message.helo;
    meta.attrs["listener"] = message.listener;
    CopyHeaderAttrs(message, meta);
    meta.body_size = message.body.size();
    spool::RecordTransferNeeds(meta, body_8bit, declared);
    Emit(plan.events, event::Accepted{.mid = mid,
                                      .parent_mid = meta.parent_mid,
                                      .policy = policy.name,
                                      .recipients = recipients});

    // A policy that scans: the message waits for its verdicts (scan::Stage), which make the
    // journal copy then, from the delivered form. Nothing is journaled before it is clean.
    const bool scan =
        config.AntiSpamFor(policy).enabled || config.AntiVirusFor(policy).enabled;
    if (scan) meta.attrs[std::string(scan::kScanAttr)] = std::string(scan::kScanPending);

    // The journal copy: at the end of the pipeline, for a message that will be delivered.
    std::optional<spool::NewMessage> copy;
    if (auto intake = scan ? std::nullopt : config.JournalAddress(policy)) {
      if (context.journal_backlog + new_copies >= config.tdc.max_queued) {
        Emit(plan.events,
             event::JournalSkipped{.mid = mid, .queued = context.journal_backlog + new_copies});
      } else if (const std::uint64_t jmid = context.next_mid(); jmid == 0) {
        // No id could be reserved (the ids file could not be written: a full disk). Accepting
        // the message without its copy would silently break the journaling policy: 452 instead.
        return base::MakeError("no journal copy id available (spool ids file)");
      } else {
        copy = MakeJournalCopy(config, meta, message.body, *intake, jmid);
        ++new_copies;
        Emit(plan.events, event::JournalCopyMade{.mid = mid,
                                                 .journal_mid = jmid,
                                                 .policy = policy.name,
                                                 .intake = intake->str(),
                                                 .service = config.tdc.service_name});
      }
    }
    Emit(plan.events, event::Queued{.mid = mid});

    // The last group takes the body; earlier ones copy it.
    record.body = gi + 1 == groups->size() ? std::move(message.body) : message.body;
    plan.messages.push_back(std::move(record));
    if (copy) plan.messages.push_back(std::move(*copy));
  }
  return plan;
}

}  // namespace tidegate::server
