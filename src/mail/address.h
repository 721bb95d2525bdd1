// address.h — envelope addresses (RFC 5321 §4.1.2, RFC 6531 for SMTPUTF8).
//
// ParsePath() reads what follows "MAIL FROM:" / "RCPT TO:" up to the closing '>'; ParseMailbox()
// reads a bare "local@domain" (config files, intake addresses). Quoted local parts are kept
// byte-exact as written (with their quotes). Source routes ("<@a,@b:u@d>") are accepted and
// dropped, as RFC 5321 asks. Nothing returned ever contains CR, LF, NUL or other controls.
// Pure functions and plain values; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace tidegate::mail {

struct Address {
  std::string local;   // as written: dot-string, or quoted-string including the quotes
  std::string domain;  // as written (a domain or an address literal "[1.2.3.4]")

  bool null() const { return local.empty() && domain.empty(); }  // the null reverse-path <>
  std::string str() const { return null() ? std::string() : local + "@" + domain; }
  // The domain in lower case (ASCII only), for matching and routing.
  std::string domain_lower() const;
  // The local part with quotes and quoted-pairs removed ("a b" from "\"a b\"").
  std::string local_unquoted() const;
  bool has_utf8() const;  // any byte >= 0x80 in local or domain
  bool quoted_local() const { return !local.empty() && local.front() == '"'; }
  bool domain_literal() const { return !domain.empty() && domain.front() == '['; }
  friend bool operator==(const Address&, const Address&) = default;
};

struct PathOptions {
  bool allow_null = false;   // MAIL FROM:<> is legal; RCPT TO:<> is not
  bool allow_utf8 = false;   // SMTPUTF8 was given on MAIL FROM
};

// Parses "<...>" at the start of text. On success `consumed` is the length of the path
// including the angle brackets, so that the caller can parse ESMTP parameters after it.
// Errors carry a short reason suitable for a 501/553 reply text.
base::Result<Address> ParsePath(std::string_view text, const PathOptions& options,
                                size_t& consumed);

// Parses a whole "local@domain" (no brackets, no surrounding spaces).
base::Result<Address> ParseMailbox(std::string_view text, bool allow_utf8 = false);

// True if text is a syntactically valid domain name (LDH labels, at least one dot not required).
bool IsValidDomain(std::string_view text, bool allow_utf8 = false);

// ASCII lower-casing of a domain or any other token.
std::string AsciiLower(std::string_view text);

}  // namespace tidegate::mail
