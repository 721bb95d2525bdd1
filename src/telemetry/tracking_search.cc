// tracking_search.cc — match modes, LIKE escaping and time forms of a tracking search (see
// tracking_search.h).
#include "telemetry/tracking_search.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace tidegate::telemetry {
namespace {

bool Digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int Num(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm): UTC without timegm().
std::int64_t DaysFromCivil(int y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + doe - 719468;
}

}  // namespace

std::optional<TrackingMatch> ParseTrackingMatch(std::string_view text) {
  if (text == "is") return TrackingMatch::kIs;
  if (text == "begins" || text == "begins-with" || text == "begins_with")
    return TrackingMatch::kBegins;
  if (text == "contains") return TrackingMatch::kContains;
  return std::nullopt;
}

std::string_view TrackingMatchName(TrackingMatch match) {
  switch (match) {
    case TrackingMatch::kBegins:
      return "begins";
    case TrackingMatch::kContains:
      return "contains";
    case TrackingMatch::kIs:
      break;
  }
  return "is";
}

std::string LikePattern(TrackingMatch match, std::string_view value) {
  std::string out;
  out.reserve(value.size() + 4);
  if (match == TrackingMatch::kContains) out += '%';
  for (char c : value) {
    if (c == '\\' || c == '%' || c == '_') out += '\\';
    out += c;
  }
  if (match != TrackingMatch::kIs) out += '%';
  return out;
}

std::optional<base::SystemTime> ParseSearchTime(std::string_view text, bool end) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (Digits(text) && text.size() <= 12) {
    return base::SystemTime(seconds(static_cast<std::int64_t>(std::stoll(std::string(text)))));
  }
  // YYYY-MM-DD
  if (text.size() < 10 || !Digits(text.substr(0, 4)) || text[4] != '-' ||
      !Digits(text.substr(5, 2)) || text[7] != '-' || !Digits(text.substr(8, 2))) {
    return std::nullopt;
  }
  const int year = Num(text.substr(0, 4)), month = Num(text.substr(5, 2)),
            day = Num(text.substr(8, 2));
  int hour = 0, minute = 0, second = 0;
  std::int64_t millis = 0;
  seconds precision = std::chrono::hours(24);  // the unit the text was given to
  std::string_view rest = text.substr(10);
  if (!rest.empty()) {
    if ((rest[0] != ' ' && rest[0] != 'T' && rest[0] != 't') || rest.size() < 6 ||
        !Digits(rest.substr(1, 2)) || rest[3] != ':' || !Digits(rest.substr(4, 2))) {
      return std::nullopt;
    }
    hour = Num(rest.substr(1, 2));
    minute = Num(rest.substr(4, 2));
    precision = std::chrono::minutes(1);
    rest.remove_prefix(6);
    if (!rest.empty() && rest[0] == ':') {
      if (rest.size() < 3 || !Digits(rest.substr(1, 2))) return std::nullopt;
      second = Num(rest.substr(1, 2));
      precision = seconds(1);
      rest.remove_prefix(3);
      if (!rest.empty() && rest[0] == '.') {
        std::size_t n = 1;
        while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
        if (n == 1) return std::nullopt;
        std::string frac(rest.substr(1, n - 1));
        frac.resize(3, '0');
        millis = Num(frac);
        precision = seconds(0);
        rest.remove_prefix(n);
      }
    }
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 ||
      year < 1970) {
    return std::nullopt;
  }
  std::int64_t epoch = 0;
  if (rest.empty()) {  // local time
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_isdst = -1;  // let mktime find out whether summer time applied then
    const std::time_t t = std::mktime(&tm);
    if (t == static_cast<std::time_t>(-1)) return std::nullopt;
    epoch = t;
  } else {
    // RFC 3339 needs the seconds and an offset: Z or ±HH:MM.
    if (precision > seconds(1)) return std::nullopt;
    std::int64_t offset = 0;
    if (rest == "Z" || rest == "z") {
      offset = 0;
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') &&
               Digits(rest.substr(1, 2)) && rest[3] == ':' && Digits(rest.substr(4, 2))) {
      offset = (Num(rest.substr(1, 2)) * 60 + Num(rest.substr(4, 2))) * 60;
      if (rest[0] == '-') offset = -offset;
    } else {
      return std::nullopt;
    }
    epoch = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
  }
  base::SystemTime t{std::chrono::duration_cast<base::SystemTime::duration>(
      seconds(epoch) + milliseconds(millis))};
  if (end && precision > seconds(0)) {
    t += std::chrono::duration_cast<base::SystemTime::duration>(precision - milliseconds(1));
  }
  return t;
}

}  // namespace tidegate::telemetry
