// address.cc — RFC 5321 path and mailbox parsing (see address.h).
#include "mail/address.h"

#include <arpa/inet.h>

namespace tidegate::mail {
namespace {

using base::MakeError;
using base::Result;

bool IsAtext(unsigned char c, bool utf8) {
  if (c >= 0x80) return utf8;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsLetDig(unsigned char c, bool utf8) {
  if (c >= 0x80) return utf8;
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Length of a local part at the start of s (dot-string or quoted-string), or an error.
Result<size_t> ScanLocal(std::string_view s, bool utf8) {
  if (s.empty()) return MakeError("empty local part");
  if (s[0] == '"') {
    size_t i = 1;
    while (i < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c == '"') return i + 1;
      if (c == '\\') {
        if (i + 1 >= s.size()) break;
        unsigned char q = static_cast<unsigned char>(s[i + 1]);
        if (q < 32 || q == 127 || (q >= 0x80 && !utf8)) return MakeError("bad quoted-pair");
        i += 2;
        continue;
      }
      if (c < 32 || c == 127) return MakeError("control character in local part");
      if (c >= 0x80 && !utf8) return MakeError("8-bit character without SMTPUTF8");
      ++i;
    }
    return MakeError("unterminated quoted local part");
  }
  size_t i = 0;
  bool need_atom = true;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '.') {
      if (need_atom) return MakeError("bad dot in local part");
      need_atom = true;
    } else if (IsAtext(c, utf8)) {
      need_atom = false;
    } else {
      if (c >= 0x80) return MakeError("8-bit character without SMTPUTF8");
      break;
    }
    ++i;
  }
  if (i == 0) return MakeError("empty local part");
  if (need_atom) return MakeError("local part ends with a dot");
  return i;
}

// Length of a domain or address literal at the start of s, or an error.
Result<size_t> ScanDomain(std::string_view s, bool utf8) {
  if (s.empty()) return MakeError("missing domain");
  if (s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return MakeError("unterminated address literal");
    std::string inner(s.substr(1, close - 1));
    // inet_pton() reads a C string: a NUL would end the literal early and let whatever follows
    // it (CR, LF, anything) through into the domain. Found by address_fuzz.
    if (inner.find('\0') != std::string::npos) return MakeError("bad address literal");
    unsigned char buf[16];
    if (inner.rfind("IPv6:", 0) == 0 || inner.rfind("ipv6:", 0) == 0) {
      if (inet_pton(AF_INET6, inner.c_str() + 5, buf) != 1) return MakeError("bad IPv6 literal");
    } else if (inet_pton(AF_INET, inner.c_str(), buf) != 1) {
      return MakeError("bad address literal");
    }
    return close + 1;
  }
  size_t i = 0;
  size_t label_len = 0;
  unsigned char prev = '.';
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '.') {
      if (label_len == 0 || prev == '-') return MakeError("bad domain");
      label_len = 0;
    } else if (IsLetDig(c, utf8)) {
      if (++label_len > 63) return MakeError("domain label too long");
    } else if (c == '-') {
      if (label_len == 0) return MakeError("bad domain");
      ++label_len;
    } else {
      if (c >= 0x80) return MakeError("8-bit character without SMTPUTF8");
      break;
    }
    prev = c;
    ++i;
  }
  if (i == 0) return MakeError("missing domain");
  if (label_len == 0 || prev == '-') return MakeError("bad domain");
  if (i > 255) return MakeError("domain too long");
  return i;
}

}  // namespace

std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Address::domain_lower() const { return AsciiLower(domain); }

std::string Address::local_unquoted() const {
  if (!quoted_local()) return local;
  std::string out;
  for (size_t i = 1; i + 1 < local.size(); ++i) {
    if (local[i] == '\\' && i + 2 < local.size()) ++i;
    out.push_back(local[i]);
  }
  return out;
}

bool Address::has_utf8() const {
  for (unsigned char c : local) if (c >= 0x80) return true;
  for (unsigned char c : domain) if (c >= 0x80) return true;
  return false;
}

bool IsValidDomain(std::string_view text, bool allow_utf8) {
  if (text.empty() || text[0] == '[') return false;
  auto n = ScanDomain(text, allow_utf8);
  return n && *n == text.size();
}

Result<Address> ParseMailbox(std::string_view text, bool allow_utf8) {
  auto local_len = ScanLocal(text, allow_utf8);
  if (!local_len) return local_len.error();
  if (*local_len > 64) return MakeError("local part too long");
  if (*local_len >= text.size() || text[*local_len] != '@') return MakeError("missing @domain");
  std::string_view rest = text.substr(*local_len + 1);
  auto domain_len = ScanDomain(rest, allow_utf8);
  if (!domain_len) return domain_len.error();
  if (*domain_len != rest.size()) return MakeError("unexpected characters after the domain");
  return Address{std::string(text.substr(0, *local_len)), std::string(rest)};
}

Result<Address> ParsePath(std::string_view text, const PathOptions& options, size_t& consumed) {
  consumed = 0;
  if (text.empty() || text[0] != '<') return MakeError("path must be enclosed in <>");
  size_t i = 1;
  if (i < text.size() && text[i] == '>') {
    if (!options.allow_null) return MakeError("null path not allowed here");
    consumed = 2;
    return Address{};
  }
  // Optional source route: "@d1,@d2:" — parsed for syntax, then ignored (RFC 5321 §3.3).
  if (i < text.size() && text[i] == '@') {
    while (true) {
      if (i >= text.size() || text[i] != '@') return MakeError("bad source route");
      ++i;
      auto d = ScanDomain(text.substr(i), options.allow_utf8);
      if (!d) return d.error();
      i += *d;
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < text.size() && text[i] == ':') {
        ++i;
        break;
      }
      return MakeError("bad source route");
    }
  }
  size_t start = i;
  auto local_len = ScanLocal(text.substr(i), options.allow_utf8);
  if (!local_len) return local_len.error();
  if (*local_len > 64) return MakeError("local part too long");
  i += *local_len;
  if (i >= text.size() || text[i] != '@') return MakeError("missing @domain");
  std::string local(text.substr(start, *local_len));
  ++i;
  auto domain_len = ScanDomain(text.substr(i), options.allow_utf8);
  if (!domain_len) return domain_len.error();
  std::string domain(text.substr(i, *domain_len));
  i += *domain_len;
  if (i >= text.size() || text[i] != '>') return MakeError("path must end with >");
  if (local.size() + domain.size() + 1 > 254) return MakeError("path too long");
  // Only now: a failed parse leaves consumed at 0 (address_fuzz found the too-long case did not).
  consumed = i + 1;
  return Address{std::move(local), std::move(domain)};
}

}  // namespace tidegate::mail
