// auth_results_fuzz.cc — libFuzzer target for mail/auth_results.
//
// Input: the first byte picks how much of the rest is the authserv-id (0–63 bytes); the rest is
// the message. FindOwnAuthResults must return increasing indexes of Authentication-Results fields
// that exist; FormatAuthResults, given the id, three results and two domains cut from the input,
// must produce one well-formed field (no bare CR/LF, no NUL) whose unfolded value has exactly the
// three methods and is recognised as ours by FindOwnAuthResults whenever the id is a clean token;
// HeaderFromDomain returns "" or a lower-case domain. Built only with -DTIDEGATE_FUZZ=ON and
// clang (`make fuzz`, docs/RELIABILITY.md).
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mail/auth_results.h"
#include "mail/edits.h"
#include "mail/headers.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tidegate::mail;
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t id_len = std::min<std::size_t>(data[0] % 64, bytes.size());
  const std::string_view id = bytes.substr(0, id_len);
  const std::string_view message = bytes.substr(id_len);

  const std::vector<HeaderField> fields = ParseHeaderFields(HeaderSection(message));
  const std::vector<std::uint32_t> own = FindOwnAuthResults(message, id);
  for (std::size_t i = 0; i < own.size(); ++i) {
    Check(own[i] < fields.size() && HeaderNameIs(fields[own[i]], "Authentication-Results"));
    if (i > 0) Check(own[i] > own[i - 1]);
  }

  const std::string domain = HeaderFromDomain(message);
  for (char c : domain)
    Check(c == '.' || c == '-' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');

  AuthResults r;
  r.spf = std::string(message.substr(0, 8));
  r.dkim = std::string(message.substr(std::min<std::size_t>(8, message.size()), 4));
  const std::string field = FormatAuthResults(id, r, message.substr(0, 40), id);
  Check(IsWellFormedField(field));
  Check(field.find('\0') == std::string::npos);
  const std::string rendered = field + "\r\n\r\n";
  const std::vector<HeaderField> out = ParseHeaderFields(HeaderSection(rendered));
  Check(out.size() == 1);
  const std::string value = UnfoldedValue(out[0]);
  Check(std::count(value.begin(), value.end(), ';') == 3);
  Check(value.find(" spf=") != std::string::npos && value.find(" dkim=") != std::string::npos &&
        value.find(" dmarc=") != std::string::npos);
  bool clean_id = !id.empty() && id != ".";
  for (char c : id) {
    clean_id &= std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  }
  if (clean_id) Check(FindOwnAuthResults(rendered, id) == std::vector<std::uint32_t>{0});
  return 0;
}
