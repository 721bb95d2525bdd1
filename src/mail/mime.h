// mime.h — the small MIME toolkit shared by the DSN and journal report builders and the intake.
//
// Writing: RFC 5322 dates, sanitized and folded header fields, boundaries proven absent from the
// content they enclose, quoted-printable. Reading: Content-Type parameters, splitting a multipart
// body into its parts with exact byte spans (RFC 2046 §5.1.1), QP and base64 decoding.
// Everything here is a pure function over values or string_views (views returned point into the
// caller's input, which must outlive them); tolerant of hostile input, linear work, never throws
// (beyond std::bad_alloc); thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"

namespace tidegate::mail {

// "Fri, 16 Feb 2024 21:19:22 +0000" (RFC 5322 §3.3), always UTC so that output is reproducible.
std::string FormatRfc5322Date(base::SystemTime t);

// Replaces CR, LF and NUL with a space: the value can no longer end a line or a field.
std::string SanitizeLine(std::string_view value);

// For 7-bit-only contexts (message/delivery-status): control characters become a space, octets
// >= 0x80 become '?'. TAB is kept.
std::string SanitizeAscii(std::string_view value);

// True if any octet is >= 0x80 or NUL (the content is not 7bit in the RFC 2045 sense).
bool HasEightBit(std::string_view text);

// "Name: value\r\n", value sanitized with SanitizeLine and folded at white space so that lines
// stay near 78 octets. A run without white space longer than the 998-octet limit is split
// (never inside a UTF-8 sequence); unfolding then shows one extra space there.
std::string FoldHeader(std::string_view name, std::string_view value);

// A deterministic 64-bit mix of the given parts (FNV-1a then a SplitMix64 finalizer).
std::uint64_t MixSeed(std::initializer_list<std::string_view> parts);

// A MIME boundary (quote it in Content-Type: it contains '=') derived from `seed` that occurs in
// none of `contents`, not even as a substring, so that no parser, strict or prefix-matching, can
// mistake a line of the content for a delimiter. Tries successive candidates until one is absent;
// each rejected candidate must occur in the content, so this ends after at most
// (total content size + 1) tries, and after the first one with overwhelming probability.
std::string ChooseBoundary(std::uint64_t seed, std::initializer_list<std::string_view> contents);

// "<YYYYMMDDhhmmss.<mid>.<16 hex>@domain>": unique across processes and restarts (the hex part
// mixes a per-process random value and a counter).
std::string NewMessageId(std::string_view domain, base::SystemTime now, std::uint64_t mid);

// Quoted-printable (RFC 2045 §6.7) of text whose hard line breaks are CRLF: output is 7-bit with
// lines of at most 76 octets.
std::string EncodeQuotedPrintable(std::string_view text);
// Lenient decoding: soft breaks (=CRLF or =LF), =XX in either case; a malformed '=' is kept.
std::string DecodeQuotedPrintable(std::string_view text);
// Lenient base64: characters outside the alphabet are skipped; stops at '='.
std::string DecodeBase64(std::string_view text);

// A parsed Content-Type value. type and subtype are lower case; parameter names are lower case,
// values unquoted as written. Parameters after a syntax error are dropped.
struct ContentType {
  std::string type;
  std::string subtype;
  std::vector<std::pair<std::string, std::string>> params;

  bool Is(std::string_view type_name, std::string_view subtype_name) const;
  // The first parameter named `name` (lower case), or "" when absent.
  std::string Param(std::string_view name) const;
};
ContentType ParseContentType(std::string_view value);

// One body part: its header section and its body, both views into the multipart body.
struct MimePart {
  std::string_view headers;    // up to (not including) the empty line
  std::string_view body;       // after the empty line; empty when there is none
  bool has_separator = false;  // an empty line separated headers and body
};

struct Multipart {
  std::vector<MimePart> parts;  // only parts that are ended by a delimiter line
  bool closed = false;          // the close delimiter "--boundary--" was seen
};

// Splits a multipart body (what follows the top-level header section) along `boundary`.
// Delimiter lines are matched exactly: "--" boundary, optionally "--", then only white space.
// The line break before a delimiter belongs to it (RFC 2046), so a part's bytes are exact.
// Bare LF line ends are accepted. Stops after `max_parts` parts.
Multipart SplitMultipart(std::string_view body, std::string_view boundary, std::size_t max_parts);

// The body of a message or part: what follows the header section and its empty line; empty when
// there is no empty line.
std::string_view BodyOf(std::string_view message);

}  // namespace tidegate::mail
