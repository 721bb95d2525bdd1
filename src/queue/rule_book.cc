#include "queue/rule_book.h"

#include <algorithm>

namespace tidegate::queue {

const QueueRules& RuleBook::For(const Destination& destination) const {
  if (destination.queue.empty()) return mail;
  auto it = named.find(destination.queue);
  return it == named.end() ? mail : it->second;
}

RuleBook RuleBookFromConfig(const config::GatewayConfig& config) {
  RuleBook book;
  const config::Delivery& d = config.delivery;
  QueueRules& mail = book.mail;
  mail.max_connections = d.max_connections_per_host;
  mail.initial_window = std::min<std::uint32_t>(5, d.max_connections_per_host);
  mail.max_queue_time = d.retry.max_queue_time;
  mail.initial_retry = d.retry.initial;
  mail.max_retry_interval = d.retry.max_interval;
  mail.tls = d.tls == config::TlsMode::kNone       ? QueueRules::Tls::kNone
             : d.tls == config::TlsMode::kRequired ? QueueRules::Tls::kRequired
                                                   : QueueRules::Tls::kPreferred;
  mail.tls_verify = d.tls == config::TlsMode::kRequired;
  mail.tls_ca_file = d.tls_ca_file;
  mail.shared_caps = {.per_host = d.max_connections_per_host,
                      .per_ip = d.max_connections_per_ip,
                      .total = d.max_connections};

  const config::ThreatDefenseConnector& t = config.tdc;
  QueueRules tdc =
      TdcQueueRules(t.min_connections, t.max_connections, t.max_queue_time, t.retry_delay);
  tdc.tls_ca_file = t.tls_ca_file;
  tdc.service_name = t.service_name;
  tdc.shared_caps = {
      .per_host = t.max_connections, .per_ip = t.max_connections, .total = t.max_connections};
  // Copies already queued keep their rules when the connector is switched off: the queue exists
  // either way, and is listed while the connector is enabled (CONTRACT §6).
  book.named.emplace(kTdcQueue, std::move(tdc));
  book.journal_queue = kTdcQueue;
  if (t.enabled) book.listed.push_back(kTdcQueue);
  return book;
}

}  // namespace tidegate::queue
