// match.cc — see match.h.
#include "mail/match.h"

namespace tidegate::mail {
namespace {

char Fold(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// `lower` is already lower-case; `text` may be in any case.
bool EqualsFolded(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (Fold(text[i]) != lower[i]) return false;
  }
  return true;
}

}  // namespace

bool DomainPattern::Matches(std::string_view name) const {
  if (!subdomains) return EqualsFolded(name, domain);
  // At least one label, then a dot, then the domain.
  if (name.size() < domain.size() + 2) return false;
  const std::size_t dot = name.size() - domain.size() - 1;
  return name[dot] == '.' && name[dot - 1] != '.' && EqualsFolded(name.substr(dot + 1), domain);
}

base::Result<DomainPattern> ParseDomainPattern(std::string_view text) {
  DomainPattern pattern;
  if (!text.empty() && text.front() == '.') {
    pattern.subdomains = true;
    text.remove_prefix(1);
  }
  if (!IsValidDomain(text)) return base::MakeError("bad domain");
  pattern.domain = AsciiLower(text);
  return pattern;
}

bool AddressPattern::Matches(const Address& address) const {
  if (address.null()) return false;
  if (!local.empty() && !EqualsFolded(address.local_unquoted(), local_folded)) return false;
  return !domain || domain->Matches(address.domain);
}

base::Result<AddressPattern> ParseAddressPattern(std::string_view text) {
  const std::size_t at = text.rfind('@');
  if (at == std::string_view::npos) return base::MakeError("missing '@'");
  AddressPattern pattern;
  pattern.local = std::string(text.substr(0, at));
  const std::string_view domain = text.substr(at + 1);
  if (pattern.local.empty() && domain.empty()) return base::MakeError("empty pattern");
  if (!domain.empty()) {
    auto parsed = ParseDomainPattern(domain);
    if (!parsed) return parsed.error();
    pattern.domain = std::move(*parsed);
  }
  if (!pattern.local.empty()) {
    // The local part alone has no parser; a placeholder domain lets ParseMailbox judge it.
    if (auto probe = ParseMailbox(pattern.local + "@example.com"); !probe) {
      return base::MakeError("bad local part: " + probe.error().message);
    } else {
      pattern.local_folded = AsciiLower(probe->local_unquoted());
    }
  }
  return pattern;
}

}  // namespace tidegate::mail
