// clamd_reply_fuzz.cc — libFuzzer target for ParseClamdReply and SplitSessionReply
// (engines/verdicts.h).
//
// The input is one line from a hostile or broken clamd (the client strips the NUL terminator).
// Properties checked on every input:
//  - deterministic; an error is "malformed reply: ...";
//  - SplitSessionReply: the id is the decimal digits before ": ", the rest is the input's tail;
//  - an accepted reply: negative only for exactly `stream: OK` (empty detail); positive and
//    unscannable carry a non-empty detail without control bytes; a `Heuristics.Encrypted.` or
//    `Heuristics.Limits.Exceeded.` name is never positive; a reply not ending in ` ERROR`, ` FOUND`
//    or ` OK` is never accepted.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engines/verdicts.h"

namespace {

using tidegate::engines::ParseClamdReply;
using tidegate::engines::SplitSessionReply;
using tidegate::engines::VirusVerdict;

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto split = SplitSessionReply(input)) {
    std::string_view digits = input.substr(0, input.size() - split->reply.size() - 2);
    Check(!digits.empty() && digits.size() <= 19);
    Check(digits.find_first_not_of("0123456789") == std::string_view::npos);
    std::uint64_t id = 0;
    for (char c : digits) id = id * 10 + static_cast<std::uint64_t>(c - '0');
    Check(split->id == id);
    Check(input.substr(digits.size(), 2) == ": ");
  }

  auto r = ParseClamdReply(input);
  auto again = ParseClamdReply(input);
  Check(r.ok() == again.ok());
  if (!r.ok()) {
    Check(r.error().message.rfind("malformed reply: ", 0) == 0);
    return 0;
  }
  Check(r->verdict == again->verdict && r->detail == again->detail);
  Check(input.ends_with(" ERROR") || input.ends_with(" FOUND") || input.ends_with(" OK"));
  if (r->verdict == VirusVerdict::kNegative) {
    Check(input == "stream: OK" && r->detail.empty());
    return 0;
  }
  Check(!r->detail.empty());
  for (char c : r->detail) {
    auto u = static_cast<unsigned char>(c);
    Check(u >= 0x20 && u != 0x7f);
  }
  if (r->verdict == VirusVerdict::kPositive) {
    Check(r->detail.rfind("Heuristics.Encrypted.", 0) != 0);
    Check(r->detail.rfind("Heuristics.Limits.Exceeded.", 0) != 0);
    Check(input == "stream: " + r->detail + " FOUND");
  }
  return 0;
}
