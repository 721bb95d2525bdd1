// units.cc — see units.h.
#include "base/units.h"

#include <charconv>
#include <limits>

namespace tidegate::base {
namespace {

// Splits "123abc" into 123 and "abc"; fails on no digits or overflow.
bool SplitNumber(std::string_view text, std::uint64_t& number, std::string_view& suffix) {
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, number);
  if (ec != std::errc() || ptr == begin) return false;
  suffix = std::string_view(ptr, static_cast<size_t>(end - ptr));
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  text = Trim(text);
  std::uint64_t n = 0;
  std::string_view suffix;
  if (!SplitNumber(text, n, suffix)) {
    return MakeError("invalid duration '" + std::string(text) + "' (expected e.g. 120s, 5m, 72h)");
  }
  std::uint64_t ms_per_unit = 0;
  if (suffix == "ms") ms_per_unit = 1;
  else if (suffix.empty() || suffix == "s") ms_per_unit = 1000;
  else if (suffix == "m") ms_per_unit = 60'000;
  else if (suffix == "h") ms_per_unit = 3'600'000;
  else if (suffix == "d") ms_per_unit = 86'400'000;
  else {
    return MakeError("invalid duration unit in '" + std::string(text) + "' (use ms, s, m, h or d)");
  }
  if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / ms_per_unit) {
    return MakeError("duration '" + std::string(text) + "' is too large");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(n * ms_per_unit));
}

Result<std::uint64_t> ParseSize(std::string_view text) {
  text = Trim(text);
  std::uint64_t n = 0;
  std::string_view suffix;
  if (!SplitNumber(text, n, suffix)) {
    return MakeError("invalid size '" + std::string(text) + "' (expected e.g. 10M, 512k)");
  }
  std::uint64_t mult = 0;
  if (suffix.empty() || suffix == "B" || suffix == "b") mult = 1;
  else if (suffix == "k" || suffix == "K" || suffix == "KB" || suffix == "kB") mult = 1ull << 10;
  else if (suffix == "m" || suffix == "M" || suffix == "MB") mult = 1ull << 20;
  else if (suffix == "g" || suffix == "G" || suffix == "GB") mult = 1ull << 30;
  else return MakeError("invalid size unit in '" + std::string(text) + "' (use k, M or G)");
  if (n > std::numeric_limits<std::uint64_t>::max() / mult) {
    return MakeError("size '" + std::string(text) + "' is too large");
  }
  return n * mult;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms % 3'600'000 == 0 && ms != 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0 && ms != 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string WithThousands(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  const size_t first = digits.size() % 3 == 0 ? 3 : digits.size() % 3;
  out.append(digits, 0, first);
  for (size_t i = first; i < digits.size(); i += 3) {
    out.push_back(',');
    out.append(digits, i, 3);
  }
  return out;
}

}  // namespace tidegate::base
