// reply.cc — SMTP reply rendering (see reply.h).
#include "smtp/reply.h"

#include <cassert>

namespace tidegate::smtp {
namespace {

bool IsPrintableAscii(unsigned char c) { return c >= 0x20 && c < 0x7f; }

void AppendSanitized(std::string_view text, std::string* out) {
  for (unsigned char c : text) out->push_back(IsPrintableAscii(c) ? static_cast<char>(c) : '?');
}

}  // namespace

std::string Reply::Wire() const {
  assert(code >= 200 && code <= 599);
  const std::string code_text = std::to_string(code);
  std::string out;
  if (lines.empty()) return code_text + "\r\n";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += code_text;
    // RFC 5321 §4.2.1: every line but the last carries '-' after the code.
    out.push_back(i + 1 < lines.size() ? '-' : ' ');
    AppendSanitized(lines[i], &out);
    out += "\r\n";
  }
  return out;
}

Reply MakeReply(int code, std::string_view enhanced, std::string_view text) {
  std::string line;
  if (!enhanced.empty()) {
    line.append(enhanced);
    line.push_back(' ');
  }
  line.append(text);
  return Reply{code, {std::move(line)}};
}

std::string SanitizeForReply(std::string_view text, std::size_t max_length) {
  std::string out;
  AppendSanitized(text.substr(0, max_length), &out);
  return out;
}

}  // namespace tidegate::smtp
