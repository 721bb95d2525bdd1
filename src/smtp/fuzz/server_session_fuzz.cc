// server_session_fuzz.cc — libFuzzer entry point driving ServerSession (and through it
// ParseCommand, ParseMailFrom/ParseRcptTo and DataReader) with arbitrary bytes.
//
// The input plays the client's byte stream, cut the way the network layer cuts it: lines ending
// in LF (a preceding CR is stripped) while a command is expected, raw bytes while in DATA. The
// first byte picks the session options. Besides crashes and sanitizer reports, it traps on
// broken invariants: malformed reply output, a committed message with bare CR/LF/NUL, over the
// size limit or without recipients.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/server_session.h"

namespace {

using tidegate::smtp::Next;
using tidegate::smtp::RcptVerdict;
using tidegate::smtp::ServerSession;
using tidegate::smtp::SessionOptions;
using tidegate::smtp::Step;

constexpr std::size_t kMaxLine = 512;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// Every output is zero or more complete reply lines: 3 digits, ' ' or '-', printable ASCII, CRLF.
void CheckOutput(const std::string& out) {
  std::size_t pos = 0;
  while (pos < out.size()) {
    const std::size_t end = out.find("\r\n", pos);
    Check(end != std::string::npos);
    const std::string_view line(out.data() + pos, end - pos);
    Check(line.size() >= 3);
    Check(line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' && line[2] >= '0' &&
          line[2] <= '9');
    if (line.size() > 3) Check(line[3] == ' ' || line[3] == '-');
    for (unsigned char c : line) Check(c >= 0x20 && c < 0x7f);
    pos = end + 2;
  }
}

void CheckBody(const std::string& body, std::uint64_t max) {
  Check(body.size() <= max);
  for (std::size_t i = 0; i < body.size(); ++i) {
    Check(body[i] != '\0');
    if (body[i] == '\r') Check(i + 1 < body.size() && body[i + 1] == '\n');
    if (body[i] == '\n') Check(i > 0 && body[i - 1] == '\r');
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  SessionOptions options;
  options.hostname = "gw.example.com";
  options.max_message_size = (flags & 1) ? 64 : 4096;
  options.max_recipients = (flags & 2) ? 2 : 50;
  options.tls_available = (flags & 4) != 0;
  options.require_tls = (flags & 8) != 0;
  ServerSession session(options, [](const tidegate::mail::Address& a) {
    // A verdict that depends on the address, so that every branch is reachable.
    return static_cast<RcptVerdict>((a.local.size() + a.domain.size()) % 5);
  });

  Step step = session.Greeting();
  CheckOutput(step.output);
  bool commit_ok = (flags & 16) != 0;
  while (step.next != Next::kClose) {
    switch (step.next) {
      case Next::kReadCommand: {
        const std::size_t lf = rest.find('\n');
        if (lf == std::string_view::npos) return 0;  // the client stopped mid-line
        std::string_view line = rest.substr(0, lf);
        rest.remove_prefix(lf + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        step = line.size() > kMaxLine ? session.OnLineTooLong() : session.OnCommand(line);
        break;
      }
      case Next::kReadData: {
        if (rest.empty()) return 0;
        // Feed in two pieces to exercise chunk boundaries as well.
        const std::size_t half = rest.size() / 2;
        std::size_t consumed = 0;
        step = session.OnData(rest.substr(0, half), &consumed);
        Check(consumed <= half);
        rest.remove_prefix(consumed);
        if (step.next == Next::kReadData) {
          Check(consumed == half);
          step = session.OnData(rest, &consumed);
          Check(consumed <= rest.size());
          rest.remove_prefix(consumed);
          if (step.next == Next::kReadData) return 0;
        }
        break;
      }
      case Next::kCommitMessage: {
        Check(step.output.empty());
        Check(!session.transaction().recipients.empty());
        CheckBody(session.transaction().body, options.max_message_size);
        tidegate::smtp::Transaction t = session.TakeTransaction();
        Check(t.recipients.size() <= options.max_recipients);
        step = session.OnCommitted(commit_ok, "4F2A1C");
        commit_ok = !commit_ok;
        break;
      }
      case Next::kLookupRecipient: {
        // Recipient validation's answer, also depending on the address (CONTRACT §13).
        Check(step.output.empty());
        const auto& r = session.pending_recipient();
        const std::size_t before = session.transaction().recipients.size();
        const auto result =
            static_cast<tidegate::smtp::LookupResult>((r.local.size() * 7 + r.domain.size()) % 4);
        step = session.OnRecipientLookup(result);
        Check(session.transaction().recipients.size() ==
              before + (result == tidegate::smtp::LookupResult::kAccept ? 1 : 0));
        if (result == tidegate::smtp::LookupResult::kHarvestLimit) Check(step.next == Next::kClose);
        break;
      }
      case Next::kStartTls:
        step = session.OnTlsEstablished();
        Check(session.tls_active() && session.helo().empty());
        break;
      case Next::kClose:
        break;
    }
    CheckOutput(step.output);
  }
  CheckOutput(session.OnTimeout().output);
  return 0;
}
