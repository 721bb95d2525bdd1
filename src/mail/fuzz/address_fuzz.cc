// address_fuzz.cc — libFuzzer target for the envelope address parser (mail/address.h).
//
// The first input byte picks the PathOptions; the rest is what follows "MAIL FROM:"/"RCPT TO:".
// Properties checked on every input:
//  - nothing ParsePath()/ParseMailbox() returns contains CR, LF, NUL or another control byte
//    (address.h promises it; a control in an address would reach headers, logs and the spool);
//  - `consumed` lies inside the input and ends on the closing '>';
//  - round trip: "<" + local + "@" + domain + ">" parses back to the same Address with
//    consumed == its length, and str() parses back as a mailbox (source routes are dropped, so
//    the re-serialised path is the canonical one);
//  - without allow_utf8 no byte >= 0x80 gets through;
//  - patterns (mail/match.h): a parsed domain or address pattern re-parses from its str() to the
//    same pattern; an exact domain pattern matches its own text; an address pattern matches the
//    mailbox it was written as.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mail/address.h"
#include "mail/match.h"

namespace {

using tidegate::mail::Address;
using tidegate::mail::ParseMailbox;
using tidegate::mail::ParsePath;
using tidegate::mail::PathOptions;

void Check(bool condition) {
  if (!condition) std::abort();
}

bool Clean(std::string_view s, bool allow_utf8) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
    if (c >= 0x80 && !allow_utf8) return false;
  }
  return true;
}

void CheckAddress(const Address& a, bool allow_utf8) {
  Check(Clean(a.local, allow_utf8) && Clean(a.domain, allow_utf8));
  // Either both parts or neither (the null path).
  Check(a.local.empty() == a.domain.empty());
  Check(Clean(a.local_unquoted(), allow_utf8));
  Check(a.has_utf8() == (!Clean(a.local, false) || !Clean(a.domain, false)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  PathOptions options;
  options.allow_null = (data[0] & 1) != 0;
  options.allow_utf8 = (data[0] & 2) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  std::size_t consumed = 12345;
  auto path = ParsePath(text, options, consumed);
  if (path) {
    Check(consumed >= 2 && consumed <= text.size() && text[consumed - 1] == '>');
    CheckAddress(*path, options.allow_utf8);
    Check(options.allow_null || !path->null());
    const std::string canonical = "<" + path->str() + ">";
    std::size_t again_consumed = 0;
    auto again = ParsePath(canonical, options, again_consumed);
    Check(again.ok());
    Check(*again == *path);
    Check(again_consumed == canonical.size());
    if (!path->null()) {
      auto mailbox = ParseMailbox(path->str(), options.allow_utf8);
      Check(mailbox.ok() && *mailbox == *path);
    }
  } else {
    Check(consumed == 0);
    Check(!path.error().message.empty());
  }

  auto mailbox = ParseMailbox(text, options.allow_utf8);
  if (mailbox) {
    CheckAddress(*mailbox, options.allow_utf8);
    Check(!mailbox->null() && mailbox->str() == text);
  }
  tidegate::mail::IsValidDomain(text, options.allow_utf8);

  if (auto domain = tidegate::mail::ParseDomainPattern(text)) {
    auto again = tidegate::mail::ParseDomainPattern(domain->str());
    Check(again.ok() && *again == *domain);
    Check(domain->subdomains || domain->Matches(text));
    Check(!domain->Matches(domain->str() + "."));
  }
  if (auto pattern = tidegate::mail::ParseAddressPattern(text)) {
    auto again = tidegate::mail::ParseAddressPattern(pattern->str());
    Check(again.ok() && again->str() == pattern->str() &&
          again->local_folded == pattern->local_folded);
    Check(!pattern->Matches(Address{}));
    if (mailbox) Check(pattern->Matches(*mailbox));
  }
  return 0;
}
