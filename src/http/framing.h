// framing.h — the request framing rules of the HTTP front (RFC 9112), sans I/O: given the bytes
// a connection has buffered, decide whether a complete request head is there, and whether it is
// accepted (with how its body is delimited) or refused with 400, 413 or 431.
//
// The rules are deliberately stricter than RFC 9112 allows a recipient to be, because a framing
// that we and a proxy (or a second parser) could read differently is request smuggling:
//   - request line: `token SP 1*VCHAR SP HTTP/1.0|HTTP/1.1` CRLF, else 400;
//   - every line ends in CRLF; a bare CR or LF, a NUL or another control byte is 400;
//   - field lines: `token ":" OWS value OWS`; whitespace before the colon and obs-fold (a line
//     starting with SP/HTAB) are 400;
//   - Transfer-Encoding: allowed once, in HTTP/1.1 only, with the value exactly `chunked`
//     (case-insensitive); anything else (gzip, identity, xchunked, "chunked, identity", two
//     fields) is 400;
//   - Content-Length: at most one field, 1–18 digits, else 400; together with Transfer-Encoding
//     400 (RFC 9112 §6.1 lets a server treat that as an error); larger than max_body 413;
//   - a head (request line to the empty line) longer than max_header_bytes is 431.
// Every refusal closes the connection after the reply: nothing after a bad head is ever read as
// a request. Pure functions on values; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tidegate::http {

struct Limits {
  std::size_t max_header_bytes = 16 * 1024;  // request line through the empty line
  std::size_t max_body = 1 << 20;            // decoded body bytes
};

enum class Body { kNone, kLength, kChunked };

struct Verdict {
  enum class Kind { kNeedMore, kAccept, kRefuse };
  Kind kind = Kind::kNeedMore;
  // kRefuse: 400, 413 or 431, and a short reason for the client (no input bytes in it).
  int status = 0;
  std::string reason;
  // kAccept: the head's length in the buffer (through CRLFCRLF) and how the body is framed.
  std::size_t head_size = 0;
  unsigned version = 11;  // 10 or 11
  Body body = Body::kNone;
  std::uint64_t content_length = 0;  // for Body::kLength

  bool accepted() const { return kind == Kind::kAccept; }
  bool refused() const { return kind == Kind::kRefuse; }
};

// Looks at the start of `buffered` (what the connection has read and not yet consumed). Without a
// complete head yet it answers kNeedMore, or 431 once more than max_header_bytes are buffered
// without one. Deterministic: the same bytes and limits give the same verdict.
Verdict Frame(std::string_view buffered, const Limits& limits);

// Whether `s` is an RFC 9110 token (a method or a header name): non-empty, tchar only.
bool IsToken(std::string_view s);

}  // namespace tidegate::http
