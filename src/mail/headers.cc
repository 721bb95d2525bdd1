// headers.cc — see headers.h.
#include "mail/headers.h"

#include <strings.h>

namespace tidegate::mail {
namespace {

bool NameEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Length of the line at s[pos...] including its line ending (CRLF or bare LF).
size_t LineLength(std::string_view s, size_t pos) {
  size_t nl = s.find('\n', pos);
  return nl == std::string_view::npos ? s.size() - pos : nl + 1 - pos;
}

std::string_view StripEol(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

std::string_view HeaderSection(std::string_view message) {
  // An empty first line means no headers at all.
  if (message.starts_with("\r\n") || message.starts_with("\n")) return message.substr(0, 0);
  size_t pos = 0;
  while (pos < message.size()) {
    size_t len = LineLength(message, pos);
    std::string_view line = StripEol(message.substr(pos, len));
    if (line.empty()) return message.substr(0, pos);
    pos += len;
  }
  return message;
}

std::vector<HeaderField> ParseHeaderFields(std::string_view headers) {
  std::vector<HeaderField> fields;
  size_t pos = 0;
  while (pos < headers.size()) {
    size_t len = LineLength(headers, pos);
    std::string_view line = headers.substr(pos, len);
    const bool continuation = line[0] == ' ' || line[0] == '\t';
    if (continuation) {
      if (!fields.empty()) {
        HeaderField& f = fields.back();
        f.raw = std::string_view(f.raw.data(), static_cast<size_t>(line.data() + line.size() -
                                                                   f.raw.data()));
        f.raw = StripEol(f.raw);
      }
    } else {
      size_t colon = line.find(':');
      std::string_view name = colon == std::string_view::npos ? std::string_view()
                                                              : line.substr(0, colon);
      bool valid = !name.empty();
      for (char c : name) {
        if (static_cast<unsigned char>(c) <= 32 || static_cast<unsigned char>(c) >= 127) {
          valid = false;
        }
      }
      if (valid) fields.push_back({name, StripEol(line)});
    }
    pos += len;
  }
  return fields;
}

std::string_view FieldWithLineEnd(std::string_view headers, const HeaderField& field) {
  const size_t begin = static_cast<size_t>(field.raw.data() - headers.data());
  const size_t nl = headers.find('\n', begin + field.raw.size());
  const size_t end = nl == std::string_view::npos ? headers.size() : nl + 1;
  return headers.substr(begin, end - begin);
}

std::string UnfoldedValue(const HeaderField& field) {
  std::string_view raw = field.raw.substr(field.name.size() + 1);
  std::string value;
  value.reserve(raw.size());
  for (char c : raw) {
    if (c == '\r' || c == '\n') continue;  // unfold: CRLF WSP → WSP
    value.push_back(c);
  }
  size_t b = value.find_first_not_of(" \t");
  if (b == std::string::npos) return std::string();
  size_t e = value.find_last_not_of(" \t");
  return value.substr(b, e - b + 1);
}

bool HeaderNameIs(const HeaderField& field, std::string_view name) {
  return NameEquals(field.name, name);
}

std::optional<std::string> FirstHeaderValue(std::string_view headers, std::string_view name) {
  for (const HeaderField& f : ParseHeaderFields(headers)) {
    if (NameEquals(f.name, name)) return UnfoldedValue(f);
  }
  return std::nullopt;
}

std::size_t CountHeaders(std::string_view headers, std::string_view name) {
  std::size_t n = 0;
  for (const HeaderField& f : ParseHeaderFields(headers)) {
    if (NameEquals(f.name, name)) ++n;
  }
  return n;
}

}  // namespace tidegate::mail
