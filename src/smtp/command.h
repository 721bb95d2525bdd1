// command.h — SMTP command lines and the arguments of MAIL and RCPT (RFC 5321 §4.1, RFC 1869
// parameters, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8).
//
// ParseCommand() splits one command line (without its CRLF) into a verb and its argument.
// ParseMailFrom()/ParseRcptTo() read the argument of MAIL/RCPT and, on failure, hand back the
// exact Reply to send, so that the server session does not have to map reasons to codes.
// No reply produced here echoes client bytes. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "base/result.h"
#include "mail/address.h"
#include "smtp/reply.h"

namespace tidegate::smtp {

enum class Verb {
  kEhlo,
  kHelo,
  kMail,
  kRcpt,
  kData,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kExpn,
  kHelp,
  kStartTls,
  kAuth,
  kBdat,
  kUnknown
};

struct Command {
  Verb verb = Verb::kUnknown;
  std::string verb_text;  // the verb as the client wrote it (case kept); never echo it unsanitized
  std::string arg;        // what follows the verb, without surrounding spaces/tabs; may be empty
};

// Splits a command line (without CRLF). The verb is matched case-insensitively; an unknown verb
// is not an error (Verb::kUnknown). Leading and trailing spaces/tabs are tolerated (common in the
// wild, harmless). Errors: an empty line, or a line containing NUL, CR or LF (a bare CR/LF
// inside a command is never legitimate and is how command smuggling is attempted).
base::Result<Command> ParseCommand(std::string_view line);

struct MailFromArgs {
  mail::Address sender;    // null() for MAIL FROM:<>
  std::uint64_t size = 0;  // SIZE=, 0 when not given; saturates at UINT64_MAX when absurdly large
  bool body_8bit = false;  // BODY=8BITMIME
  bool smtputf8 = false;   // SMTPUTF8
};

struct RcptToArgs {
  // The recipient. The special case RCPT TO:<Postmaster> (RFC 5321 §4.5.1: MUST be accepted
  // without a domain) comes back with local "Postmaster" as written and an empty domain; the
  // server session fills in its own hostname.
  mail::Address recipient;
};

// Parses the argument of MAIL ("FROM:<path> [params]"). `smtputf8_offered` is true when the
// client greeted with EHLO and thus was offered every extension of the EHLO reply (SIZE,
// 8BITMIME, SMTPUTF8); after HELO it is false and any parameter gets 555 5.5.4.
// Failure replies: 501 5.5.4 (syntax, bad parameter value), 501 5.1.7 (bad sender path),
// 553 5.6.7 (8-bit address without SMTPUTF8), 555 5.5.4 (unknown or unoffered parameter).
// The SIZE limit is not checked here (the caller knows it).
std::variant<MailFromArgs, Reply> ParseMailFrom(std::string_view arg, bool smtputf8_offered);

// Parses the argument of RCPT ("TO:<path>"). `smtputf8` is whether the transaction's MAIL carried
// SMTPUTF8. No RCPT parameter is offered (no DSN): any parameter gets 555 5.5.4.
// Failure replies: 501 5.5.4 (syntax), 501 5.1.3 (bad recipient path), 553 5.6.7.
std::variant<RcptToArgs, Reply> ParseRcptTo(std::string_view arg, bool smtputf8);

// True when the local part asks for source routing through us: '%' or '!' anywhere in it
// (quoted or not), or an '@' inside a quoted local part ("a@b"@gw). Such recipients are denied
// as relaying, before any lookup, so that a downstream MTA can never be tricked into routing.
bool HasRoutingLocalPart(const mail::Address& address);

// True if text is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view text);

}  // namespace tidegate::smtp
