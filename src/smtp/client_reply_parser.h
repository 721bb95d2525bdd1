// client_reply_parser.h — incremental parser for SMTP server replies, as read by the client.
//
// ReplyParser turns the bytes a remote SMTP server sends into ServerReply values (RFC 5321 §4.2):
// single and multi-line replies ("250-..." ... "250 ..."), split across any number of reads.
// The peer is untrusted (outbound delivery talks to arbitrary MX hosts), so every limit is
// enforced while bytes arrive, before anything is buffered past it: a line longer than
// kMaxLineBytes, a reply longer than kMaxReplyBytes, a malformed or changing reply code, NUL or
// other control bytes are errors. Bare LF line endings are accepted (some servers send them) but
// flagged on the reply. After an error the parser stays failed until Reset().
//
// Ownership: the parser owns its partial-reply buffer; Feed() never keeps a reference to input.
// Thread-safety: a plain value, used by one thread at a time (the connection's strand).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tidegate::smtp {

struct ServerReply {
  int code = 0;                    // 200..559
  std::string enhanced;            // RFC 3463 code from the first line ("4.2.0"), or empty
  std::vector<std::string> lines;  // text after "NNN-"/"NNN " of each line, without CRLF
  bool bare_lf = false;            // at least one line ended in LF without CR
  bool synthetic = false;  // made up by the client (local failure), never sent by the server

  // The lines joined by single spaces (for logs and DSNs).
  std::string Text() const;
  bool positive() const { return code >= 200 && code < 300; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500 && code < 600; }
};

// A reply made up locally (e.g. "message too big for this server" decided before sending).
ServerReply MakeLocalReply(int code, std::string enhanced, std::string text);

class ReplyParser {
 public:
  // Limits: RFC 5321 asks for 512-byte reply lines; we allow far more for real-world servers
  // but keep memory per connection bounded.
  static constexpr std::size_t kMaxLineBytes = 4096;        // per line, without CRLF
  static constexpr std::size_t kMaxReplyBytes = 64 * 1024;  // whole reply, with CRLFs

  enum class Result { kNeedMore, kReply, kError };

  // Consumes bytes from the front of input. kReply: one complete reply is in *out and *consumed
  // says how many bytes of input it used (call again with the rest: there may be more replies).
  // kNeedMore: all of input was buffered (*consumed == input.size()). kError: *error says why;
  // the parser stays failed until Reset(). All pointers must be non-null.
  Result Feed(std::string_view input, std::size_t* consumed, ServerReply* out, std::string* error);

  // Bytes of a reply not yet complete (partial line plus finished lines of a multi-line reply).
  std::size_t buffered() const { return line_.size() + reply_bytes_; }
  bool failed() const { return failed_; }
  void Reset();

 private:
  // Parses the complete line in line_ into current_: kReply when it was the last line of the
  // reply, kNeedMore when more lines follow, kError when it is malformed.
  Result ProcessLine(std::string* error);
  Result Fail(std::string message, std::string* error);

  std::string line_;             // the current, not yet terminated line (with its LF when complete)
  ServerReply current_;          // the reply being assembled
  std::size_t reply_bytes_ = 0;  // raw bytes of the finished lines of current_
  bool failed_ = false;
  std::string error_;
};

}  // namespace tidegate::smtp
