// client_reply_fuzz.cc — libFuzzer entry for the client side of SMTP: ReplyParser and
// ClientSession fed hostile server bytes.
//
// The first input byte picks the read size (1..256), so the fuzzer explores how replies are split
// across reads; the rest is what the "server" sends. Checks the parser's contracts (consumed never
// exceeds the input, buffering stays under the caps, a failed parser stays failed) and drives a
// ClientSession through greeting, EHLO and one pipelined transaction, asserting that every
// recipient ends with an outcome and that nothing is "delivered" without a 2xx final reply.
// Every reply the parser completes is compared with a whole-buffer reference reading of its bytes
// (code, each line's text, bare-LF flag, the multi-line '-'/' ' structure, the caps).
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtp/client_reply_parser.h"
#include "smtp/client_session.h"

namespace {

using tidegate::smtp::ClientOptions;
using tidegate::smtp::ClientSession;
using tidegate::smtp::Envelope;
using tidegate::smtp::RecipientOutcome;
using tidegate::smtp::ReplyParser;
using tidegate::smtp::ServerReply;

void Check(bool condition) {
  if (!condition) std::abort();
}

// The reply a whole-buffer reading of RFC 5321 §4.2 finds in `raw` (complete lines, the last
// one ending the reply), compared field by field with what the incremental parser returned.
void CheckAgainstReference(std::string_view raw, const ServerReply& reply) {
  Check(!raw.empty() && raw.back() == '\n' && raw.size() <= ReplyParser::kMaxReplyBytes);
  std::size_t index = 0;
  bool bare_lf = false;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    const std::size_t lf = raw.find('\n', pos);
    std::string_view line = raw.substr(pos, lf - pos);
    pos = lf + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    } else {
      bare_lf = true;
    }
    Check(line.size() >= 3 && line.size() <= ReplyParser::kMaxLineBytes);
    Check(std::stoi(std::string(line.substr(0, 3))) == reply.code);
    const bool last = pos == raw.size();
    if (line.size() > 3) Check(line[3] == (last ? ' ' : '-'));
    if (!last) Check(line.size() > 3);
    Check(index < reply.lines.size());
    const std::string& text = reply.lines[index++];
    Check(text == (line.size() > 4 ? line.substr(4) : std::string_view()));
  }
  Check(index == reply.lines.size());
  Check(reply.bare_lf == bare_lf);
}

void FuzzParser(std::string_view data, std::size_t step) {
  ReplyParser parser;
  bool failed = false;
  std::string pending;  // bytes fed since the last complete reply
  for (std::size_t pos = 0; pos < data.size(); pos += step) {
    std::string_view piece = data.substr(pos, step);
    while (!piece.empty()) {
      std::size_t used = 0;
      ServerReply reply;
      std::string error;
      ReplyParser::Result r = parser.Feed(piece, &used, &reply, &error);
      Check(used <= piece.size());
      Check(parser.buffered() <= ReplyParser::kMaxReplyBytes);
      if (r == ReplyParser::Result::kError) {
        Check(!error.empty());
        failed = true;
        break;
      }
      Check(!failed);
      if (r == ReplyParser::Result::kNeedMore) {
        Check(used == piece.size());
        pending.append(piece);
        break;
      }
      pending.append(piece.substr(0, used));
      CheckAgainstReference(pending, reply);
      pending.clear();
      Check(reply.code >= 200 && reply.code <= 559 && !reply.lines.empty());
      for (const std::string& line : reply.lines) {
        Check(line.size() <= ReplyParser::kMaxLineBytes);
        Check(line.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
      }
      piece.remove_prefix(used);
    }
    if (failed) break;
  }
}

void FuzzSession(std::string_view data, std::size_t step) {
  ClientOptions options;
  options.helo_name = "gw.example.com";
  options.tls = ClientOptions::Tls::kPreferred;
  ClientSession session(options);
  bool started = false;
  std::size_t pos = 0;
  while (true) {
    ClientSession::Want want = session.want();
    if (want == ClientSession::Want::kWrite) {
      session.TakeOutput();
      continue;
    }
    if (want == ClientSession::Want::kStartTls) {
      session.OnTlsEstablished();
      continue;
    }
    if (want == ClientSession::Want::kReady) {
      if (started) {
        session.Quit();
        continue;
      }
      started = true;
      Envelope envelope;
      envelope.sender = "a@example.org";
      envelope.recipients = {"b@example.net", "c@example.net"};
      envelope.size = 10;
      session.StartTransaction(envelope, "Subject: x\r\n\r\n.body\r\n");
      continue;
    }
    if (want == ClientSession::Want::kDone || want == ClientSession::Want::kFailed) break;
    if (pos >= data.size()) {
      session.OnDisconnected();
      break;
    }
    std::string_view piece = data.substr(pos, step);
    pos += piece.size();
    session.OnBytes(piece);
  }
  if (started) {
    const auto& result = session.result();
    Check(result.recipients.size() == 2);
    if (result.delivered_any()) Check(result.final_reply && result.final_reply->positive());
    for (const auto& [outcome, reply] : result.recipients) {
      if (outcome == RecipientOutcome::kAccepted) {
        Check(result.final_reply.has_value() && reply.positive());
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t step = 1 + data[0];
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  FuzzParser(input, step);
  FuzzSession(input, step);
  return 0;
}
