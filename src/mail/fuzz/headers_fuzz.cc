// headers_fuzz.cc — libFuzzer target for the header and MIME header-value readers.
//
// HeaderSection, ParseHeaderFields, FirstHeaderValue and CountHeaders on arbitrary bytes, plus the
// Content-Type, quoted-printable and base64 decoders and the multipart splitter; checks that every
// returned view lies inside its input and that unfolded values carry no line breaks.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mail/headers.h"
#include "mail/mime.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

bool Inside(std::string_view inner, std::string_view outer) {
  return inner.empty() || (inner.data() >= outer.data() &&
                           inner.data() + inner.size() <= outer.data() + outer.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tidegate::mail;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  const std::string_view section = HeaderSection(bytes);
  Check(section.data() == bytes.data() && section.size() <= bytes.size());
  for (const HeaderField& field : ParseHeaderFields(section)) {
    Check(Inside(field.raw, section) && Inside(field.name, field.raw));
    Check(!field.name.empty());
    const auto value = FirstHeaderValue(section, field.name);
    Check(value.has_value());
    Check(value->find_first_of("\r\n") == std::string::npos);
    Check(CountHeaders(section, field.name) >= 1);
  }

  const std::optional<std::string> type_value = FirstHeaderValue(section, "Content-Type");
  const ContentType type = ParseContentType(type_value.value_or(std::string(bytes)));
  const std::string boundary = type.Param("boundary");
  const std::string_view body = BodyOf(bytes);
  Check(Inside(body, bytes));
  const Multipart mp = SplitMultipart(body, boundary, 64);
  for (const MimePart& part : mp.parts) {
    Check(Inside(part.headers, body) && Inside(part.body, body));
  }
  Check(DecodeQuotedPrintable(bytes).size() <= 2 * bytes.size());  // LF may become CRLF
  Check(DecodeBase64(bytes).size() <= bytes.size());
  Check(FoldHeader("Subject", bytes).find('\0') == std::string::npos);
  return 0;
}
