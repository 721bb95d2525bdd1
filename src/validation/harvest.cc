// harvest.cc — see harvest.h.
#include "validation/harvest.h"

#include <boost/asio/ip/address.hpp>

namespace tidegate::validation {

HarvestLimiter::HarvestLimiter(const base::Clock* clock, base::Duration window)
    : clock_(clock), window_(window) {}

void HarvestLimiter::set_max(std::uint32_t max) {
  std::lock_guard lock(mu_);
  max_ = max;
}

std::uint32_t HarvestLimiter::max() const {
  std::lock_guard lock(mu_);
  return max_;
}

std::string HarvestLimiter::Key(std::string_view client_ip) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(client_ip), ec);
  if (ec) return std::string(client_ip);
  if (address.is_v4()) return address.to_v4().to_string();
  auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  }
  auto bytes = v6.to_bytes();
  for (std::size_t i = 8; i < bytes.size(); ++i) bytes[i] = 0;
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

void HarvestLimiter::PruneLocked(std::deque<base::SystemTime>& times,
                                 base::SystemTime now) const {
  while (!times.empty() && times.front() + window_ <= now) times.pop_front();
}

void HarvestLimiter::SweepLocked(base::SystemTime now) {
  if (now < next_sweep_) return;
  next_sweep_ = now + std::chrono::minutes(1);
  for (auto it = times_.begin(); it != times_.end();) {
    PruneLocked(it->second, now);
    it = it->second.empty() ? times_.erase(it) : std::next(it);
  }
}

bool HarvestLimiter::Count(std::string_view client_ip) {
  std::lock_guard lock(mu_);
  if (max_ == 0) return false;
  base::SystemTime now = clock_->Now();
  SweepLocked(now);
  auto& times = times_[Key(client_ip)];
  PruneLocked(times, now);
  times.push_back(now);
  // Only the newest max + 1 matter (over or not): memory per IP stays bounded however long a
  // client keeps trying, and it stays over while it does.
  while (times.size() > static_cast<std::size_t>(max_) + 1) times.pop_front();
  return times.size() > max_;
}

std::size_t HarvestLimiter::Recent(std::string_view client_ip) {
  std::lock_guard lock(mu_);
  auto it = times_.find(Key(client_ip));
  if (it == times_.end()) return 0;
  PruneLocked(it->second, clock_->Now());
  return it->second.size();
}

std::size_t HarvestLimiter::tracked_ips() const {
  std::lock_guard lock(mu_);
  return times_.size();
}

}  // namespace tidegate::validation
