// message_pipeline.cc — see message_pipeline.h.
#include "server/message_pipeline.h"

#include <fmt/format.h>

#include "telemetry/mail_log.h"

namespace tidegate::server {

MessagePipeline::MessagePipeline(
    spool::Spool* spool, telemetry::MailLog* log,
    std::function<std::shared_ptr<const config::GatewayConfig>()> config)
    : spool_(spool), log_(log), config_(std::move(config)) {}

void MessagePipeline::Accept(inbound::ReceivedMessage message,
                             std::function<void(inbound::AcceptResult)> done) {
  spool::NewMessage record;
  spool::MessageMeta& meta = record.meta;
  meta.mid = message.mid;
  meta.icid = message.icid;
  meta.kind = spool::MessageKind::kOriginal;
  meta.received = message.received;
  meta.sender = message.sender.str();
  meta.recipients.reserve(message.recipients.size());
  for (size_t rid = 0; rid < message.recipients.size(); ++rid) {
    meta.recipients.push_back(
        spool::Recipient{static_cast<std::uint32_t>(rid), message.recipients[rid].str(),
                         spool::RecipientState::kPending});
  }
  meta.attrs["client_ip"] = message.client_ip;
  meta.attrs["helo"] = message.helo;
  meta.attrs["listener"] = message.listener;
  if (!message.message_id.empty()) meta.attrs["message_id"] = message.message_id;
  if (!message.subject.empty()) meta.attrs["subject"] = message.subject;
  record.body = std::move(message.body);

  std::vector<spool::NewMessage> batch;
  batch.push_back(std::move(record));
  const std::uint64_t mid = message.mid;
  spool_->Commit(std::move(batch), {},
                 [this, mid, done = std::move(done)](base::Status status) {
                   if (status.ok()) log_->Info(fmt::format("MID {} queued for delivery", mid));
                   done(inbound::AcceptResult{std::move(status)});
                 });
}

}  // namespace tidegate::server
