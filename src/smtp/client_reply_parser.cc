#include "smtp/client_reply_parser.h"

#include <cassert>
#include <utility>

namespace tidegate::smtp {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads "d{1,3}" at text[*pos]; advances *pos. False if there is no digit.
bool ReadDigits(std::string_view text, std::size_t* pos) {
  std::size_t start = *pos;
  while (*pos < text.size() && *pos - start < 3 && IsDigit(text[*pos])) ++*pos;
  return *pos > start;
}

// The RFC 3463 enhanced status code at the start of text ("class.subject.detail" followed by a
// space or the end), or empty. The class must agree with the reply code's first digit: a server
// that says "250 5.0.0" is not telling us anything we can rely on.
std::string EnhancedCode(std::string_view text, int code) {
  if (text.size() < 5) return {};
  char cls = text[0];
  if (cls != static_cast<char>('0' + code / 100) || text[1] != '.') return {};
  std::size_t pos = 2;
  if (!ReadDigits(text, &pos) || pos >= text.size() || text[pos] != '.') return {};
  ++pos;
  if (!ReadDigits(text, &pos)) return {};
  if (pos < text.size() && text[pos] != ' ') return {};
  return std::string(text.substr(0, pos));
}

}  // namespace

std::string ServerReply::Text() const {
  std::string text;
  for (const std::string& line : lines) {
    if (!text.empty()) text += ' ';
    text += line;
  }
  return text;
}

ServerReply MakeLocalReply(int code, std::string enhanced, std::string text) {
  ServerReply reply;
  reply.code = code;
  reply.lines.push_back(enhanced.empty() ? text : enhanced + " " + text);
  reply.enhanced = std::move(enhanced);
  reply.synthetic = true;
  return reply;
}

void ReplyParser::Reset() {
  line_.clear();
  current_ = ServerReply();
  reply_bytes_ = 0;
  failed_ = false;
  error_.clear();
}

ReplyParser::Result ReplyParser::Fail(std::string message, std::string* error) {
  failed_ = true;
  error_ = std::move(message);
  *error = error_;
  line_.clear();
  current_ = ServerReply();
  reply_bytes_ = 0;
  return Result::kError;
}

ReplyParser::Result ReplyParser::Feed(std::string_view input, std::size_t* consumed,
                                      ServerReply* out, std::string* error) {
  assert(consumed != nullptr && out != nullptr && error != nullptr);
  *consumed = 0;
  if (failed_) {
    *error = error_;
    return Result::kError;
  }
  std::size_t pos = 0;
  while (pos < input.size()) {
    std::size_t lf = input.find('\n', pos);
    std::size_t end = lf == std::string_view::npos ? input.size() : lf + 1;
    std::string_view piece = input.substr(pos, end - pos);
    // Limits are checked before buffering so that a hostile peer cannot make us hold more than
    // the caps, however it splits its bytes. The line cap allows for "CR LF" after the text.
    std::size_t line_bytes = line_.size() + piece.size();
    std::size_t terminator = lf == std::string_view::npos ? 0 : 1;
    if (line_bytes - terminator > kMaxLineBytes + 1) {
      *consumed = pos;
      return Fail("reply line longer than " + std::to_string(kMaxLineBytes) + " bytes", error);
    }
    if (reply_bytes_ + line_bytes > kMaxReplyBytes) {
      *consumed = pos;
      return Fail("reply longer than " + std::to_string(kMaxReplyBytes) + " bytes", error);
    }
    if (piece.find('\0') != std::string_view::npos) {
      *consumed = pos;
      return Fail("NUL byte in reply", error);
    }
    line_.append(piece);
    pos = end;
    if (lf == std::string_view::npos) break;
    Result r = ProcessLine(error);
    if (r == Result::kError) {
      *consumed = pos;
      return r;
    }
    if (r == Result::kReply) {
      *consumed = pos;
      *out = std::move(current_);
      current_ = ServerReply();
      reply_bytes_ = 0;
      return r;
    }
  }
  *consumed = pos;
  return Result::kNeedMore;
}

ReplyParser::Result ReplyParser::ProcessLine(std::string* error) {
  assert(!line_.empty() && line_.back() == '\n');
  std::size_t raw_size = line_.size();
  std::string_view line(line_);
  line.remove_suffix(1);
  bool bare_lf = true;
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
    bare_lf = false;
  }
  if (line.size() > kMaxLineBytes) {
    return Fail("reply line longer than " + std::to_string(kMaxLineBytes) + " bytes", error);
  }
  // Reply text ends up in logs, DSNs and tracking: control bytes (a CR smuggled mid-line, escape
  // sequences) have no legitimate use there. Tabs are allowed by RFC 5321's textstring.
  for (char c : line) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      return Fail("control character in reply", error);
    }
  }
  if (line.size() < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) || !IsDigit(line[2]) ||
      line[0] < '2' || line[0] > '5' || line[1] > '5') {
    return Fail("malformed reply code", error);
  }
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  bool last;
  if (line.size() == 3) {
    last = true;  // "250" alone: allowed for the last line (the text is optional)
  } else if (line[3] == ' ') {
    last = true;
  } else if (line[3] == '-') {
    last = false;
  } else {
    return Fail("malformed reply line (no space or '-' after the code)", error);
  }
  if (current_.lines.empty()) {
    current_.code = code;
  } else if (current_.code != code) {
    return Fail("reply code changed within a multi-line reply (" + std::to_string(current_.code) +
                    " then " + std::to_string(code) + ")",
                error);
  }
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
  if (current_.lines.empty()) current_.enhanced = EnhancedCode(text, code);
  current_.lines.emplace_back(text);
  current_.bare_lf = current_.bare_lf || bare_lf;
  reply_bytes_ += raw_size;
  line_.clear();
  return last ? Result::kReply : Result::kNeedMore;
}

}  // namespace tidegate::smtp
