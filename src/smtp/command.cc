// command.cc — SMTP command line and MAIL/RCPT argument parsing (see command.h).
#include "smtp/command.h"

#include <array>
#include <limits>
#include <utility>

namespace tidegate::smtp {
namespace {

using base::MakeError;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

char AsciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool EqualsCi(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiUpper(a[i]) != AsciiUpper(b[i])) return false;
  }
  return true;
}

bool StartsWithCi(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsCi(s.substr(0, prefix.size()), prefix);
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 5321 §4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
bool IsEsmtpKeyword(std::string_view s) {
  if (s.empty() || !IsAlnum(s[0])) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

// esmtp-value = 1*(%d33-60 / %d62-126): printable ASCII except '='.
bool IsEsmtpValue(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c < 33 || c > 126 || c == '=') return false;
  }
  return true;
}

// Digits only; saturates instead of overflowing, so that SIZE=99999999999999999999999 is simply
// "too big" (552) rather than a wrapped-around small number.
bool ParseDecimal(std::string_view s, std::uint64_t* out) {
  if (s.empty() || s.size() > 40) return false;
  std::uint64_t v = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    v = (v > (kMax - d) / 10) ? kMax : v * 10 + d;
  }
  *out = v;
  return true;
}

// Skips the spaces some clients put after "FROM:"/"TO:" (RFC 5321 forbids them, but every MTA
// tolerates them and refusing buys nothing).
std::string_view SkipSpaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

Reply SyntaxErrorInParameters() { return MakeReply(501, "5.5.4", "Syntax error in parameters"); }
Reply UnsupportedOption() { return MakeReply(555, "5.5.4", "Unsupported option"); }
Reply NeedSmtputf8() {
  return MakeReply(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 option");
}

bool AddressUtf8Ok(const mail::Address& a) { return IsValidUtf8(a.local) && IsValidUtf8(a.domain); }

struct VerbName {
  std::string_view name;
  Verb verb;
};
constexpr std::array<VerbName, 14> kVerbs = {{
    {"EHLO", Verb::kEhlo},
    {"HELO", Verb::kHelo},
    {"MAIL", Verb::kMail},
    {"RCPT", Verb::kRcpt},
    {"DATA", Verb::kData},
    {"RSET", Verb::kRset},
    {"NOOP", Verb::kNoop},
    {"QUIT", Verb::kQuit},
    {"VRFY", Verb::kVrfy},
    {"EXPN", Verb::kExpn},
    {"HELP", Verb::kHelp},
    {"STARTTLS", Verb::kStartTls},
    {"AUTH", Verb::kAuth},
    {"BDAT", Verb::kBdat},
}};

}  // namespace

base::Result<Command> ParseCommand(std::string_view line) {
  for (char c : line) {
    if (c == '\0') return MakeError("NUL in command line");
    if (c == '\r' || c == '\n') return MakeError("bare CR or LF in command line");
  }
  line = TrimBlanks(line);
  if (line.empty()) return MakeError("empty command line");
  std::size_t end = 0;
  while (end < line.size() && !IsBlank(line[end])) ++end;
  Command command;
  command.verb_text = std::string(line.substr(0, end));
  command.arg = std::string(TrimBlanks(line.substr(end)));
  for (const VerbName& v : kVerbs) {
    if (EqualsCi(command.verb_text, v.name)) {
      command.verb = v.verb;
      break;
    }
  }
  return command;
}

std::variant<MailFromArgs, Reply> ParseMailFrom(std::string_view arg, bool smtputf8_offered) {
  if (!StartsWithCi(arg, "FROM:")) return MakeReply(501, "5.5.4", "Syntax: MAIL FROM:<address>");
  std::string_view rest = SkipSpaces(arg.substr(5));
  std::size_t consumed = 0;
  // 8-bit is parsed here and judged below, once we know whether SMTPUTF8 follows the path.
  auto path = mail::ParsePath(rest, {.allow_null = true, .allow_utf8 = true}, consumed);
  if (!path) return MakeReply(501, "5.1.7", "Bad sender address syntax");
  MailFromArgs out;
  out.sender = std::move(*path);
  std::string_view params = rest.substr(consumed);
  if (!params.empty() && !IsBlank(params.front())) return SyntaxErrorInParameters();

  bool seen_size = false, seen_body = false, seen_smtputf8 = false;
  while (true) {
    params = TrimBlanks(params);
    if (params.empty()) break;
    std::size_t end = 0;
    while (end < params.size() && !IsBlank(params[end])) ++end;
    std::string_view token = params.substr(0, end);
    params.remove_prefix(end);
    const std::size_t eq = token.find('=');
    const std::string_view key = token.substr(0, eq);
    const bool has_value = eq != std::string_view::npos;
    const std::string_view value = has_value ? token.substr(eq + 1) : std::string_view();
    if (!IsEsmtpKeyword(key) || (has_value && !IsEsmtpValue(value))) {
      return SyntaxErrorInParameters();
    }
    // After HELO no extension was offered, so no parameter may be used (RFC 1869 §6).
    if (!smtputf8_offered) return UnsupportedOption();
    if (EqualsCi(key, "SIZE")) {
      if (seen_size) return MakeReply(501, "5.5.4", "Duplicate SIZE parameter");
      seen_size = true;
      if (!has_value || !ParseDecimal(value, &out.size)) {
        return MakeReply(501, "5.5.4", "Bad SIZE parameter syntax");
      }
    } else if (EqualsCi(key, "BODY")) {
      if (seen_body) return MakeReply(501, "5.5.4", "Duplicate BODY parameter");
      seen_body = true;
      if (has_value && EqualsCi(value, "7BIT")) {
        out.body_8bit = false;
      } else if (has_value && EqualsCi(value, "8BITMIME")) {
        out.body_8bit = true;
      } else {
        // BINARYMIME needs CHUNKING, which is not offered.
        return MakeReply(501, "5.5.4", "Unsupported BODY parameter value");
      }
    } else if (EqualsCi(key, "SMTPUTF8")) {
      if (seen_smtputf8) return MakeReply(501, "5.5.4", "Duplicate SMTPUTF8 parameter");
      seen_smtputf8 = true;
      if (has_value) return MakeReply(501, "5.5.4", "SMTPUTF8 takes no value");
      out.smtputf8 = true;
    } else {
      return UnsupportedOption();
    }
  }
  if (out.sender.has_utf8()) {
    if (!out.smtputf8) return NeedSmtputf8();
    if (!AddressUtf8Ok(out.sender)) return MakeReply(501, "5.1.7", "Bad sender address syntax");
  }
  return out;
}

std::variant<RcptToArgs, Reply> ParseRcptTo(std::string_view arg, bool smtputf8) {
  if (!StartsWithCi(arg, "TO:")) return MakeReply(501, "5.5.4", "Syntax: RCPT TO:<address>");
  std::string_view rest = SkipSpaces(arg.substr(3));
  RcptToArgs out;
  std::size_t consumed = 0;
  constexpr std::string_view kPostmaster = "<postmaster>";
  if (StartsWithCi(rest, kPostmaster)) {
    out.recipient.local = std::string(rest.substr(1, kPostmaster.size() - 2));
    consumed = kPostmaster.size();
  } else {
    auto path = mail::ParsePath(rest, {.allow_null = false, .allow_utf8 = true}, consumed);
    if (!path) return MakeReply(501, "5.1.3", "Bad recipient address syntax");
    out.recipient = std::move(*path);
  }
  std::string_view params = rest.substr(consumed);
  if (!params.empty() && !IsBlank(params.front())) return SyntaxErrorInParameters();
  // No RCPT parameter is offered (no DSN, RFC 3461), so any is unsupported.
  if (!TrimBlanks(params).empty()) return UnsupportedOption();
  if (out.recipient.has_utf8()) {
    if (!smtputf8) return NeedSmtputf8();
    if (!AddressUtf8Ok(out.recipient)) {
      return MakeReply(501, "5.1.3", "Bad recipient address syntax");
    }
  }
  return out;
}

bool HasRoutingLocalPart(const mail::Address& address) {
  const std::string local = address.local_unquoted();
  if (local.find_first_of("%!") != std::string::npos) return true;
  return address.quoted_local() && local.find('@') != std::string::npos;
}

bool IsValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, overlong lead (C0/C1) or beyond U+10FFFF (F5..FF)
    }
    if (i + len > text.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace tidegate::smtp
