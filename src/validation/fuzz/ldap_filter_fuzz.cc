// ldap_filter_fuzz.cc — libFuzzer target for ExpandFilter / EscapeFilterValue (ldap_filter.h).
//
// The input is an address from a hostile client: the bytes up to the first 0x01 are the local
// part (raw, or quoted when it starts with '"'), the rest is the domain. Properties checked:
//  - EscapeFilterValue's output has no `*` `(` `)` NUL, and every `\` starts one of the five
//    escapes `\2a` `\28` `\29` `\5c` `\00`; decoding it gives the input back;
//  - the expansion of "(mail={a})" has exactly one unescaped `(` and one unescaped `)` (the
//    template's), no unescaped `*`, and decodes to the address;
//  - "(|(mail={a})(uid={u})(dc={d}))" keeps its four `(` and four `)` and nothing more.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "validation/ldap_filter.h"

namespace {

using tidegate::validation::EscapeFilterValue;
using tidegate::validation::ExpandFilter;

void Check(bool condition) {
  if (!condition) std::abort();
}

struct Counts {
  int open = 0, close = 0, star = 0;
};

// Counts unescaped specials and checks that each `\` is one of the five escapes; returns the
// decoded text in `decoded`.
Counts Scan(std::string_view text, std::string& decoded) {
  Counts counts;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    Check(c != '\0');
    if (c == '\\') {
      std::string_view hex = text.substr(i + 1, 2);
      Check(hex == "2a" || hex == "28" || hex == "29" || hex == "5c" || hex == "00");
      decoded += hex == "2a"   ? '*'
                 : hex == "28" ? '('
                 : hex == "29" ? ')'
                 : hex == "5c" ? '\\'
                               : '\0';
      i += 2;
      continue;
    }
    counts.open += c == '(';
    counts.close += c == ')';
    counts.star += c == '*';
    decoded += c;
  }
  return counts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto split = input.find('\x01');
  tidegate::mail::Address address;
  address.local = std::string(input.substr(0, split));
  address.domain = split == std::string_view::npos ? "" : std::string(input.substr(split + 1));

  std::string decoded;
  Counts escaped = Scan(EscapeFilterValue(input), decoded);
  Check(escaped.open == 0 && escaped.close == 0 && escaped.star == 0);
  Check(decoded == input);

  std::string value = address.local_unquoted() + "@" + address.domain;
  decoded.clear();
  Counts one = Scan(ExpandFilter("(mail={a})", address), decoded);
  Check(one.open == 1 && one.close == 1 && one.star == 0);
  Check(decoded == "(mail=" + value + ")");

  decoded.clear();
  Counts three = Scan(ExpandFilter("(|(mail={a})(uid={u})(dc={d}))", address), decoded);
  Check(three.open == 4 && three.close == 4 && three.star == 0);
  Check(decoded ==
        "(|(mail=" + value + ")(uid=" + address.local_unquoted() + ")(dc=" + address.domain + "))");
  return 0;
}
