// auth_results.cc — see auth_results.h.
#include "mail/auth_results.h"

#include <strings.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

#include "mail/address.h"
#include "mail/headers.h"

namespace tidegate::mail {
namespace {

enum Method { kSpf, kDkim, kDmarc };

struct SymbolResult {
  std::string_view symbol;
  Method method;
  std::string_view result;
};

// CONTRACT §10's table.
constexpr std::array<SymbolResult, 18> kSymbols{{
    {"R_SPF_ALLOW", kSpf, "pass"},
    {"R_SPF_FAIL", kSpf, "fail"},
    {"R_SPF_SOFTFAIL", kSpf, "softfail"},
    {"R_SPF_NEUTRAL", kSpf, "neutral"},
    {"R_SPF_DNSFAIL", kSpf, "temperror"},
    {"R_SPF_PERMFAIL", kSpf, "permerror"},
    {"R_SPF_NA", kSpf, "none"},
    {"R_DKIM_ALLOW", kDkim, "pass"},
    {"R_DKIM_REJECT", kDkim, "fail"},
    {"R_DKIM_TEMPFAIL", kDkim, "temperror"},
    {"R_DKIM_PERMFAIL", kDkim, "permerror"},
    {"R_DKIM_NA", kDkim, "none"},
    {"DMARC_POLICY_ALLOW", kDmarc, "pass"},
    {"DMARC_POLICY_REJECT", kDmarc, "fail"},
    {"DMARC_POLICY_QUARANTINE", kDmarc, "fail"},
    {"DMARC_POLICY_SOFTFAIL", kDmarc, "fail"},
    {"DMARC_BAD_POLICY", kDmarc, "permerror"},
    {"DMARC_NA", kDmarc, "none"},
}};

// Weakest first: when two symbols of one method appear, the later one in this list wins.
constexpr std::array<std::string_view, 7> kByStrength{
    "none", "pass", "neutral", "softfail", "temperror", "permerror", "fail"};

int Strength(std::string_view result) {
  const auto it = std::find(kByStrength.begin(), kByStrength.end(), result);
  return static_cast<int>(it - kByStrength.begin());
}

std::string_view Keyword(std::string_view result) {
  return Strength(result) < static_cast<int>(kByStrength.size()) || result == "policy" ? result
                                                                                       : "none";
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view DropTrailingDot(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return s;
}

// A valid ASCII domain, lower-cased, one trailing dot dropped; "" otherwise.
std::string CleanDomain(std::string_view domain) {
  domain = DropTrailingDot(domain);
  if (!IsValidDomain(domain)) return std::string();
  return AsciiLower(domain);
}

// Skips white space and comments (nested, with quoted-pairs) from s[i]; npos when a comment is
// never closed.
std::size_t SkipCfws(std::string_view s, std::size_t i) {
  int depth = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (depth > 0 && c == '\\') {
      ++i;
    } else if (c == '(') {
      ++depth;
    } else if (depth > 0 && c == ')') {
      --depth;
    } else if (depth == 0 && c != ' ' && c != '\t') {
      return i;
    }
  }
  return depth > 0 ? std::string_view::npos : s.size();
}

// RFC 2045 token characters (bytes >= 0x80 too, so that a non-ASCII id never matches a prefix).
bool IsTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 32 && u != 127 && std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string::npos;
}

// The token or quoted-string (unquoted) at s[i].
std::string ReadValue(std::string_view s, std::size_t i) {
  std::string v;
  if (i < s.size() && s[i] == '"') {
    for (++i; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      v.push_back(s[i]);
    }
    return v;
  }
  for (; i < s.size() && IsTokenChar(s[i]); ++i) v.push_back(s[i]);
  return v;
}

// The address part of a From: value holding exactly one mailbox: the content of its angle
// brackets, or (without them) the value with comments removed. nullopt when there are several
// mailboxes or a group.
std::optional<std::string> SingleMailbox(std::string_view v) {
  std::string bare;   // top-level text outside comments and quotes
  std::string angle;  // inside <...>
  int angles = 0;
  bool in_angle = false, in_quote = false;
  int depth = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    std::string& out = in_angle ? angle : bare;
    if (c == '\\' && (in_quote || depth > 0) && i + 1 < v.size()) {
      if (depth == 0) out.append(v.substr(i, 2));
      ++i;
    } else if (depth > 0) {
      depth += c == '(' ? 1 : c == ')' ? -1 : 0;
    } else if (in_quote) {
      out.push_back(c);
      in_quote = c != '"';
    } else if (c == '"') {
      out.push_back(c);
      in_quote = true;
    } else if (c == '(') {
      depth = 1;
    } else if (c == '<' && !in_angle) {
      in_angle = true;
      ++angles;
    } else if (c == '>' && in_angle) {
      in_angle = false;
    } else if (!in_angle && (c == ',' || c == ':' || c == ';')) {
      return std::nullopt;
    } else {
      out.push_back(c);
    }
  }
  if (angles > 1) return std::nullopt;
  return angles == 1 ? angle : bare;
}

}  // namespace

AuthResults AuthResultsFromRspamdSymbols(const std::vector<std::string>& symbols) {
  AuthResults r;
  for (const std::string& symbol : symbols) {
    for (const SymbolResult& s : kSymbols) {
      if (s.symbol != symbol) continue;
      std::string& slot = s.method == kSpf ? r.spf : s.method == kDkim ? r.dkim : r.dmarc;
      if (Strength(s.result) > Strength(slot)) slot = s.result;
    }
  }
  return r;
}

std::string FormatAuthResults(std::string_view authserv_id, const AuthResults& results,
                              std::string_view mailfrom_domain,
                              std::string_view header_from_domain) {
  std::string id;
  for (char c : authserv_id) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') {
      id.push_back(c);
    }
  }
  if (id.empty()) id = "localhost";
  const std::string mailfrom = CleanDomain(mailfrom_domain);
  const std::string header_from = CleanDomain(header_from_domain);

  // Folded before each method (CRLF SP), so that unfolding gives "id; spf=…; dkim=…; dmarc=…".
  std::string out = "Authentication-Results: " + id + ";\r\n spf=";
  out.append(Keyword(results.spf));
  if (!mailfrom.empty()) out.append(" smtp.mailfrom=").append(mailfrom);
  out.append(";\r\n dkim=").append(Keyword(results.dkim));
  out.append(";\r\n dmarc=").append(Keyword(results.dmarc));
  if (!header_from.empty()) out.append(" header.from=").append(header_from);
  return out;
}

std::vector<std::uint32_t> FindOwnAuthResults(std::string_view message,
                                              std::string_view authserv_id) {
  std::vector<std::uint32_t> found;
  const std::string_view ours = DropTrailingDot(authserv_id);
  if (ours.empty()) return found;
  const std::vector<HeaderField> fields = ParseHeaderFields(HeaderSection(message));
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (!HeaderNameIs(fields[i], "Authentication-Results")) continue;
    const std::string value = UnfoldedValue(fields[i]);
    const std::size_t start = SkipCfws(value, 0);
    if (start == std::string::npos) continue;
    if (EqualsIgnoreCase(DropTrailingDot(ReadValue(value, start)), ours)) {
      found.push_back(static_cast<std::uint32_t>(i));
    }
  }
  return found;
}

std::string HeaderFromDomain(std::string_view message) {
  const std::optional<std::string> from = FirstHeaderValue(HeaderSection(message), "From");
  if (!from) return std::string();
  const std::optional<std::string> mailbox = SingleMailbox(*from);
  if (!mailbox) return std::string();
  const std::size_t at = mailbox->rfind('@');
  if (at == std::string::npos) return std::string();
  std::string_view domain = std::string_view(*mailbox).substr(at + 1);
  const std::size_t b = domain.find_first_not_of(" \t");
  if (b == std::string_view::npos) return std::string();
  domain = domain.substr(b, domain.find_last_not_of(" \t") - b + 1);
  return CleanDomain(domain);
}

}  // namespace tidegate::mail
