// ldap_filter.h — the LDAP accept query's search filter from its template (CONTRACT §13).
//
// EscapeFilterValue() escapes a value for an RFC 4515 filter: `*` `(` `)` `\` and NUL become
// `\2a` `\28` `\29` `\5c` `\00`; every other byte (UTF-8 included, RFC 4515 allows it) is kept.
// ExpandFilter() substitutes `{a}` (unquoted local part @ domain), `{u}` (unquoted local part)
// and `{d}` (domain, as received) into the operator's template, each value escaped, so that no
// address can add a wildcard or a filter component and match someone else's entry. Anything
// else in the template, other braces included, is copied as written.
// Pure functions; thread-safe. Its own library so that the fuzz target links only this.
#pragma once

#include <string>
#include <string_view>

#include "mail/address.h"

namespace tidegate::validation {

std::string EscapeFilterValue(std::string_view value);

std::string ExpandFilter(std::string_view filter_template, const mail::Address& address);

}  // namespace tidegate::validation
