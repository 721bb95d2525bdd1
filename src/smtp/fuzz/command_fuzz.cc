// command_fuzz.cc — libFuzzer target for the SMTP command parser (smtp/command.h).
//
// The first input byte picks the flags (EHLO or HELO session, SMTPUTF8 on MAIL); the rest is one
// command line. Properties checked on every input:
//  - ParseCommand() refuses every line with CR, LF or NUL, and otherwise returns a verb and an
//    argument that are slices of the line without surrounding blanks; the verb is known exactly
//    when its text matches one case-insensitively;
//  - ParseMailFrom()/ParseRcptTo() on the argument (and on the raw line) either give addresses
//    free of controls, 8-bit only with SMTPUTF8 and valid UTF-8, or a Reply whose code and
//    enhanced code are of the documented set and whose text never echoes the input;
//  - Reply::Wire() of every reply is printable ASCII lines ending in CRLF.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "smtp/command.h"
#include "smtp/reply.h"

namespace {

using namespace tidegate::smtp;

void Check(bool condition) {
  if (!condition) std::abort();
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

bool Contains(std::string_view outer, std::string_view inner) {
  return outer.find(inner) != std::string_view::npos;
}

void CheckWire(const Reply& reply) {
  const std::string wire = reply.Wire();
  Check(wire.size() >= 5 && wire.substr(wire.size() - 2) == "\r\n");
  std::size_t pos = 0;
  while (pos < wire.size()) {
    const std::size_t end = wire.find("\r\n", pos);
    Check(end != std::string::npos);
    for (std::size_t i = pos; i < end; ++i) {
      const unsigned char c = static_cast<unsigned char>(wire[i]);
      Check(c >= 0x20 && c < 0x7f);
    }
    pos = end + 2;
  }
}

// The failure replies command.h documents, and nothing else.
void CheckFailure(const Reply& reply, std::string_view input, bool rcpt) {
  Check(reply.code == 501 || reply.code == 553 || reply.code == 555);
  Check(reply.lines.size() == 1);
  const std::string& text = reply.lines[0];
  if (reply.code == 553) Check(text.rfind("5.6.7 ", 0) == 0);
  if (reply.code == 555) Check(text.rfind("5.5.4 ", 0) == 0);
  if (reply.code == 501) {
    Check(text.rfind("5.5.4 ", 0) == 0 || text.rfind(rcpt ? "5.1.3 " : "5.1.7 ", 0) == 0);
  }
  // No client bytes in a reply. The fixed texts are made of letters, digits and " .:<>-", so an
  // input with any other byte (or 50+ bytes, longer than any fixed text) must not show up.
  constexpr std::string_view kTemplateBytes =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .:<>-";
  const bool template_like = input.find_first_not_of(kTemplateBytes) == std::string_view::npos;
  if (!input.empty() && (!template_like || input.size() >= 50)) Check(!Contains(text, input));
  CheckWire(reply);
}

void CheckAddress(const tidegate::mail::Address& a, bool utf8) {
  for (unsigned char c : a.local + a.domain) {
    Check(c >= 0x20 && c != 0x7f);
    if (c >= 0x80) Check(utf8);
  }
  if (utf8) Check(IsValidUtf8(a.local) && IsValidUtf8(a.domain));
}

void FuzzArgs(std::string_view arg, bool ehlo, bool utf8) {
  auto mail = ParseMailFrom(arg, ehlo);
  if (auto* args = std::get_if<MailFromArgs>(&mail)) {
    CheckAddress(args->sender, args->smtputf8);
    // After HELO no parameter may be accepted.
    if (!ehlo) Check(args->size == 0 && !args->body_8bit && !args->smtputf8);
  } else {
    CheckFailure(std::get<Reply>(mail), arg, false);
  }
  auto rcpt = ParseRcptTo(arg, utf8);
  if (auto* args = std::get_if<RcptToArgs>(&rcpt)) {
    CheckAddress(args->recipient, utf8);
    // Only <Postmaster> may come without a domain.
    if (args->recipient.domain.empty()) {
      Check(tidegate::mail::AsciiLower(args->recipient.local) == "postmaster");
    }
    HasRoutingLocalPart(args->recipient);
  } else {
    CheckFailure(std::get<Reply>(rcpt), arg, true);
  }
}

// An independent spelling of the verb table: upper-case, then look up.
Verb ReferenceVerb(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  static const std::pair<std::string_view, Verb> kTable[] = {
      {"EHLO", Verb::kEhlo}, {"HELO", Verb::kHelo}, {"MAIL", Verb::kMail},
      {"RCPT", Verb::kRcpt}, {"DATA", Verb::kData}, {"RSET", Verb::kRset},
      {"NOOP", Verb::kNoop}, {"QUIT", Verb::kQuit}, {"VRFY", Verb::kVrfy},
      {"EXPN", Verb::kExpn}, {"HELP", Verb::kHelp}, {"STARTTLS", Verb::kStartTls},
      {"AUTH", Verb::kAuth}, {"BDAT", Verb::kBdat}};
  for (const auto& [name, verb] : kTable) {
    if (upper == name) return verb;
  }
  return Verb::kUnknown;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool ehlo = (data[0] & 1) != 0;
  const bool utf8 = (data[0] & 2) != 0;
  const std::string_view line(reinterpret_cast<const char*>(data + 1), size - 1);

  auto command = ParseCommand(line);
  const bool has_forbidden = line.find_first_of(std::string_view("\r\n\0", 3)) != line.npos;
  if (has_forbidden) Check(!command.ok());
  if (command) {
    Check(!command->verb_text.empty());
    for (char c : command->verb_text) Check(!IsBlank(c));
    Check(Contains(line, command->verb_text));
    if (!command->arg.empty()) {
      Check(!IsBlank(command->arg.front()) && !IsBlank(command->arg.back()));
      Check(Contains(line, command->arg));
    }
    Check(command->verb == ReferenceVerb(command->verb_text));
    FuzzArgs(command->arg, ehlo, utf8);
  } else {
    Check(has_forbidden || line.find_first_not_of(" \t") == line.npos);
  }
  FuzzArgs(line, ehlo, utf8);
  IsValidUtf8(line);
  Check(SanitizeForReply(line).size() <= 100);
  return 0;
}
