// framing.cc — see framing.h.
#include "http/framing.h"

namespace tidegate::http {

namespace {

constexpr std::string_view kEnd = "\r\n\r\n";
constexpr std::size_t kMaxLengthDigits = 18;  // below 2^63: no overflow

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Field-value bytes: VCHAR, SP, HTAB and obs-text; no other control byte.
bool IsValueChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Verdict Refuse(int status, std::string reason) {
  Verdict v;
  v.kind = Verdict::Kind::kRefuse;
  v.status = status;
  v.reason = std::move(reason);
  return v;
}

// `line` without its CRLF.
bool ParseRequestLine(std::string_view line, unsigned& version) {
  std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || !IsToken(line.substr(0, sp1))) return false;
  std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
  for (char c : line.substr(sp1 + 1, sp2 - sp1 - 1)) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  std::string_view proto = line.substr(sp2 + 1);
  if (proto == "HTTP/1.1") {
    version = 11;
  } else if (proto == "HTTP/1.0") {
    version = 10;
  } else {
    return false;
  }
  return true;
}

}  // namespace

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

Verdict Frame(std::string_view buffered, const Limits& limits) {
  std::size_t end = buffered.find(kEnd);
  if (end == std::string_view::npos) {
    if (buffered.size() > limits.max_header_bytes) return Refuse(431, "request headers too large");
    return Verdict{};
  }
  const std::size_t head_size = end + kEnd.size();
  if (head_size > limits.max_header_bytes) return Refuse(431, "request headers too large");
  // The head without its final CRLFCRLF; every line in it ends in CRLF, and no CR or LF may
  // appear anywhere else (a bare LF is a line end to some parsers and not to others).
  std::string_view head = buffered.substr(0, end + 2);
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\r' && head[i + 1] != '\n') return Refuse(400, "bare CR in the request head");
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) {
      return Refuse(400, "bare LF in the request head");
    }
  }

  Verdict v;
  std::size_t eol = head.find("\r\n");
  if (!ParseRequestLine(head.substr(0, eol), v.version)) return Refuse(400, "bad request line");

  int te_fields = 0;
  int cl_fields = 0;
  bool te_chunked = false;
  std::uint64_t length = 0;
  std::size_t pos = eol + 2;
  while (pos < head.size()) {
    std::size_t next = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, next - pos);
    pos = next + 2;
    if (line.front() == ' ' || line.front() == '\t') {
      return Refuse(400, "obsolete line folding in a header");
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Refuse(400, "header line without a colon");
    std::string_view name = line.substr(0, colon);
    if (!IsToken(name)) {
      // Covers "Transfer-Encoding : chunked": whitespace before the colon (RFC 9112 §5.1).
      return Refuse(400, "bad header name");
    }
    std::string_view value = line.substr(colon + 1);
    for (char c : value) {
      if (!IsValueChar(c)) return Refuse(400, "control character in a header value");
    }
    value = TrimOws(value);
    if (IEquals(name, "transfer-encoding")) {
      ++te_fields;
      te_chunked = IEquals(value, "chunked");
      if (te_fields > 1 || !te_chunked) {
        return Refuse(400, "unsupported Transfer-Encoding (only a single `chunked` is accepted)");
      }
    } else if (IEquals(name, "content-length")) {
      if (++cl_fields > 1) return Refuse(400, "more than one Content-Length");
      if (value.empty() || value.size() > kMaxLengthDigits)
        return Refuse(400, "bad Content-Length");
      for (char c : value) {
        if (c < '0' || c > '9') return Refuse(400, "bad Content-Length");
        length = length * 10 + static_cast<std::uint64_t>(c - '0');
      }
    }
  }
  if (te_fields > 0 && cl_fields > 0) {
    return Refuse(400, "Content-Length together with Transfer-Encoding");
  }
  if (te_fields > 0 && v.version == 10) {
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    return Refuse(400, "Transfer-Encoding in an HTTP/1.0 request");
  }
  if (cl_fields > 0 && length > limits.max_body) return Refuse(413, "request body too large");

  v.kind = Verdict::Kind::kAccept;
  v.head_size = head_size;
  if (te_chunked) {
    v.body = Body::kChunked;
  } else if (cl_fields > 0 && length > 0) {
    v.body = Body::kLength;
    v.content_length = length;
  }
  return v;
}

}  // namespace tidegate::http
