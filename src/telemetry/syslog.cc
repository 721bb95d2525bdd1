// syslog.cc — syslog message building (see syslog.h).
#include "telemetry/syslog.h"

#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <ctime>

namespace tidegate::telemetry {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::tm Local(base::SystemTime t) {
  const std::time_t tt = static_cast<std::time_t>(
      std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count());
  std::tm tm{};
  localtime_r(&tt, &tm);
  return tm;
}

// RFC 3339 with milliseconds and the local offset: "2024-02-16T21:19:22.123-06:00".
std::string Rfc3339(base::SystemTime t, const std::tm& tm) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count() %
                  1000;
  const long offset = tm.tm_gmtoff;
  const long abs_offset = std::labs(offset);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{}{:02}:{:02}", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms,
                     offset < 0 ? '-' : '+', abs_offset / 3600, abs_offset / 60 % 60);
}

}  // namespace

int SyslogSeverity(Level level) {
  switch (level) {
    case Level::kDebug:
      return 7;
    case Level::kInfo:
      return 6;
    case Level::kWarning:
      return 4;
    case Level::kCritical:
      return 2;
  }
  return 6;
}

int SyslogPri(int facility, Level level) { return facility * 8 + SyslogSeverity(level); }

std::string FormatSyslog(const SyslogHeader& header, base::SystemTime time, Level level,
                         std::string_view line) {
  const std::tm tm = Local(time);
  const int pri = SyslogPri(header.facility, level);
  if (header.format == SyslogFormat::kRfc3164) {
    return fmt::format("<{}>{} {:>2} {:02}:{:02}:{:02} {} {}[{}]: {}", pri, kMonths[tm.tm_mon % 12],
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, header.hostname,
                       kSyslogAppName, header.procid, line);
  }
  return fmt::format("<{}>1 {} {} {} {} - - {}", pri, Rfc3339(time, tm), header.hostname,
                     kSyslogAppName, header.procid, line);
}

std::string OctetCounted(std::string_view message) {
  return fmt::format("{} {}", message.size(), message);
}

}  // namespace tidegate::telemetry
