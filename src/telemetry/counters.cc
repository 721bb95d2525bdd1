// counters.cc — see counters.h.
#include "telemetry/counters.h"

#include <algorithm>

namespace tidegate::telemetry {

DestinationCounters& Counters::Active(const std::string& destination) {
  auto& d = destinations_[destination];
  d.last_activity = clock_.Now();
  return d;
}

void Counters::Delivered(const std::string& destination, std::uint64_t recipients, bool journal) {
  std::lock_guard lock(mu_);
  Active(destination).delivered += recipients;
  global_.recipients_delivered += recipients;
  (journal ? global_.recipients_delivered_journal : global_.recipients_delivered_mail) +=
      recipients;
}

void Counters::SoftBounced(const std::string& destination, std::uint64_t events,
                           std::string error) {
  std::lock_guard lock(mu_);
  auto& d = Active(destination);
  d.soft_bounced += events;
  if (!error.empty()) {
    d.last_error = std::move(error);
    d.last_error_at = d.last_activity;
  }
}

void Counters::HardBounced(const std::string& destination, std::uint64_t recipients,
                           std::string error) {
  std::lock_guard lock(mu_);
  auto& d = Active(destination);
  d.hard_bounced += recipients;
  global_.recipients_bounced += recipients;
  if (!error.empty()) {
    d.last_error = std::move(error);
    d.last_error_at = d.last_activity;
  }
}

void Counters::ConnectionOpened(const std::string& destination) {
  std::lock_guard lock(mu_);
  ++Active(destination).connections_out;
}

void Counters::ConnectionClosed(const std::string& destination) {
  std::lock_guard lock(mu_);
  auto& d = Active(destination);
  if (d.connections_out > 0) --d.connections_out;
}

void Counters::SetDown(const std::string& destination, bool down) {
  std::lock_guard lock(mu_);
  Active(destination).down = down;
}

void Counters::RecordError(const std::string& destination, ErrorKind kind, std::string text) {
  std::lock_guard lock(mu_);
  auto& d = Active(destination);
  d.last_error = text;
  d.last_error_at = d.last_activity;
  switch (kind) {
    case ErrorKind::kTemporary: d.last_4xx = std::move(text); break;
    case ErrorKind::kPermanent: d.last_5xx = std::move(text); break;
    case ErrorKind::kTls: d.last_tls_error = std::move(text); break;
  }
}

void Counters::SetNextHops(const std::string& destination, std::vector<std::string> hops) {
  std::lock_guard lock(mu_);
  Active(destination).next_hops = std::move(hops);
}

void Counters::ConnectionUsed(const std::string& destination, const std::string& address) {
  std::lock_guard lock(mu_);
  auto& ips = Active(destination).ips_used;
  std::erase(ips, address);
  ips.insert(ips.begin(), address);
  if (ips.size() > kMaxIpsUsed) ips.resize(kMaxIpsUsed);
}

void Counters::Touch(const std::string& destination) {
  std::lock_guard lock(mu_);
  destinations_[destination];
}

std::map<std::string, DestinationCounters> Counters::Destinations() const {
  std::lock_guard lock(mu_);
  return destinations_;
}

GlobalCounters Counters::Global() const {
  std::lock_guard lock(mu_);
  return global_;
}

}  // namespace tidegate::telemetry
