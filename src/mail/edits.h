// edits.h — the changes a verdict makes to a stored message, and rendering them (CONTRACT §10).
//
// An Edits value says which header fields to prepend, which to remove (by index) and which tag to
// prefix to the Subject. The scan stage decides it once and stores it in the spool
// (SerializeEdits); delivery and the journal copy both render the stored message through it
// (RenderEdits), so that "journaled in the form delivered" holds by construction, and neither
// copies the body: the rendered form is a new header section followed by the untouched rest of
// the stored message.
//
// Messages are the stored form: CRLF lines, dot-unstuffed. The header section and the field
// indexes are those of mail/headers.h (HeaderSection, ParseHeaderFields), so an index computed by
// anyone reading the message with those functions names the same field here.
// Pure functions over values; ParseEdits and RenderEdits are tolerant of hostile input (never
// crash, bounded work, linear in their input). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace tidegate::mail {

struct Edits {
  // Complete header fields "Name: value" without the final CRLF (the value may already be folded
  // with CRLF followed by a space or tab), prepended at the top in this order.
  std::vector<std::string> prepend;
  // 0-based indexes into ParseHeaderFields(HeaderSection(message)) of fields to drop. Indexes past
  // the last field are ignored; order and repeats do not matter.
  std::vector<std::uint32_t> remove;
  // "" = none. Otherwise prefixed to the (first kept) Subject: "Subject: [TAG] original". A
  // message without one gets "Subject: [TAG]". Not added again when the Subject already starts
  // with it (case-insensitively). Written as given: keep it ASCII (an RFC 2047 encoded Subject
  // keeps its encoded words after the plain-text tag).
  std::string subject_tag;

  bool empty() const { return prepend.empty() && remove.empty() && subject_tag.empty(); }
  // Every prepend entry is a well-formed field (see IsWellFormedField) and the tag has no CR, LF
  // or NUL. ParseEdits accepts exactly the serializations of valid Edits.
  bool valid() const;
  friend bool operator==(const Edits&, const Edits&) = default;
};

// A field "Name: value" that can be written into a header section as is: the name is 1+ printable
// ASCII characters other than ':'; the value has no NUL, and CR/LF only as CRLF followed by a space
// or tab (folding), never at its end.
bool IsWellFormedField(std::string_view field);

// Version 1: u8 1 | u32 n | n × (u32 len | bytes) | u32 m | m × u32 | u32 len | tag bytes, all
// integers big-endian. Binary-safe; compact for the usual few fields.
std::string SerializeEdits(const Edits& edits);
// The inverse of SerializeEdits for valid Edits. Errors (never a crash, never a huge allocation)
// for an unknown version, truncation, trailing bytes, or content that is not valid().
base::Result<Edits> ParseEdits(std::string_view bytes);

// The delivered form of a message is `head + message.substr(body_from)`:
// - body_from = HeaderSection(message).size(): the offset of the empty line that ends the
//   original header section (so the rest starts with that CRLF and the body), or message.size()
//   when the message has no empty line (headers only). It never depends on the edits.
// - head = the edited header section: the prepended fields (each + CRLF), then "Subject: TAG\r\n"
//   when a tag is asked for and no kept Subject exists, then the original section's bytes with
//   the removed fields cut out (FieldWithLineEnd) and the first kept Subject tagged. Kept bytes
//   keep their own line endings. When fields are added at the top, continuation lines that stand
//   before the original's first field (they belong to no field) are dropped, since they would
//   otherwise fold into the added field.
// So HeaderSection(head + rest) == head, and with empty edits head is the original section.
// RenderEdits never fails: an entry of `prepend` that is not IsWellFormedField is skipped, and CR,
// LF and NUL in the tag become spaces (valid Edits never need either).
struct Rendered {
  std::string head;
  std::size_t body_from = 0;
};
Rendered RenderEdits(std::string_view message, const Edits& edits);

// Convenience: head + message.substr(body_from), one copy of the whole message.
std::string ApplyEdits(std::string_view message, const Edits& edits);

}  // namespace tidegate::mail
