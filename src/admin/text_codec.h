// text_codec.h — the small text transformations of an HTTP server: percent-decoding, form and
// query parsing, Base64 (HTTP Basic), HTML escaping and ASCII case folding.
//
// Pure functions on values; safe to call from any thread. Decoders treat their input as hostile:
// malformed input is an Error (or a refused entry), never undefined behaviour.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/result.h"

namespace tidegate::admin {

// HTML-escapes & < > " ' so the text is safe in element content and in quoted attributes.
std::string HtmlEscape(std::string_view text);

// Percent-decodes `text`; with `plus_is_space` (forms, queries) '+' becomes ' '. A '%' not
// followed by two hex digits, or a NUL (decoded or literal), is an error.
base::Result<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// Percent-encodes everything but RFC 3986 unreserved characters (for query values, `next=`).
std::string PercentEncode(std::string_view text);

// Parses `a=1&b=two` (application/x-www-form-urlencoded, also query strings). Later duplicates
// replace earlier ones; empty pieces are skipped; a malformed escape makes the whole input an
// error, so a handler never sees half a form.
base::Result<std::map<std::string, std::string>> ParseUrlEncoded(std::string_view text);

// Standard Base64 with padding (RFC 4648 §4).
std::string Base64Encode(std::string_view bytes);
// Strict decoder: the alphabet of RFC 4648 §4, length a multiple of 4, padding only at the end.
base::Result<std::string> Base64Decode(std::string_view text);

// ASCII lower case (HTTP header names, host names, media types).
std::string AsciiLower(std::string_view text);

}  // namespace tidegate::admin
