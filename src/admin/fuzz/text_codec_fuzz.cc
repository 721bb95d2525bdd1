// text_codec_fuzz.cc — libFuzzer target for the admin server's text decoders (admin/text_codec.h):
// form and query decoding, percent-decoding, Base64 (HTTP Basic) and HTML escaping.
//
// The whole input is fed to every decoder. Properties checked on every input:
//  - ParseUrlEncoded: a parsed form has no empty name and no NUL anywhere; re-encoding it
//    (PercentEncode name=value joined by '&') parses back to the same map; it fails exactly when
//    some non-empty piece has a malformed escape (checked piece by piece with PercentDecode);
//  - PercentDecode: never longer than the input; decode(encode(x)) == x for x without NUL, with
//    and without plus_is_space; PercentEncode's output is unreserved characters and %XX only;
//  - Base64: decode(encode(x)) == x; a decodable input is as long as the re-encoding of what it
//    decodes to, and 3/4 of its length minus padding;
//  - HtmlEscape: no < > " ' left, every & starts one of the five entities, and unescaping gives
//    the input back; AsciiLower keeps the length and is idempotent.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "admin/text_codec.h"

namespace {

namespace admin = tidegate::admin;

void Check(bool condition) {
  if (!condition) std::abort();
}

bool Unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void CheckEncoded(std::string_view encoded) {
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '%') {
      Check(i + 2 < encoded.size());
      i += 2;
    } else {
      Check(Unreserved(encoded[i]));
    }
  }
}

void CheckForm(std::string_view input) {
  auto form = admin::ParseUrlEncoded(input);
  // Independent verdict: fails iff a non-empty piece has a bad escape in name or value.
  bool bad = false;
  std::string_view rest = input;
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view piece = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (piece.empty()) continue;
    std::size_t eq = piece.find('=');
    if (!admin::PercentDecode(piece.substr(0, eq), true) ||
        (eq != std::string_view::npos && !admin::PercentDecode(piece.substr(eq + 1), true))) {
      bad = true;
      break;
    }
  }
  Check(form.ok() != bad);
  if (!form) return;
  std::string again;
  for (const auto& [name, value] : *form) {
    Check(!name.empty());
    Check(name.find('\0') == std::string::npos && value.find('\0') == std::string::npos);
    if (!again.empty()) again += '&';
    again += admin::PercentEncode(name) + "=" + admin::PercentEncode(value);
  }
  auto reparsed = admin::ParseUrlEncoded(again);
  Check(reparsed.ok() && *reparsed == *form);
}

void CheckPercent(std::string_view input) {
  for (bool plus : {false, true}) {
    auto decoded = admin::PercentDecode(input, plus);
    if (decoded) Check(decoded->size() <= input.size());
  }
  std::string encoded = admin::PercentEncode(input);
  CheckEncoded(encoded);
  if (input.find('\0') == std::string_view::npos) {
    for (bool plus : {false, true}) {
      auto back = admin::PercentDecode(encoded, plus);
      Check(back.ok() && *back == input);
    }
  }
}

void CheckBase64(std::string_view input) {
  std::string encoded = admin::Base64Encode(input);
  Check(encoded.size() == (input.size() + 2) / 3 * 4);
  auto back = admin::Base64Decode(encoded);
  Check(back.ok() && *back == input);
  auto decoded = admin::Base64Decode(input);
  if (decoded) {
    Check(input.size() % 4 == 0);
    Check(admin::Base64Encode(*decoded).size() == input.size());
    std::size_t pad = input.ends_with("==") ? 2 : input.ends_with("=") ? 1 : 0;
    Check(decoded->size() == input.size() / 4 * 3 - pad);
  }
}

void CheckHtml(std::string_view input) {
  std::string escaped = admin::HtmlEscape(input);
  Check(escaped.find_first_of("<>\"'") == std::string::npos);
  std::string back;
  for (std::size_t i = 0; i < escaped.size();) {
    if (escaped[i] != '&') {
      back += escaped[i++];
      continue;
    }
    bool matched = false;
    for (auto [entity, c] : {std::pair<std::string_view, char>{"&amp;", '&'},
                             {"&lt;", '<'},
                             {"&gt;", '>'},
                             {"&quot;", '"'},
                             {"&#39;", '\''}}) {
      if (std::string_view(escaped).substr(i).starts_with(entity)) {
        back += c;
        i += entity.size();
        matched = true;
        break;
      }
    }
    Check(matched);
  }
  Check(back == input);
  std::string lower = admin::AsciiLower(input);
  Check(lower.size() == input.size() && admin::AsciiLower(lower) == lower);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckForm(input);
  CheckPercent(input);
  CheckBase64(input);
  CheckHtml(input);
  return 0;
}
