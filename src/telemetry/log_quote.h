// log_quote.h — quoting of untrusted values inside mail-log lines the way the ESA does (CONTRACT
// §5: `MID <mid> Subject '<subject>'`, `Message-ID '<id>'`, `Response '<text>'`, the reply in
// `Delayed:`/`Bounced:` lines), so that the parsers operators already run on ESA logs (Elastic's
// grok patterns, Cribl's ESA pack) cut values where the ESA's would be cut.
//
// The ESA builds these with Python's repr() of a str: single quotes, or double quotes when the
// value holds a `'` and no `"`; when it holds both, single quotes with `\'`; a backslash doubled;
// \t \n \r; other C0 controls and DEL as \xNN; non-ASCII that Python deems printable kept as is,
// the rest (C1 controls, spaces other than ' ', format characters such as bidi overrides and
// zero-width spaces, line and paragraph separators) as \xNN, \uNNNN or \UNNNNNNNN. Bytes that are
// not well-formed UTF-8 (Python never sees those as a str) are shown as \xNN, as Sanitize() does.
// The result never holds a control character, so the line stays one line. Pure, thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tidegate::telemetry {

// `'value'` (or `"value"`), as Python's repr(value) prints it.
std::string ReprQuote(std::string_view value);

// Length of the well-formed UTF-8 sequence starting at s[i] (Unicode Table 3-7: no overlong
// forms, surrogates or code points above U+10FFFF), 0 if none. For ASCII, 1.
std::size_t Utf8Length(std::string_view s, std::size_t i);

}  // namespace tidegate::telemetry
