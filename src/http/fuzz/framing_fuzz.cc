// framing_fuzz.cc — libFuzzer target for the HTTP front's framing rules (http/framing.h).
//
// The first two input bytes pick the limits (head 64..8224 bytes, body 0..16320); the rest is
// what a client sent. Properties checked on every input:
//  - deterministic: Frame() twice on the same bytes gives the same verdict;
//  - a refusal is 400, 413 or 431 with a reason; kNeedMore only without CRLFCRLF within the limit;
//  - an accepted head ends in CRLFCRLF within the limit and, read by an independent line splitter,
//    has at most one Transfer-Encoding field whose value is exactly `chunked` (case-insensitive),
//    never TE together with Content-Length, at most one Content-Length of digits only, no bare
//    CR or LF and no folded line; the verdict's body framing matches what that reader found;
//  - appending bytes after an accepted or refused head does not change the verdict;
//  - when Beast's parser reads an accepted head without error, it sees the same framing (the
//    front refuses a difference; this looks for where the two readers disagree).
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/framing.h"

namespace {

using tidegate::http::Body;
using tidegate::http::Frame;
using tidegate::http::Limits;
using tidegate::http::Verdict;

void Check(bool condition) {
  if (!condition) std::abort();
}

bool Same(const Verdict& a, const Verdict& b) {
  return a.kind == b.kind && a.status == b.status && a.reason == b.reason &&
         a.head_size == b.head_size && a.version == b.version && a.body == b.body &&
         a.content_length == b.content_length;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The accepted head read again, independently: split at CRLF, look at every field line.
void CheckAccepted(std::string_view input, const Verdict& v, const Limits& limits) {
  Check(v.head_size >= 4 && v.head_size <= input.size() && v.head_size <= limits.max_header_bytes);
  std::string_view head = input.substr(0, v.head_size);
  Check(head.substr(head.size() - 4) == "\r\n\r\n");
  Check(head.find("\r\n\r\n") == head.size() - 4);
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n') Check(i > 0 && head[i - 1] == '\r');
    if (head[i] == '\r') Check(i + 1 < head.size() && head[i + 1] == '\n');
  }
  Check(v.version == 10 || v.version == 11);
  int te = 0;
  int cl = 0;
  bool chunked = false;
  std::string length_digits;
  std::size_t pos = head.find("\r\n") + 2;  // past the request line
  while (pos < head.size() - 2) {
    std::size_t end = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, end - pos);
    pos = end + 2;
    Check(!line.empty() && line[0] != ' ' && line[0] != '\t');
    std::size_t colon = line.find(':');
    Check(colon != std::string_view::npos && colon > 0);
    std::string name = Lower(line.substr(0, colon));
    Check(name.find(' ') == std::string::npos && name.find('\t') == std::string::npos);
    std::string_view value = Trim(line.substr(colon + 1));
    if (name == "transfer-encoding") {
      ++te;
      chunked = Lower(value) == "chunked";
      Check(chunked);  // never a TE other than exactly `chunked`
    } else if (name == "content-length") {
      ++cl;
      length_digits = std::string(value);
      Check(!value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos);
    }
  }
  Check(te <= 1 && cl <= 1);
  Check(!(te > 0 && cl > 0));  // never both
  if (te > 0) Check(v.version == 11 && v.body == Body::kChunked);
  if (cl > 0) {
    std::uint64_t n = std::stoull(length_digits);
    Check(n <= limits.max_body);
    Check(v.body == (n > 0 ? Body::kLength : Body::kNone) && v.content_length == (n > 0 ? n : 0));
  }
  if (te == 0 && cl == 0) Check(v.body == Body::kNone && v.content_length == 0);

  // Beast on the same head: where it reads it, it must read the same framing.
  boost::beast::http::request_parser<boost::beast::http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser.body_limit(limits.max_body);
  parser.eager(false);
  boost::system::error_code ec;
  std::size_t used = parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (!ec && parser.is_header_done()) {
    Check(used == head.size());
    Check(parser.chunked() == (v.body == Body::kChunked));
    Check(parser.content_length().value_or(0) == v.content_length);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  Limits limits;
  limits.max_header_bytes = 64 + std::size_t{data[0]} * 32;
  limits.max_body = std::size_t{data[1]} * 64;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  Verdict v = Frame(input, limits);
  Check(Same(v, Frame(input, limits)));
  switch (v.kind) {
    case Verdict::Kind::kNeedMore:
      Check(input.size() <= limits.max_header_bytes);
      Check(input.find("\r\n\r\n") == std::string_view::npos);
      break;
    case Verdict::Kind::kRefuse:
      Check(v.status == 400 || v.status == 413 || v.status == 431);
      Check(!v.reason.empty());
      break;
    case Verdict::Kind::kAccept:
      CheckAccepted(input, v, limits);
      break;
  }
  if (v.kind != Verdict::Kind::kNeedMore) {
    // What follows a decided head (a body, a pipelined or smuggled request) never changes it.
    std::string longer(input);
    longer += "GET /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n";
    Check(Same(v, Frame(longer, limits)));
  }
  return 0;
}
