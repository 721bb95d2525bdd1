// harvest.h — HarvestLimiter: the directory-harvest limit of recipient validation (CONTRACT §13,
// `max_invalid_recipients_per_hour`).
//
// Each recipient answered 550 5.1.1 counts for its client IP (IPv4 by address, IPv6 by /64) over
// a sliding hour. Count() records one and says whether the IP is now over the limit: the one that
// would be number max + 1, and every later one while the IP stays over, is refused with 421 by
// the caller (and still counted, so a client that keeps trying stays over). max 0: never over.
// Memory is bounded by the IPs active in the last hour: each key's timestamps are pruned on use,
// and idle keys are swept every so often. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.h"

namespace tidegate::validation {

class HarvestLimiter {
 public:
  explicit HarvestLimiter(const base::Clock* clock,
                          base::Duration window = std::chrono::hours(1));

  void set_max(std::uint32_t max);
  std::uint32_t max() const;

  // Records an unknown recipient from `client_ip`; true when the IP is over the limit (this one
  // included).
  bool Count(std::string_view client_ip);
  // Unknown recipients counted for the IP within the window.
  std::size_t Recent(std::string_view client_ip);
  std::size_t tracked_ips() const;

  // The key of an IP: an IPv4 address as is, an IPv6 address's /64 ("2001:db8:1:2::/64"), an
  // IPv4-mapped IPv6 address as IPv4. Anything unparsable as itself.
  static std::string Key(std::string_view client_ip);

 private:
  void PruneLocked(std::deque<base::SystemTime>& times, base::SystemTime now) const;
  void SweepLocked(base::SystemTime now);

  const base::Clock* clock_;
  base::Duration window_;
  mutable std::mutex mu_;
  std::uint32_t max_ = 0;
  std::unordered_map<std::string, std::deque<base::SystemTime>> times_;
  base::SystemTime next_sweep_{};
};

}  // namespace tidegate::validation
