// data_reader.h — incremental reader of the DATA section (RFC 5321 §4.5.2 dot-unstuffing).
//
// The network layer hands DataReader whatever bytes it read, in chunks of any size; DataReader
// strips the leading dot of dot-stuffed lines, stops right after the end-of-data sequence and
// reports how many bytes it consumed, so that the bytes after it (a pipelined next command) stay
// with the caller. Chunk boundaries never change the result.
//
// Only CR LF "." CR LF ends the data (the first CR LF may be the one that ended the DATA command).
// A bare CR or bare LF never starts a new line, so none of "\n.\n", "\r\n.\n", "\n.\r\n",
// "\r.\r", "\r\n.\r" can end the data: they stay in it and are flagged (bare_line_ending()),
// which is what defeats SMTP smuggling (a downstream MTA that reads them as the end of data
// would see a second, forged message). The caller rejects flagged messages.
//
// One DataReader per session; not thread-safe (one session = one strand).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tidegate::smtp {

class DataReader {
 public:
  explicit DataReader(std::uint64_t max_size);

  // Consumes bytes from input, appends the unstuffed message (CRLF line endings, without the
  // final ".\r\n") to *out unless the size limit was exceeded (then stops appending but keeps
  // consuming). Returns how many bytes of input it consumed: it stops right after the
  // terminating CRLF.CRLF (done() == true). After done() it consumes nothing until Reset().
  std::size_t Feed(std::string_view input, std::string* out);

  bool done() const { return state_ == State::kDone; }
  // The unstuffed message is longer than max_size bytes (exactly max_size is fine).
  bool too_big() const { return size_ > max_size_; }
  // A CR not followed by LF, or an LF not preceded by CR, was seen.
  bool bare_line_ending() const { return bare_line_ending_; }
  // A NUL byte was seen (RFC 5321 §2.3.8: not allowed in mail data).
  bool has_nul() const { return has_nul_; }
  // Length of the unstuffed message so far (counted even past the limit).
  std::uint64_t size() const { return size_; }

  // Starts over for a new message.
  void Reset(std::uint64_t max_size);

 private:
  enum class State {
    kLineStart,  // at the start of a line: after CR LF, or at the very start of the data
    kDot,        // a '.' at the start of a line, not emitted yet
    kDotCr,      // ".\r" at the start of a line: end of data if LF follows
    kMid,        // inside a line
    kCr,         // a CR inside a line (or at its start), not emitted yet
    kDone,       // the end-of-data sequence was consumed
  };

  void Emit(std::string_view bytes, std::string* out);
  // Handles one byte that is in a line (not a line-start dot), from state kMid or kCr.
  void MidByte(char c, std::string* out);

  std::uint64_t max_size_;
  std::uint64_t size_ = 0;
  State state_ = State::kLineStart;
  bool bare_line_ending_ = false;
  bool has_nul_ = false;
};

}  // namespace tidegate::smtp
