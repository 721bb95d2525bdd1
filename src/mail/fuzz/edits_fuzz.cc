// edits_fuzz.cc — libFuzzer target for mail/edits (RenderEdits, SerializeEdits, ParseEdits).
//
// Input (FuzzedDataProvider): up to 3 prepend fields, up to 4 remove indexes and a Subject tag,
// each arbitrary bytes, then the message (the rest). Checks: the rendered form keeps the original's
// bytes from HeaderSection(message).size() on, unchanged, at its end (the body is never lost or
// split); the rendered header section is exactly `head` and re-parses into the prepended fields
// (the well-formed ones), an added Subject if any, then the original's kept fields in order with
// their bytes; the Subject is tagged once (rendering again changes nothing); Parse(Serialize(e))
// == e exactly when e is valid; and any bytes ParseEdits accepts serialize back to themselves.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "mail/edits.h"
#include "mail/headers.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tidegate::mail;
  {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    auto parsed = ParseEdits(bytes);
    if (parsed.ok()) Check(parsed->valid() && SerializeEdits(*parsed) == bytes);
  }
  FuzzedDataProvider in(data, size);
  Edits e;
  const int prepends = in.ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < prepends; ++i) e.prepend.push_back(in.ConsumeRandomLengthString(80));
  const int removes = in.ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < removes; ++i)
    e.remove.push_back(in.ConsumeIntegralInRange<std::uint32_t>(0, 9));
  if (in.ConsumeBool()) e.subject_tag = in.ConsumeRandomLengthString(20);
  const std::string message = in.ConsumeRemainingBytesAsString();

  auto back = ParseEdits(SerializeEdits(e));
  Check(back.ok() == e.valid());
  if (back.ok()) Check(*back == e);

  const Rendered r = RenderEdits(message, e);
  const std::string_view section = HeaderSection(message);
  Check(r.body_from == section.size());
  const std::string out = ApplyEdits(message, e);
  Check(out == r.head + message.substr(r.body_from));
  Check(std::string_view(out).ends_with(std::string_view(message).substr(r.body_from)));
  Check(HeaderSection(out) == r.head);

  // Re-parse: the expected fields, in order.
  const std::vector<HeaderField> original = ParseHeaderFields(section);
  const std::vector<HeaderField> fields = ParseHeaderFields(r.head);
  std::size_t k = 0;
  bool prepended_subject = false;
  for (const std::string& p : e.prepend) {
    if (!IsWellFormedField(p)) continue;
    Check(k < fields.size() && fields[k].raw == p);
    prepended_subject |= HeaderNameIs(fields[k], "Subject");
    ++k;
  }
  const std::set<std::uint32_t> removed(e.remove.begin(), e.remove.end());
  bool has_kept_subject = false;
  for (std::size_t i = 0; i < original.size(); ++i) {
    if (!removed.count(static_cast<std::uint32_t>(i)) && HeaderNameIs(original[i], "Subject")) {
      has_kept_subject = true;
    }
  }
  const bool tagged = RenderEdits("", Edits{{}, {}, e.subject_tag}).head.size() > 0;
  if (tagged && !has_kept_subject) {
    Check(k < fields.size() && HeaderNameIs(fields[k], "Subject"));
    ++k;
  }
  bool subject_seen = false;
  for (std::size_t i = 0; i < original.size(); ++i) {
    if (removed.count(static_cast<std::uint32_t>(i))) continue;
    Check(k < fields.size() && fields[k].name == original[i].name);
    const bool is_tagged_subject = tagged && !subject_seen && HeaderNameIs(original[i], "Subject");
    subject_seen |= HeaderNameIs(original[i], "Subject");
    if (!is_tagged_subject) Check(fields[k].raw == original[i].raw);
    ++k;
  }
  Check(k == fields.size());

  // Tagging is idempotent: the tagged Subject already starts with the tag.
  if (tagged && !prepended_subject) {
    const Edits tag_only{{}, {}, e.subject_tag};
    Check(ApplyEdits(out, tag_only) == out);
  }
  return 0;
}
