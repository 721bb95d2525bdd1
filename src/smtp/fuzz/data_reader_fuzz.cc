// data_reader_fuzz.cc — libFuzzer target for the DATA reader (server side, smtp/data_reader.h)
// and the dot-stuffer (client side, smtp/dot_stuffer.h), both checked against the simple
// whole-buffer reference implementations below.
//
// Input: byte 0 picks the size limit, byte 1 seeds the chunking, the rest is the byte stream
// after "354". Properties:
//  - DataReader fed in arbitrary chunks consumes exactly what the reference consumes, ends at the
//    same place, and yields the same message, size, too_big, bare_line_ending and has_nul;
//    after done() it consumes nothing;
//  - DotStuff(body) read back by DataReader is done exactly at its end and yields the body with
//    every bare CR or LF made CRLF and a final CRLF added (nothing flagged); DotStuffer fed in
//    chunks produces the same bytes as DotStuff().
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtp/data_reader.h"
#include "smtp/dot_stuffer.h"

namespace {

using tidegate::smtp::DataReader;
using tidegate::smtp::DotStuff;
using tidegate::smtp::DotStuffer;

void Check(bool condition) {
  if (!condition) std::abort();
}

// RFC 5321 §4.5.2 read the obvious way: lines end at CRLF only; a line ".": end of data;
// otherwise a leading '.' is dropped.
struct Reference {
  bool done = false;
  std::size_t consumed = 0;
  std::string message;  // complete lines only (what is certain before more bytes arrive)
};

Reference ReadReference(std::string_view in) {
  Reference r;
  std::size_t pos = 0;
  while (true) {
    if (in.substr(pos, 3) == ".\r\n") {
      r.done = true;
      r.consumed = pos + 3;
      return r;
    }
    const std::size_t end = in.find("\r\n", pos);
    if (end == std::string_view::npos) {
      r.consumed = in.size();
      return r;
    }
    std::string_view line = in.substr(pos, end - pos);
    if (!line.empty() && line.front() == '.') line.remove_prefix(1);
    r.message.append(line);
    r.message.append("\r\n");
    pos = end + 2;
  }
}

bool HasBareLineEnding(std::string_view m) {
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\r' && (i + 1 == m.size() || m[i + 1] != '\n')) return true;
    if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) return true;
  }
  return false;
}

// What the client side promises to send: bare CR and bare LF become CRLF; a final CRLF.
std::string NormalizeReference(std::string_view body) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\r') {
      out.append("\r\n");
      if (i + 1 < body.size() && body[i + 1] == '\n') ++i;
    } else if (body[i] == '\n') {
      out.append("\r\n");
    } else {
      out.push_back(body[i]);
    }
  }
  if (!out.empty() && !out.ends_with("\r\n")) out.append("\r\n");
  return out;
}

// Chunk sizes 1..64 from a small linear congruential sequence seeded by the input.
struct Chunker {
  std::uint32_t state;
  std::size_t Next() {
    state = state * 1103515245u + 12345u;
    return 1 + (state >> 16) % 64;
  }
};

// Feeds `in` in chunks; returns what the reader consumed in total.
std::size_t FeedChunked(DataReader& reader, std::string_view in, Chunker chunker,
                        std::string* out) {
  std::size_t pos = 0;
  while (pos < in.size()) {
    const std::string_view chunk = in.substr(pos, chunker.Next());
    const std::size_t used = reader.Feed(chunk, out);
    Check(used <= chunk.size());
    pos += used;
    if (reader.done()) break;
    Check(used == chunk.size());
  }
  return pos;
}

void CheckReader(std::string_view in, std::uint64_t max_size, Chunker chunker) {
  // A stream that never ends the data is completed, so the whole message can be compared.
  Reference ref = ReadReference(in);
  std::string completed;
  if (!ref.done) {
    completed = std::string(in) + "\r\n.\r\n";
    in = completed;
    ref = ReadReference(in);
    Check(ref.done);
  }
  DataReader reader(max_size);
  std::string out;
  const std::size_t consumed = FeedChunked(reader, in, chunker, &out);
  Check(reader.done());
  Check(consumed == ref.consumed);
  Check(reader.size() == ref.message.size());
  Check(reader.too_big() == (ref.message.size() > max_size));
  if (!reader.too_big()) {
    Check(out == ref.message);
  } else {
    Check(out.size() <= max_size);
  }
  Check(reader.bare_line_ending() == HasBareLineEnding(ref.message));
  Check(reader.has_nul() == (ref.message.find('\0') != std::string::npos));
  std::string more;
  Check(reader.Feed(in, &more) == 0 && more.empty());

  // Reset starts over with a clean state.
  reader.Reset(max_size);
  Check(!reader.done() && reader.size() == 0 && !reader.bare_line_ending() && !reader.has_nul());
}

void CheckStuffer(std::string_view body, Chunker chunker) {
  const std::string stuffed = DotStuff(body);
  std::string incremental;
  DotStuffer stuffer;
  for (std::size_t pos = 0; pos < body.size();) {
    const std::string_view chunk = body.substr(pos, chunker.Next());
    stuffer.Feed(chunk, &incremental);
    pos += chunk.size();
  }
  stuffer.Finish(&incremental);
  Check(incremental == stuffed);

  DataReader reader(UINT64_MAX);
  std::string back;
  const std::size_t consumed = FeedChunked(reader, stuffed, chunker, &back);
  Check(reader.done() && consumed == stuffed.size());
  Check(back == NormalizeReference(body));
  Check(!reader.bare_line_ending());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint64_t max_size = (data[0] & 0x80) ? UINT64_MAX : data[0];
  const Chunker chunker{data[1]};
  const std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  CheckReader(in, max_size, chunker);
  CheckStuffer(in, chunker);
  return 0;
}
