// rspamd_reply_fuzz.cc — libFuzzer target for ParseRspamdReply (engines/verdicts.h).
//
// The input is a /checkv2 reply body as a hostile or broken rspamd could send it. Properties
// checked on every input:
//  - deterministic: two parses give the same outcome;
//  - an error is "malformed reply: ..."; an accepted reply's verdict is the §10 mapping of its
//    action (reject → positive; add header, rewrite subject → suspect; no action, greylist,
//    soft reject → negative) and its scores are finite;
//  - symbols are sorted;
//  - every add_headers entry is safe to put in a message: the name is printable ASCII without
//    ':' or space, the value holds no CR, LF, NUL or other control byte but HTAB.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engines/verdicts.h"

namespace {

using tidegate::engines::ParseRspamdReply;
using tidegate::engines::SpamVerdict;

void Check(bool condition) {
  if (!condition) std::abort();
}

SpamVerdict Expected(std::string_view action) {
  if (action == "reject") return SpamVerdict::kPositive;
  if (action == "add header" || action == "rewrite subject") return SpamVerdict::kSuspect;
  Check(action == "no action" || action == "greylist" || action == "soft reject");
  return SpamVerdict::kNegative;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto r = ParseRspamdReply(input);
  auto again = ParseRspamdReply(input);
  Check(r.ok() == again.ok());
  if (!r.ok()) {
    Check(r.error().message.rfind("malformed reply: ", 0) == 0);
    Check(r.error().message == again.error().message);
    return 0;
  }
  Check(r->verdict == Expected(r->action));
  Check(std::isfinite(r->score) && std::isfinite(r->required_score));
  Check(std::is_sorted(r->symbols.begin(), r->symbols.end()));
  Check(r->symbols == again->symbols && r->add_headers == again->add_headers);
  for (const auto& [name, value] : r->add_headers) {
    Check(!name.empty());
    for (char c : name) Check(c >= 33 && c <= 126 && c != ':');
    for (char c : value) {
      auto u = static_cast<unsigned char>(c);
      Check(c == '\t' || (u >= 0x20 && u != 0x7f));
    }
  }
  return 0;
}
