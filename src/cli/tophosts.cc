// tophosts.cc — see tophosts.h.
#include "cli/tophosts.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "base/units.h"

namespace tidegate::cli {

base::Result<SortKey> ParseSortKey(std::string_view word) {
  if (word.empty() || word == "active") return SortKey::kActive;
  if (word == "conn") return SortKey::kConn;
  if (word == "delivered") return SortKey::kDelivered;
  if (word == "hard") return SortKey::kHard;
  if (word == "soft") return SortKey::kSoft;
  return base::MakeError("unknown sort order '" + std::string(word) +
                         "' (use active, conn, delivered, hard or soft)");
}

std::string FormatTophosts(std::vector<HostRow> rows, SortKey key, base::SystemTime as_of) {
  auto value = [key](const HostRow& r) {
    switch (key) {
      case SortKey::kActive: return r.active;
      case SortKey::kConn: return r.connections;
      case SortKey::kDelivered: return r.delivered;
      case SortKey::kHard: return r.hard_bounced;
      case SortKey::kSoft: return r.soft_bounced;
    }
    return r.active;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const HostRow& a, const HostRow& b) {
    if (value(a) != value(b)) return value(a) > value(b);
    return a.host < b.host;
  });

  std::time_t t = std::chrono::system_clock::to_time_t(as_of);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char stamp[64];
  std::strftime(stamp, sizeof stamp, "%a %b %e %H:%M:%S %Y %Z", &tm);

  std::string out;
  out += fmt::format("{:<29}{}\n", "Status as of:", stamp);
  out += "Hosts marked with '*' were down as of the last delivery attempt.\n\n";
  out += "                                  Active   Conn.   Deliv.     Soft     Hard\n";
  out += "#   Recipient Host                Recip.    Out    Recip.   Bounced  Bounced\n";
  std::size_t n = 0;
  for (const HostRow& r : rows) {
    std::string index = std::to_string(++n) + (r.down ? "*" : "");
    std::string host = r.host;
    // Keep the columns aligned; a very long name still gets one space before the numbers.
    if (host.size() > 28) host += " ";
    out += fmt::format("{:<4}{:<29}{:>7}{:>8}{:>9}{:>9}{:>9}\n", index + (index.size() >= 4 ? " " : ""),
                       host, base::WithThousands(r.active), base::WithThousands(r.connections),
                       base::WithThousands(r.delivered), base::WithThousands(r.soft_bounced),
                       base::WithThousands(r.hard_bounced));
  }
  return out;
}

}  // namespace tidegate::cli
