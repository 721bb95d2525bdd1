// data_reader.cc — incremental DATA reader (see data_reader.h).
#include "smtp/data_reader.h"

#include <cassert>

namespace tidegate::smtp {

DataReader::DataReader(std::uint64_t max_size) : max_size_(max_size) {}

void DataReader::Reset(std::uint64_t max_size) { *this = DataReader(max_size); }

void DataReader::Emit(std::string_view bytes, std::string* out) {
  size_ += bytes.size();
  // Past the limit the message is going to be rejected: keep counting, stop storing, so that a
  // client cannot make us buffer more than max_size bytes.
  if (size_ <= max_size_) out->append(bytes);
}

void DataReader::MidByte(char c, std::string* out) {
  if (state_ == State::kCr) {
    if (c == '\n') {
      Emit("\r\n", out);
      state_ = State::kLineStart;
      return;
    }
    // The pending CR is bare. If c is another CR, it becomes the pending one.
    bare_line_ending_ = true;
    Emit("\r", out);
    state_ = State::kMid;
  }
  if (c == '\r') {
    state_ = State::kCr;
    return;
  }
  if (c == '\n') bare_line_ending_ = true;  // bare LF: it does NOT start a new line
  if (c == '\0') has_nul_ = true;
  Emit(std::string_view(&c, 1), out);
  state_ = State::kMid;
}

std::size_t DataReader::Feed(std::string_view input, std::string* out) {
  assert(out != nullptr);
  std::size_t i = 0;
  while (i < input.size() && state_ != State::kDone) {
    const char c = input[i];
    switch (state_) {
      case State::kLineStart:
        if (c == '.') {
          state_ = State::kDot;
        } else {
          state_ = State::kMid;
          MidByte(c, out);
        }
        ++i;
        break;
      case State::kDot:
        if (c == '\r') {
          state_ = State::kDotCr;
        } else {
          // "." followed by anything but CR: the leading dot is dropped (RFC 5321 §4.5.2).
          state_ = State::kMid;
          MidByte(c, out);
        }
        ++i;
        break;
      case State::kDotCr:
        if (c == '\n') {
          state_ = State::kDone;
        } else {
          // ".\r" + something else: the dot is dropped, the CR stays pending before c.
          state_ = State::kCr;
          MidByte(c, out);
        }
        ++i;
        break;
      case State::kMid: {
        // Fast path: copy the run of ordinary bytes up to the next CR, LF or NUL in one go.
        std::size_t j = i;
        while (j < input.size() && input[j] != '\r' && input[j] != '\n' && input[j] != '\0') ++j;
        if (j > i) {
          Emit(input.substr(i, j - i), out);
          i = j;
        } else {
          MidByte(c, out);
          ++i;
        }
        break;
      }
      case State::kCr:
        MidByte(c, out);
        ++i;
        break;
      case State::kDone:
        break;
    }
  }
  return i;
}

}  // namespace tidegate::smtp
