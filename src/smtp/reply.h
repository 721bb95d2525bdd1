// reply.h — SMTP replies (RFC 5321 §4.2) with RFC 3463 enhanced status codes.
//
// A Reply is a plain value: a three-digit code and the text of each line (the enhanced code, when
// there is one, is part of that text). Wire() renders it for the network: "250-a\r\n250 b\r\n".
// Wire() is the last line of defence against reply injection: it replaces every byte that is not
// printable ASCII (CR, LF, NUL, other controls, 8-bit) with '?', so that nothing a client sent can
// ever split or forge a reply, whatever a caller put in the text.
// Pure values and functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tidegate::smtp {

struct Reply {
  int code = 0;                    // 200..599
  std::vector<std::string> lines;  // text of each line, enhanced code included; may be empty
  std::string Wire() const;        // "250-a\r\n250 b\r\n"; "250\r\n" when there are no lines

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
};

// One-line reply: "<enhanced> <text>", or just "<text>" when enhanced is empty.
Reply MakeReply(int code, std::string_view enhanced /* "2.1.0" or "" */, std::string_view text);

// Text safe to echo into a reply: printable ASCII only (anything else becomes '?'), cut to
// max_length bytes. Wire() does this anyway; use it when echoing client data on purpose.
std::string SanitizeForReply(std::string_view text, std::size_t max_length = 100);

}  // namespace tidegate::smtp
