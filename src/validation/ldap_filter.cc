// ldap_filter.cc — see ldap_filter.h.
#include "validation/ldap_filter.h"

namespace tidegate::validation {

std::string EscapeFilterValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '*':
        out += "\\2a";
        break;
      case '(':
        out += "\\28";
        break;
      case ')':
        out += "\\29";
        break;
      case '\\':
        out += "\\5c";
        break;
      case '\0':
        out += "\\00";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string ExpandFilter(std::string_view filter_template, const mail::Address& address) {
  const std::string local = address.local_unquoted();
  std::string out;
  out.reserve(filter_template.size() + 2 * (local.size() + address.domain.size()));
  for (std::size_t i = 0; i < filter_template.size(); ++i) {
    std::string_view rest = filter_template.substr(i);
    if (rest.starts_with("{a}")) {
      out += EscapeFilterValue(local + "@" + address.domain);
    } else if (rest.starts_with("{u}")) {
      out += EscapeFilterValue(local);
    } else if (rest.starts_with("{d}")) {
      out += EscapeFilterValue(address.domain);
    } else {
      out += filter_template[i];
      continue;
    }
    i += 2;
  }
  return out;
}

}  // namespace tidegate::validation
