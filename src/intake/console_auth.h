// console_auth.h — the intake console's login: HTTP Basic against console.user and the password
// file, compared in constant time, plus CSRF tokens for its forms.
//
// A browser that logged in gets a session cookie (a random id); every form carries
// HMAC-SHA256(secret, user, session id) as its token, with a secret drawn at start. A POST is
// only honoured when the token matches the request's own session cookie, so a page of another
// site can neither read a token nor forge one. Tokens die with the process (the secret), which
// is fine for a console: the form is simply loaded again.
//
// Thread-safety: immutable after construction; every method may be called from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace tidegate::intake {

// The password: the first line of the file, its line end stripped. An empty password or an
// unreadable file is an error: the console never runs without a login.
base::Result<std::string> ReadPasswordFile(const std::string& path);

struct BasicCredentials {
  std::string user;
  std::string password;
};

// "Basic <base64(user:password)>" (scheme case-insensitive); nullopt when malformed.
std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view header_value);

// Standard base64 (RFC 4648 §4, padding required); nullopt on any invalid input.
std::optional<std::string> DecodeBase64(std::string_view text);

class ConsoleAuth {
 public:
  ConsoleAuth(std::string user, std::string password);

  // The Authorization header value names the console user with the right password. Runs in
  // time independent of where the strings differ (digests compared with CRYPTO_memcmp).
  bool Check(std::string_view authorization) const;

  // A new random session id (64 hex digits).
  static std::string NewSessionId();
  static bool IsSessionId(std::string_view s);
  std::string CsrfToken(std::string_view session_id) const;
  bool CheckCsrf(std::string_view session_id, std::string_view token) const;

 private:
  std::string user_;
  std::string expected_digest_;  // SHA-256 of "user:password"
  std::string secret_;           // HMAC key for CSRF tokens
};

}  // namespace tidegate::intake
