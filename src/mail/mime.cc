// mime.cc — see mime.h.
#include "mail/mime.h"

#include <algorithm>
#include <atomic>
#include <ctime>
#include <functional>
#include <random>

#include "mail/headers.h"

namespace tidegate::mail {
namespace {

constexpr std::size_t kMaxLine = 998;  // RFC 5322 §2.1.1, without CRLF
constexpr std::size_t kFoldAt = 78;    // the "SHOULD" limit
constexpr char kHex[] = "0123456789ABCDEF";

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

char AsciiLowerChar(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiLowerChar(c);
  return out;
}

std::uint64_t SplitMix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string Hex64(std::uint64_t v) {
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kHex[v & 0xf];
    v >>= 4;
  }
  return out;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  // Originals can be tens of megabytes: a skip-table search, not a naive scan.
  return std::search(haystack.begin(), haystack.end(),
                     std::boyer_moore_horspool_searcher(needle.begin(), needle.end())) !=
         haystack.end();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool IsTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 32 || u >= 127) return false;
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

// Splits `text` into a header section and body at the first empty line.
MimePart SplitPart(std::string_view text) {
  MimePart part;
  part.headers = HeaderSection(text);
  std::size_t pos = part.headers.size();
  std::string_view rest = text.substr(pos);
  if (rest.starts_with("\r\n")) {
    pos += 2;
  } else if (rest.starts_with("\n") || rest.starts_with("\r")) {
    pos += 1;
  } else {
    return part;  // no empty line: all headers, no body
  }
  part.has_separator = true;
  part.body = text.substr(pos);
  return part;
}

}  // namespace

std::string FormatRfc5322Date(base::SystemTime t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);  // reentrant; names are spelled here, not by the locale
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string SanitizeLine(std::string_view value) {
  std::string out(value);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return out;
}

std::string SanitizeAscii(std::string_view value) {
  std::string out(value);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      c = '?';
    } else if ((u < 0x20 && c != '\t') || u == 0x7f) {
      c = ' ';
    }
  }
  return out;
}

bool HasEightBit(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return c == '\0' || static_cast<unsigned char>(c) >= 0x80; });
}

std::string FoldHeader(std::string_view name, std::string_view raw_value) {
  const std::string value = SanitizeLine(raw_value);
  std::string out;
  out.reserve(name.size() + value.size() + value.size() / 32 + 8);
  out.append(name).append(": ");
  std::size_t line_len = out.size();
  bool line_has_word = false;  // a fold needs something other than the field name before it
  std::size_t i = 0;
  while (i < value.size()) {
    // The next segment: white space, then a word.
    std::size_t word_begin = i;
    while (word_begin < value.size() && IsWsp(value[word_begin])) ++word_begin;
    std::size_t word_end = word_begin;
    while (word_end < value.size() && !IsWsp(value[word_end])) ++word_end;
    std::string_view segment(value.data() + i, word_end - i);
    if (line_has_word && word_begin > i && line_len + segment.size() > kFoldAt) {
      out.append("\r\n");  // fold: the segment's leading white space starts the new line
      line_len = 0;
    }
    for (std::size_t k = 0; k < segment.size(); ++k) {
      if (line_len >= kMaxLine - 1) {
        // A run too long to fit: split it, backing off so that a UTF-8 sequence stays whole.
        std::size_t back = 0;
        while (back < 3 && back < k &&
               (static_cast<unsigned char>(segment[k - back]) & 0xC0) == 0x80) {
          ++back;
        }
        out.resize(out.size() - back);
        k -= back;
        out.append("\r\n ");
        line_len = 1;
      }
      out.push_back(segment[k]);
      ++line_len;
    }
    if (word_end > word_begin) line_has_word = true;
    i = word_end;
  }
  out.append("\r\n");
  return out;
}

std::uint64_t MixSeed(std::initializer_list<std::string_view> parts) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::string_view part : parts) {
    for (char c : part) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ULL;
    }
    h ^= 0xff;  // separator, so that ("ab","c") and ("a","bc") differ
    h *= 0x100000001b3ULL;
  }
  return SplitMix64(h);
}

std::string ChooseBoundary(std::uint64_t seed, std::initializer_list<std::string_view> contents) {
  for (std::uint64_t attempt = 0;; ++attempt) {
    // "=_" cannot start a quoted-printable or base64 line, which keeps encoded parts clear of it.
    std::string candidate = "=_tidegate_" + Hex64(SplitMix64(seed + attempt));
    bool present = false;
    for (std::string_view content : contents) {
      if (Contains(content, candidate)) {
        present = true;
        break;
      }
    }
    if (!present) return candidate;
  }
}

std::string NewMessageId(std::string_view domain, base::SystemTime now, std::uint64_t mid) {
  static const std::uint64_t process_salt = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  static std::atomic<std::uint64_t> counter{0};
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  const std::uint64_t unique =
      SplitMix64(process_salt ^ SplitMix64(counter.fetch_add(1)) ^
                 static_cast<std::uint64_t>(now.time_since_epoch().count()));
  std::string id = "<";
  id.append(stamp).append(".").append(std::to_string(mid)).append(".").append(Hex64(unique));
  id.append("@").append(SanitizeAscii(domain)).append(">");
  for (char& c : id) {
    if (c == ' ' || c == '\t') c = '-';
  }
  return id;
}

std::string EncodeQuotedPrintable(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t line_len = 0;
  auto emit = [&](std::string_view piece) {
    if (line_len + piece.size() > 75) {  // 75 + the '=' of the soft break = 76
      out.append("=\r\n");
      line_len = 0;
    }
    out.append(piece);
    line_len += piece.size();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      out.append("\r\n");
      line_len = 0;
      ++i;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    const bool at_line_end =
        i + 1 == text.size() || (text[i + 1] == '\r' && i + 2 < text.size() && text[i + 2] == '\n');
    const bool literal = (u >= 33 && u <= 126 && c != '=') || (IsWsp(c) && !at_line_end);
    if (literal) {
      emit(std::string_view(&c, 1));
    } else {
      const char enc[3] = {'=', kHex[u >> 4], kHex[u & 0xf]};
      emit(std::string_view(enc, 3));
    }
  }
  return out;
}

std::string DecodeQuotedPrintable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    const bool has_nl = nl != std::string_view::npos;
    std::string_view line = text.substr(pos, has_nl ? nl - pos : std::string_view::npos);
    pos = has_nl ? nl + 1 : text.size();
    if (line.ends_with('\r')) line.remove_suffix(1);
    // Trailing white space was added in transport (RFC 2045 §6.7 rule 3).
    while (!line.empty() && IsWsp(line.back())) line.remove_suffix(1);
    bool soft = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] != '=') {
        out.push_back(line[i]);
        continue;
      }
      if (i + 1 == line.size()) {
        soft = true;
        break;
      }
      const int hi = i + 2 < line.size() ? HexValue(line[i + 1]) : -1;
      const int lo = hi >= 0 ? HexValue(line[i + 2]) : -1;
      if (lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        out.push_back('=');
      }
    }
    if (has_nl && !soft) out.append("\r\n");
  }
  return out;
}

std::string DecodeBase64(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      continue;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

bool ContentType::Is(std::string_view type_name, std::string_view subtype_name) const {
  return type == type_name && subtype == subtype_name;
}

std::string ContentType::Param(std::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key == name) return value;
  }
  return std::string();
}

ContentType ParseContentType(std::string_view v) {
  ContentType ct;
  std::size_t i = 0;
  auto skip_cfws = [&] {
    // White space and RFC 5322 comments, which some mailers put in Content-Type.
    while (i < v.size()) {
      if (IsWsp(v[i]) || v[i] == '\r' || v[i] == '\n') {
        ++i;
      } else if (v[i] == '(') {
        int depth = 0;
        for (; i < v.size(); ++i) {
          if (v[i] == '\\' && i + 1 < v.size()) {
            ++i;  // a quoted-pair: the next character is literal
          } else if (v[i] == '(') {
            ++depth;
          } else if (v[i] == ')' && --depth == 0) {
            ++i;
            break;
          }
        }
      } else {
        break;
      }
    }
  };
  auto token = [&] {
    std::size_t b = i;
    while (i < v.size() && IsTokenChar(v[i])) ++i;
    return Lower(v.substr(b, i - b));
  };
  skip_cfws();
  ct.type = token();
  skip_cfws();
  if (i < v.size() && v[i] == '/') {
    ++i;
    skip_cfws();
    ct.subtype = token();
  }
  while (true) {
    skip_cfws();
    if (i >= v.size() || v[i] != ';') break;
    ++i;
    skip_cfws();
    std::string name = token();
    skip_cfws();
    if (name.empty() || i >= v.size() || v[i] != '=') break;
    ++i;
    skip_cfws();
    std::string value;
    if (i < v.size() && v[i] == '"') {
      bool terminated = false;
      for (++i; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) {
          value.push_back(v[++i]);
        } else if (v[i] == '"') {
          ++i;
          terminated = true;
          break;
        } else if (v[i] != '\r' && v[i] != '\n') {
          value.push_back(v[i]);
        }
      }
      if (!terminated) break;
    } else {
      std::size_t b = i;
      while (i < v.size() && IsTokenChar(v[i])) ++i;
      value.assign(v.substr(b, i - b));
    }
    ct.params.emplace_back(std::move(name), std::move(value));
  }
  return ct;
}

Multipart SplitMultipart(std::string_view body, std::string_view boundary, std::size_t max_parts) {
  Multipart result;
  if (boundary.empty()) return result;
  bool in_part = false;
  std::size_t part_begin = 0;
  std::size_t pos = 0;
  while (pos < body.size() && result.parts.size() < max_parts) {
    std::size_t nl = body.find('\n', pos);
    const std::size_t next = nl == std::string_view::npos ? body.size() : nl + 1;
    std::string_view line = body.substr(pos, next - pos);
    if (line.size() >= 2 + boundary.size() && line[0] == '-' && line[1] == '-' &&
        line.substr(2, boundary.size()) == boundary) {
      std::string_view rest = line.substr(2 + boundary.size());
      const bool close = rest.starts_with("--");
      if (close) rest.remove_prefix(2);
      const bool only_space = std::all_of(
          rest.begin(), rest.end(), [](char c) { return IsWsp(c) || c == '\r' || c == '\n'; });
      if (only_space) {
        if (in_part) {
          // The line break before the delimiter is part of the delimiter.
          std::size_t end = pos;
          if (end >= part_begin + 2 && body.substr(end - 2, 2) == "\r\n") {
            end -= 2;
          } else if (end >= part_begin + 1 && body[end - 1] == '\n') {
            end -= 1;
          }
          result.parts.push_back(SplitPart(body.substr(part_begin, end - part_begin)));
        }
        if (close) {
          result.closed = true;
          break;
        }
        in_part = true;
        part_begin = next;
      }
    }
    pos = next;
  }
  return result;
}

std::string_view BodyOf(std::string_view message) { return SplitPart(message).body; }

}  // namespace tidegate::mail
