// tophosts.h — the `tophosts` table of CONTRACT §6, from the rows the admin API returns.
// Pure formatting; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

namespace tidegate::cli {

struct HostRow {
  std::string host;
  std::uint64_t active = 0;      // recipients queued now
  std::uint64_t connections = 0; // outbound connections open now
  std::uint64_t delivered = 0;
  std::uint64_t soft_bounced = 0;
  std::uint64_t hard_bounced = 0;
  bool down = false;
};

enum class SortKey { kActive, kConn, kDelivered, kHard, kSoft };
// "active" (default), "conn", "delivered", "hard", "soft".
base::Result<SortKey> ParseSortKey(std::string_view word);

// Sorted descending by the key (ties: host name ascending), numbered from 1, '*' after the number
// of a host that was down. `as_of` is printed in local time with the zone abbreviation.
std::string FormatTophosts(std::vector<HostRow> rows, SortKey key, base::SystemTime as_of);

}  // namespace tidegate::cli
