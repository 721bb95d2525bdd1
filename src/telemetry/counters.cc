// counters.cc — see counters.h.
#include "telemetry/counters.h"

namespace tidegate::telemetry {

void Counters::Delivered(const std::string& destination, std::uint64_t recipients) {
  std::lock_guard lock(mu_);
  destinations_[destination].delivered += recipients;
  global_.recipients_delivered += recipients;
}

void Counters::SoftBounced(const std::string& destination, std::uint64_t events,
                           std::string error) {
  std::lock_guard lock(mu_);
  auto& d = destinations_[destination];
  d.soft_bounced += events;
  if (!error.empty()) d.last_error = std::move(error);
}

void Counters::HardBounced(const std::string& destination, std::uint64_t recipients,
                           std::string error) {
  std::lock_guard lock(mu_);
  auto& d = destinations_[destination];
  d.hard_bounced += recipients;
  global_.recipients_bounced += recipients;
  if (!error.empty()) d.last_error = std::move(error);
}

void Counters::ConnectionOpened(const std::string& destination) {
  std::lock_guard lock(mu_);
  ++destinations_[destination].connections_out;
}

void Counters::ConnectionClosed(const std::string& destination) {
  std::lock_guard lock(mu_);
  auto& d = destinations_[destination];
  if (d.connections_out > 0) --d.connections_out;
}

void Counters::SetDown(const std::string& destination, bool down) {
  std::lock_guard lock(mu_);
  destinations_[destination].down = down;
}

void Counters::RecordError(const std::string& destination, ErrorKind kind, std::string text) {
  std::lock_guard lock(mu_);
  auto& d = destinations_[destination];
  d.last_error = text;
  switch (kind) {
    case ErrorKind::kTemporary: d.last_4xx = std::move(text); break;
    case ErrorKind::kPermanent: d.last_5xx = std::move(text); break;
    case ErrorKind::kTls: d.last_tls_error = std::move(text); break;
  }
}

void Counters::SetNextHops(const std::string& destination, std::vector<std::string> hops) {
  std::lock_guard lock(mu_);
  destinations_[destination].next_hops = std::move(hops);
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
