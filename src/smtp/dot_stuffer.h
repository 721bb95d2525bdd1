// dot_stuffer.h — transparency for the DATA phase (RFC 5321 §4.5.2), client side.
//
// DotStuff() turns a message body into the exact bytes to send after "354": every line that
// starts with '.' gets a second '.', the body is made to end with CRLF, and the terminating
// ".\r\n" is appended. DotStuffer does the same incrementally for bodies read in chunks; the
// output is identical for every way of splitting the input.
//
// Bodies are expected with CRLF line endings (the spool guarantees it). Defensively, a bare CR or
// a bare LF is sent as CRLF: servers disagree on whether a lone CR or LF ends a line, and that
// disagreement is what SMTP smuggling ("\n.\n" ending the message early at the next hop)
// exploits. With CRLF input the output is the input, stuffed.
//
// Thread-safety: DotStuff() is a pure function; a DotStuffer is a plain value used by one thread.
#pragma once

#include <string>
#include <string_view>

namespace tidegate::smtp {

// The stuffed body followed by ".\r\n".
std::string DotStuff(std::string_view body);

class DotStuffer {
 public:
  // Appends the stuffed form of chunk to *out. Must not be called after Finish().
  void Feed(std::string_view chunk, std::string* out);
  // Appends the final CRLF if the body did not end with one, then ".\r\n". Call exactly once.
  void Finish(std::string* out);

 private:
  bool at_line_start_ = true;  // the next byte begins a line (after CRLF, or at the very start)
  bool pending_cr_ = false;    // the last byte was a CR whose LF has not been seen yet
  bool finished_ = false;
};

}  // namespace tidegate::smtp
