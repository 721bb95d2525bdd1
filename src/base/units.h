// units.h — parsing of the config's durations ("120s", "5m", "72h", "250ms") and sizes
// ("10M", "512k", "1G", plain bytes). Pure functions, thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace tidegate::base {

// A duration: a non-negative integer followed by ms, s, m, h or d. A bare number is seconds.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// A size: a non-negative integer optionally followed by k/K, m/M, g/G (powers of 1024), or B.
Result<std::uint64_t> ParseSize(std::string_view text);

// "120s", "5m", "1h30m" is not produced: the largest unit that divides exactly.
std::string FormatDuration(std::chrono::milliseconds d);

// 104163 → "104,163".
std::string WithThousands(std::uint64_t n);

}  // namespace tidegate::base
