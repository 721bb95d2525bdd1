// message_pipeline.cc — see message_pipeline.h.
#include "server/message_pipeline.h"

#include <fmt/format.h>

#include "telemetry/counters.h"
#include "telemetry/mail_log.h"

namespace tidegate::server {

MessagePipeline::MessagePipeline(
    spool::Spool* spool, telemetry::MailLog* log, telemetry::Counters* counters,
    std::function<std::shared_ptr<const config::GatewayConfig>()> config,
    std::function<void(std::vector<spool::MessageMeta>)> queued)
    : spool_(spool),
      log_(log),
      counters_(counters),
      config_(std::move(config)),
      queued_(std::move(queued)) {}

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

  meta.body_size = record.body.size();
  std::vector<spool::MessageMeta> metas{meta};
  std::vector<spool::NewMessage> batch;
  batch.push_back(std::move(record));
  spool_->Commit(std::move(batch), {},
                 [this, metas = std::move(metas), done = std::move(done)](
                     base::Status status) mutable {
                   if (status.ok()) {
                     std::uint64_t recipients = 0;
                     for (const auto& m : metas) {
                       log_->Info(fmt::format("MID {} queued for delivery", m.mid));
                       recipients += m.recipients.size();
                     }
                     counters_->UpdateGlobal([&](telemetry::GlobalCounters& g) {
                       g.messages_received += metas.size();
                       g.recipients_received += recipients;
                     });
                     queued_(std::move(metas));
                   }
                   done(inbound::AcceptResult{std::move(status)});
                 });
}

}  // namespace tidegate::server
