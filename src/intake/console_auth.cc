// console_auth.cc — see console_auth.h.
#include "intake/console_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cassert>
#include <cctype>
#include <fstream>

namespace tidegate::intake {
namespace {

std::string Sha256(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

std::string Hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 0x0f];
  }
  return out;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  // Without a seeded CSPRNG session ids and CSRF tokens would be guessable: no fallback.
  const int rc = RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  assert(rc == 1);
  (void)rc;
  return out;
}

bool EqualConstantTime(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

base::Result<std::string> ReadPasswordFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::MakeError("console password file " + path + ": cannot read");
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return base::MakeError("console password file " + path + ": the first line is empty");
  }
  return line;
}

std::optional<std::string> DecodeBase64(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > 4096) return std::nullopt;
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                       (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=') {
      // Padding only at the very end, at most two.
      if (i + 2 < text.size()) return std::nullopt;
      ++padding;
    } else if (!alpha || padding > 0) {
      return std::nullopt;
    }
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (value.size() < 6) return std::nullopt;
  std::string scheme(value.substr(0, 6));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "basic ") return std::nullopt;
  value.remove_prefix(6);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  auto decoded = DecodeBase64(value);
  if (!decoded) return std::nullopt;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

ConsoleAuth::ConsoleAuth(std::string user, std::string password)
    : user_(std::move(user)),
      expected_digest_(Sha256(user_ + ":" + password)),
      secret_(RandomBytes(32)) {}

bool ConsoleAuth::Check(std::string_view authorization) const {
  auto creds = ParseBasicAuthorization(authorization);
  if (!creds) return false;
  // Comparing fixed-size digests: neither the length nor the first differing byte of the
  // password shows in the timing.
  return EqualConstantTime(Sha256(creds->user + ":" + creds->password), expected_digest_);
}

std::string ConsoleAuth::NewSessionId() {
  const std::string raw = RandomBytes(32);
  return Hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

bool ConsoleAuth::IsSessionId(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ConsoleAuth::CsrfToken(std::string_view session_id) const {
  const std::string data = user_ + '\0' + std::string(session_id);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return Hex(mac, len);
}

bool ConsoleAuth::CheckCsrf(std::string_view session_id, std::string_view token) const {
  if (!IsSessionId(session_id)) return false;
  return EqualConstantTime(CsrfToken(session_id), token);
}

}  // namespace tidegate::intake
