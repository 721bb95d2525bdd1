// log_quote.cc — ReprQuote (see log_quote.h).
#include "telemetry/log_quote.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>

namespace tidegate::telemetry {
namespace {

struct Range {
  char32_t first;
  char32_t last;
};

// The assigned code points at or above U+0080 that Python (3.11, Unicode 14.0) does not deem
// printable: categories Cc, Cf, Zs, Zl and Zp, generated once with unicodedata. Unassigned and
// private-use code points, which repr() also escapes, are kept: no table of them is kept here.
constexpr std::array<Range, 24> kNotPrintable = {{
    {0x80, 0xA0},       {0xAD, 0xAD},       {0x600, 0x605},     {0x61C, 0x61C},
    {0x6DD, 0x6DD},     {0x70F, 0x70F},     {0x890, 0x891},     {0x8E2, 0x8E2},
    {0x1680, 0x1680},   {0x180E, 0x180E},   {0x2000, 0x200F},   {0x2028, 0x202F},
    {0x205F, 0x2064},   {0x2066, 0x206F},   {0x3000, 0x3000},   {0xFEFF, 0xFEFF},
    {0xFFF9, 0xFFFB},   {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x13438},
    {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
}};

bool Printable(char32_t cp) {
  const auto it = std::upper_bound(kNotPrintable.begin(), kNotPrintable.end(), cp,
                                   [](char32_t c, const Range& r) { return c < r.first; });
  return it == kNotPrintable.begin() || cp > std::prev(it)->last;
}

char32_t Decode(std::string_view s, std::size_t i, std::size_t len) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  if (len == 1) return byte(0);
  char32_t cp = byte(0) & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (byte(k) & 0x3F);
  return cp;
}

void AppendCodePointEscape(std::string& out, char32_t cp) {
  const auto n = static_cast<std::uint32_t>(cp);
  if (n <= 0xFF) {
    out += fmt::format("\\x{:02x}", n);
  } else if (n <= 0xFFFF) {
    out += fmt::format("\\u{:04x}", n);
  } else {
    out += fmt::format("\\U{:08x}", n);
  }
}

}  // namespace

std::size_t Utf8Length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c == 0xE0) {
    len = 3, lo = 0xA0;  // no overlong 3-byte forms
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    len = 3;
  } else if (c == 0xED) {
    len = 3, hi = 0x9F;  // no surrogates
  } else if (c == 0xF0) {
    len = 4, lo = 0x90;  // no overlong 4-byte forms
  } else if (c >= 0xF1 && c <= 0xF3) {
    len = 4;
  } else if (c == 0xF4) {
    len = 4, hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

std::string ReprQuote(std::string_view value) {
  const bool has_single = value.find('\'') != std::string_view::npos;
  const bool has_double = value.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out;
  out.reserve(value.size() + 2);
  out += quote;
  std::size_t i = 0;
  while (i < value.size()) {
    const std::size_t len = Utf8Length(value, i);
    if (len == 0) {  // not UTF-8: the byte itself, and resynchronise on the next one
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(value[i]));
      ++i;
      continue;
    }
    const char32_t cp = Decode(value, i, len);
    if (cp == static_cast<unsigned char>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && !Printable(cp))) {
      AppendCodePointEscape(out, cp);
    } else {
      out.append(value.substr(i, len));
    }
    i += len;
  }
  out += quote;
  return out;
}

}  // namespace tidegate::telemetry
