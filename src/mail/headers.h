// headers.h — reading the header section of a stored message (RFC 5322 §2.2).
//
// Used for log lines (Message-ID, Subject), journal reports, loop detection, and by mail/edits.h
// and mail/auth_results.h, whose field indexes are those of ParseHeaderFields. Tolerant of
// malformed input: never fails, never reads past the header/body boundary, bounded work. Note
// that ParseHeaderFields joins to the last field a continuation line that follows a line it
// skips, so a field's raw bytes may hold such a skipped line.
// Pure functions over a string_view that must outlive the returned views; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tidegate::mail {

// The header section of a message: everything before the first empty line (CRLF CRLF), or the
// whole text when there is none.
std::string_view HeaderSection(std::string_view message);

struct HeaderField {
  std::string_view name;   // as written
  std::string_view raw;    // the whole field including folded continuation lines, without final CRLF
};

// All fields in order. Lines that are not "name:" fields and not continuations are skipped.
std::vector<HeaderField> ParseHeaderFields(std::string_view header_section);

// The field's bytes followed by its line ending (CRLF, LF, or nothing at the end of the section):
// cutting this span out of the section removes the field, continuation lines included, and nothing
// else. `field` must come from ParseHeaderFields(header_section).
std::string_view FieldWithLineEnd(std::string_view header_section, const HeaderField& field);

// The field's value (after the colon) unfolded (CR and LF removed) and trimmed of spaces and tabs.
std::string UnfoldedValue(const HeaderField& field);

// True if `name` equals the field name case-insensitively (ASCII).
bool HeaderNameIs(const HeaderField& field, std::string_view name);

// The unfolded, trimmed value of the first field named `name` (case-insensitive).
std::optional<std::string> FirstHeaderValue(std::string_view header_section, std::string_view name);

// How many fields named `name` there are (case-insensitive).
std::size_t CountHeaders(std::string_view header_section, std::string_view name);

}  // namespace tidegate::mail
