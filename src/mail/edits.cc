// edits.cc — see edits.h.
#include "mail/edits.h"

#include <strings.h>

#include <algorithm>

#include "mail/headers.h"
#include "mail/mime.h"

namespace tidegate::mail {
namespace {

constexpr std::uint8_t kVersion = 1;
// RFC 5322 §2.1.1: a line is at most 998 octets; a tag that would push the Subject's first line
// past it goes on a continuation line instead.
constexpr std::size_t kMaxLine = 998;

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

void PutU32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void PutBytes(std::string& out, std::string_view bytes) {
  PutU32(out, static_cast<std::uint32_t>(bytes.size()));
  out.append(bytes);
}

// Reads big-endian integers and length-prefixed strings off the front of `in`.
struct Reader {
  std::string_view in;

  bool U32(std::uint32_t& v) {
    if (in.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
    in.remove_prefix(4);
    return true;
  }
  bool Bytes(std::string& s) {
    std::uint32_t n = 0;
    if (!U32(n) || n > in.size()) return false;
    s.assign(in.substr(0, n));
    in.remove_prefix(n);
    return true;
  }
};

// The tag as it is written: CR, LF, NUL replaced (SanitizeLine), spaces and tabs trimmed.
std::string CleanTag(std::string_view tag) {
  std::string t = SanitizeLine(tag);
  const std::size_t b = t.find_first_not_of(" \t");
  if (b == std::string::npos) return std::string();
  return t.substr(b, t.find_last_not_of(" \t") - b + 1);
}

bool StartsWithTag(std::string_view value, std::string_view tag) {
  if (value.size() < tag.size() || ::strncasecmp(value.data(), tag.data(), tag.size()) != 0) {
    return false;
  }
  return value.size() == tag.size() || IsWsp(value[tag.size()]) || value[tag.size()] == '\r' ||
         value[tag.size()] == '\n';
}

// `raw` is a Subject field without its final line ending; `name_size` the length of its name.
// The tag goes after the colon and the folding white space that follows it, so a folded or RFC
// 2047-encoded value keeps its bytes; the tag and the old value are separated by a space (which
// RFC 2047 §5 requires before an encoded word) or, for a very long first line, by CRLF SP.
std::string TagSubject(std::string_view raw, std::size_t name_size, std::string_view tag) {
  std::size_t i = name_size + 1;
  while (i < raw.size()) {
    if (IsWsp(raw[i])) {
      ++i;
      continue;
    }
    // A line break is passed only when the next line continues the field: ParseHeaderFields
    // also joins to a field a line that does not (after a garbage line), and a tag put at the
    // start of such a line could make it read as a field of its own.
    const std::size_t eol = raw[i] == '\n' ? 1 : raw.substr(i).starts_with("\r\n") ? 2 : 0;
    if (eol == 0 || i + eol >= raw.size() || !IsWsp(raw[i + eol])) break;
    i += eol;
  }
  const std::string_view rest = raw.substr(i);
  if (StartsWithTag(rest, tag)) return std::string(raw);
  std::string out(raw.substr(0, i));
  if (i == name_size + 1) out.push_back(' ');
  out.append(tag);
  if (!rest.empty() && rest[0] != '\r' && rest[0] != '\n') {
    const std::size_t nl = out.rfind('\n');
    const std::size_t line_so_far = nl == std::string::npos ? out.size() : out.size() - nl - 1;
    const std::size_t rest_line = std::min(rest.find_first_of("\r\n"), rest.size());
    out.append(line_so_far + 1 + rest_line > kMaxLine ? "\r\n " : " ");
  }
  out.append(rest);
  return out;
}

// Appends the lines of `gap` (bytes before the original's first field) except continuation lines.
void AppendWithoutContinuations(std::string& out, std::string_view gap) {
  while (!gap.empty()) {
    const std::size_t nl = gap.find('\n');
    const std::size_t len = nl == std::string_view::npos ? gap.size() : nl + 1;
    if (!IsWsp(gap[0])) out.append(gap.substr(0, len));
    gap.remove_prefix(len);
  }
}

}  // namespace

bool IsWellFormedField(std::string_view field) {
  const std::size_t colon = field.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    const auto c = static_cast<unsigned char>(field[i]);
    if (c <= 32 || c >= 127) return false;
  }
  for (std::size_t i = colon + 1; i < field.size(); ++i) {
    const char c = field[i];
    if (c == '\0' || c == '\n') return false;
    if (c == '\r') {
      if (i + 2 >= field.size() || field[i + 1] != '\n' || !IsWsp(field[i + 2])) return false;
      i += 2;
    }
  }
  return true;
}

bool Edits::valid() const {
  return std::all_of(prepend.begin(), prepend.end(), IsWellFormedField) &&
         subject_tag.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

std::string SerializeEdits(const Edits& edits) {
  std::string out;
  out.push_back(static_cast<char>(kVersion));
  PutU32(out, static_cast<std::uint32_t>(edits.prepend.size()));
  for (const std::string& field : edits.prepend) PutBytes(out, field);
  PutU32(out, static_cast<std::uint32_t>(edits.remove.size()));
  for (std::uint32_t index : edits.remove) PutU32(out, index);
  PutBytes(out, edits.subject_tag);
  return out;
}

base::Result<Edits> ParseEdits(std::string_view bytes) {
  if (bytes.empty() || static_cast<std::uint8_t>(bytes[0]) != kVersion) {
    return base::MakeError("edits: unknown version");
  }
  Reader r{bytes.substr(1)};
  Edits edits;
  std::uint32_t n = 0;
  // Each entry takes at least 4 bytes: a count larger than that is truncation, not a reason to
  // reserve gigabytes.
  if (!r.U32(n) || n > r.in.size() / 4) return base::MakeError("edits: truncated");
  edits.prepend.resize(n);
  for (std::string& field : edits.prepend) {
    if (!r.Bytes(field)) return base::MakeError("edits: truncated");
  }
  if (!r.U32(n) || n > r.in.size() / 4) return base::MakeError("edits: truncated");
  edits.remove.resize(n);
  for (std::uint32_t& index : edits.remove) {
    if (!r.U32(index)) return base::MakeError("edits: truncated");
  }
  if (!r.Bytes(edits.subject_tag)) return base::MakeError("edits: truncated");
  if (!r.in.empty()) return base::MakeError("edits: trailing bytes");
  if (!edits.valid()) return base::MakeError("edits: malformed header field or tag");
  return edits;
}

Rendered RenderEdits(std::string_view message, const Edits& edits) {
  const std::string_view section = HeaderSection(message);
  const std::vector<HeaderField> fields = ParseHeaderFields(section);
  std::vector<bool> removed(fields.size(), false);
  for (std::uint32_t index : edits.remove) {
    if (index < fields.size()) removed[index] = true;
  }
  const std::string tag = CleanTag(edits.subject_tag);
  std::size_t subject = fields.size();  // the first kept Subject, if any
  for (std::size_t i = 0; i < fields.size() && !tag.empty(); ++i) {
    if (!removed[i] && HeaderNameIs(fields[i], "Subject")) {
      subject = i;
      break;
    }
  }

  Rendered r;
  r.body_from = section.size();
  for (const std::string& field : edits.prepend) {
    if (!IsWellFormedField(field)) continue;
    r.head.append(field).append("\r\n");
  }
  if (!tag.empty() && subject == fields.size())
    r.head.append("Subject: ").append(tag).append("\r\n");
  const bool added = !r.head.empty();

  std::size_t cursor = 0;  // section bytes before it are written (or cut)
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const std::string_view whole = FieldWithLineEnd(section, fields[i]);
    const auto begin = static_cast<std::size_t>(whole.data() - section.data());
    const std::string_view gap = section.substr(cursor, begin - cursor);
    if (i == 0 && added) {
      AppendWithoutContinuations(r.head, gap);
    } else {
      r.head.append(gap);
    }
    if (i == subject) {
      r.head.append(TagSubject(fields[i].raw, fields[i].name.size(), tag));
      r.head.append(whole.substr(fields[i].raw.size()));  // its own line ending
    } else if (!removed[i]) {
      r.head.append(whole);
    }
    cursor = begin + whole.size();
  }
  if (fields.empty() && added) {
    AppendWithoutContinuations(r.head, section);
  } else {
    r.head.append(section.substr(cursor));
  }
  return r;
}

std::string ApplyEdits(std::string_view message, const Edits& edits) {
  Rendered r = RenderEdits(message, edits);
  r.head.append(message.substr(r.body_from));
  return std::move(r.head);
}

}  // namespace tidegate::mail
