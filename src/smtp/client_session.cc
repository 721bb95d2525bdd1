#include "smtp/client_session.h"

#include <cassert>
#include <charconv>
#include <limits>

#include "smtp/dot_stuffer.h"

namespace tidegate::smtp {
namespace {

using Want = ClientSession::Want;
using Failure = ClientSession::Failure;

// Addresses come from the spool, which only stores parsed paths; still, a CR or LF here would
// let one recipient inject commands, so the session checks rather than trusts.
bool HasControl(std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

bool IsValidHeloName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

std::string Upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool IsKeyword(std::string_view word) {
  if (word.empty()) return false;
  for (char c : word) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "550 5.1.1 no such user" for failure details, bounded: reply text may be up to 64 KiB.
std::string Describe(const ServerReply& reply) {
  constexpr std::size_t kMax = 300;
  std::string text = std::to_string(reply.code) + " " + reply.Text();
  if (text.size() > kMax) {
    text.resize(kMax);
    text += "...";
  }
  return text;
}

bool IsFinalClass(const ServerReply& reply) {
  return reply.positive() || reply.transient() || reply.permanent();
}

RecipientOutcome OutcomeOf(const ServerReply& reply) {
  if (reply.positive()) return RecipientOutcome::kAccepted;
  if (reply.transient()) return RecipientOutcome::kTempFail;
  return RecipientOutcome::kPermFail;
}

}  // namespace

std::string_view FailureName(Failure failure) {
  switch (failure) {
    case Failure::kNone:
      return "none";
    case Failure::kGreeting:
      return "greeting";
    case Failure::kEhlo:
      return "ehlo";
    case Failure::kTlsUnavailable:
      return "tls-unavailable";
    case Failure::kTlsHandshake:
      return "tls-handshake";
    case Failure::kProtocol:
      return "protocol";
    case Failure::kMail:
      return "mail";
    case Failure::kData:
      return "data";
    case Failure::kTimeout:
      return "timeout";
    case Failure::kConnection:
      return "connection";
  }
  return "unknown";
}

bool TransactionResult::delivered_any() const {
  if (!final_reply || !final_reply->positive()) return false;
  for (const auto& [outcome, reply] : recipients) {
    if (outcome == RecipientOutcome::kAccepted) return true;
  }
  return false;
}

ClientSession::ClientSession(ClientOptions options) : options_(std::move(options)) {
  // The name comes from validated config; an invalid one is a broken invariant, but a release
  // build must still never put a CR/LF on the wire.
  assert(IsValidHeloName(options_.helo_name));
  helo_name_ = IsValidHeloName(options_.helo_name) ? options_.helo_name : "localhost";
  // The greeting is "expected" from the moment the connection exists.
  expected_.push_back({Step::kGreeting, 0, true});
}

Want ClientSession::want() const {
  switch (phase_) {
    case Phase::kDone:
      return Want::kDone;
    case Phase::kFailed:
      return Want::kFailed;
    case Phase::kTlsWait:
      return Want::kStartTls;
    case Phase::kIdle:
      return Want::kReady;
    case Phase::kHandshake:
    case Phase::kTransaction:
    case Phase::kQuitting:
      return output_.empty() ? Want::kRead : Want::kWrite;
  }
  return Want::kFailed;
}

std::string ClientSession::TakeOutput() {
  // From now on the peer may answer these commands; before, an answer would be an injection.
  for (Expected& e : expected_) e.sent = true;
  return std::exchange(output_, std::string());
}

std::string ClientSession::failure_reason() const {
  if (failure_ == Failure::kNone) return {};
  return std::string(FailureName(failure_)) + ": " + failure_detail_;
}

void ClientSession::Send(std::string_view line, Step step, std::size_t rcpt) {
  output_.append(line);
  output_.append("\r\n");
  expected_.push_back({step, rcpt, false});
}

Want ClientSession::OnBytes(std::string_view data) {
  std::size_t pos = 0;
  while (pos < data.size()) {
    if (phase_ == Phase::kDone || phase_ == Phase::kFailed) break;  // the caller is closing
    if (phase_ == Phase::kIdle) {
      HandleIdleBytes(data.substr(pos));
      break;
    }
    if (phase_ == Phase::kTlsWait) {
      FailProtocol(
          "data after the 220 reply to STARTTLS, before the TLS handshake "
          "(response injection)");
      break;
    }
    if (expected_.empty() || !expected_.front().sent) {
      FailProtocol(
          "server sent data before the command it could answer was sent "
          "(response injection or desynchronised pipelining)");
      break;
    }
    std::size_t used = 0;
    ServerReply reply;
    std::string error;
    ReplyParser::Result r = parser_.Feed(data.substr(pos), &used, &reply, &error);
    pos += used;
    if (r == ReplyParser::Result::kError) {
      if (phase_ == Phase::kQuitting) {
        phase_ = Phase::kDone;  // we are leaving anyway; a garbled goodbye changes nothing
      } else {
        FailProtocol("malformed reply: " + error);
      }
      break;
    }
    if (r == ReplyParser::Result::kNeedMore) break;
    saw_bare_lf_ = saw_bare_lf_ || reply.bare_lf;
    Expected expected = expected_.front();
    expected_.pop_front();
    HandleReply(expected, std::move(reply));
  }
  return want();
}

void ClientSession::HandleIdleBytes(std::string_view data) {
  std::size_t used = 0;
  ServerReply reply;
  std::string error;
  ReplyParser::Result r = parser_.Feed(data, &used, &reply, &error);
  // A partial reply stays buffered: it may be the start of a "421 idle timeout". If the caller
  // starts a transaction meanwhile, StartTransaction() fails on the buffered bytes.
  if (r == ReplyParser::Result::kNeedMore) return;
  if (r == ReplyParser::Result::kError) {
    FailProtocol("malformed unsolicited reply: " + error);
    return;
  }
  if (reply.code == 421 && used == data.size()) {
    // Servers close idle connections this way (e.g. Postfix "421 4.4.2 ... timeout exceeded").
    phase_ = Phase::kDone;
    failure_reply_ = std::move(reply);
    return;
  }
  FailProtocol("unsolicited reply while idle: " + Describe(reply));
}

void ClientSession::HandleReply(const Expected& expected, ServerReply reply) {
  if (reply.code == 421 && expected.step != Step::kQuit) {
    ServerClosing(expected.step, std::move(reply));
    return;
  }
  switch (expected.step) {
    case Step::kGreeting:
      HandleGreeting(std::move(reply));
      break;
    case Step::kEhlo:
      HandleEhlo(std::move(reply));
      break;
    case Step::kHelo:
      HandleHelo(std::move(reply));
      break;
    case Step::kStartTls:
      HandleStartTls(std::move(reply));
      break;
    case Step::kMail:
      HandleMail(std::move(reply));
      break;
    case Step::kRcpt:
      HandleRcpt(expected.rcpt, std::move(reply));
      break;
    case Step::kData:
      HandleData(std::move(reply));
      break;
    case Step::kDot:
      HandleDot(std::move(reply));
      break;
    case Step::kRset:
      HandleRset(std::move(reply));
      break;
    case Step::kQuit:
      phase_ = Phase::kDone;
      expected_.clear();
      break;
  }
}

// ---- Connection setup ----------------------------------------------------------------------

void ClientSession::SendEhlo() { Send("EHLO " + helo_name_, Step::kEhlo); }

void ClientSession::HandleGreeting(ServerReply reply) {
  if (reply.positive()) {
    SendEhlo();
    return;
  }
  std::string detail = "server greeting " + Describe(reply);
  Fail(Failure::kGreeting, std::move(reply), std::move(detail), /*courtesy_quit=*/true);
}

void ClientSession::HandleEhlo(ServerReply reply) {
  if (reply.positive()) {
    extensions_.clear();
    max_size_.reset();
    // The first line greets; each further line is "KEYWORD [params]".
    for (std::size_t i = 1; i < reply.lines.size(); ++i) {
      std::string_view line = reply.lines[i];
      std::size_t space = line.find(' ');
      std::string_view word = line.substr(0, space);
      if (!IsKeyword(word)) continue;
      std::string keyword = Upper(word);
      if (keyword == "SIZE" && space != std::string_view::npos) {
        std::string_view param = line.substr(space + 1);
        std::uint64_t value = 0;
        auto [end, ec] = std::from_chars(param.data(), param.data() + param.size(), value);
        // SIZE 0 means "no fixed limit" (RFC 1870).
        if (ec == std::errc() && end != param.data() && value > 0) max_size_ = value;
      }
      extensions_.insert(std::move(keyword));
    }
    AfterHello();
    return;
  }
  if (reply.permanent() && !helo_tried_) {
    // Old or minimal servers: RFC 5321 §3.2 asks clients to fall back to HELO.
    helo_tried_ = true;
    Send("HELO " + helo_name_, Step::kHelo);
    return;
  }
  if (reply.transient() || reply.permanent()) {
    std::string detail = "EHLO refused: " + Describe(reply);
    Fail(Failure::kEhlo, std::move(reply), std::move(detail), /*courtesy_quit=*/true);
    return;
  }
  FailProtocol("unexpected reply to EHLO: " + Describe(reply));
}

void ClientSession::HandleHelo(ServerReply reply) {
  if (reply.positive()) {
    extensions_.clear();  // HELO offers none
    max_size_.reset();
    AfterHello();
    return;
  }
  if (reply.transient() || reply.permanent()) {
    std::string detail = "EHLO and HELO refused: " + Describe(reply);
    Fail(Failure::kEhlo, std::move(reply), std::move(detail), /*courtesy_quit=*/true);
    return;
  }
  FailProtocol("unexpected reply to HELO: " + Describe(reply));
}

void ClientSession::AfterHello() {
  if (tls_active_) {
    phase_ = Phase::kIdle;
    return;
  }
  bool offered = extensions_.count("STARTTLS") > 0;
  if (options_.tls != ClientOptions::Tls::kNone && offered && options_.tls_available) {
    Send("STARTTLS", Step::kStartTls);
    return;
  }
  if (options_.tls == ClientOptions::Tls::kRequired) {
    // Never send MAIL in clear when TLS is required (journal copies, delivery.tls: required).
    Fail(Failure::kTlsUnavailable, std::nullopt,
         offered ? "STARTTLS offered but the transport cannot do TLS"
                 : "STARTTLS not offered by the server",
         /*courtesy_quit=*/true);
    return;
  }
  phase_ = Phase::kIdle;
}

void ClientSession::HandleStartTls(ServerReply reply) {
  if (reply.code == 220) {
    // Anything already received after this reply is caught by OnBytes() (response injection).
    phase_ = Phase::kTlsWait;
    return;
  }
  if (!reply.transient() && !reply.permanent()) {
    // A 2xx/3xx other than 220 leaves it unclear whether the server switched to TLS: no way to
    // continue safely in either direction.
    FailProtocol("unexpected reply to STARTTLS: " + Describe(reply));
    return;
  }
  if (options_.tls == ClientOptions::Tls::kRequired) {
    std::string detail = "STARTTLS refused: " + Describe(reply);
    Fail(Failure::kTlsUnavailable, std::move(reply), std::move(detail), /*courtesy_quit=*/true);
    return;
  }
  // Opportunistic TLS: carry on in clear with the extensions of the first EHLO (RFC 3207 §4).
  phase_ = Phase::kIdle;
}

Want ClientSession::OnTlsEstablished() {
  assert(phase_ == Phase::kTlsWait);
  if (phase_ != Phase::kTlsWait) return want();
  tls_active_ = true;
  // RFC 3207 §4.2: forget everything learnt in clear, it may have been forged.
  extensions_.clear();
  max_size_.reset();
  parser_.Reset();
  phase_ = Phase::kHandshake;
  SendEhlo();
  return want();
}

Want ClientSession::OnTlsFailed(std::string detail) {
  assert(phase_ == Phase::kTlsWait);
  if (phase_ != Phase::kTlsWait) return want();
  Fail(Failure::kTlsHandshake, std::nullopt, std::move(detail), /*courtesy_quit=*/false);
  return want();
}

// ---- Transactions --------------------------------------------------------------------------

Want ClientSession::StartTransaction(Envelope envelope, std::string body) {
  // After kDone/kFailed this is a harmless no-op (the caller may race a failure); mid-handshake
  // or mid-transaction it is a caller bug.
  assert(phase_ == Phase::kIdle || phase_ == Phase::kDone || phase_ == Phase::kFailed);
  if (phase_ != Phase::kIdle) return want();
  envelope_ = std::move(envelope);
  body_ = std::move(body);
  std::size_t count = envelope_.recipients.size();
  result_ = TransactionResult();
  result_.recipients.assign(count, {RecipientOutcome::kTempFail, ServerReply()});
  rcpt_state_.assign(count, RcptState::kPending);
  accepted_ = 0;
  next_rcpt_ = 0;
  mail_failed_ = false;
  body_sent_ = false;
  if (parser_.buffered() > 0) {
    // Whatever those bytes are, the next reply would be misread: give up on the connection, but
    // still give every recipient an outcome.
    phase_ = Phase::kTransaction;
    FailProtocol("unsolicited partial reply while idle");
    return want();
  }

  // Failures decided locally, before anything is sent: they would fail at the server anyway,
  // or (SMTPUTF8) the server could not be given the message without corrupting it.
  std::optional<ServerReply> all_fail;
  if (HasControl(envelope_.sender)) {
    all_fail = MakeLocalReply(553, "5.1.7", "sender address contains control characters");
  } else if (envelope_.smtputf8 && extensions_.count("SMTPUTF8") == 0) {
    all_fail = MakeLocalReply(553, "5.6.7", "SMTPUTF8 is required but not offered by the server");
  } else if (max_size_ && envelope_.size > *max_size_) {
    all_fail = MakeLocalReply(552, "5.3.4",
                              "message size " + std::to_string(envelope_.size) +
                                  " exceeds the server's limit of " + std::to_string(*max_size_));
  }
  for (std::size_t i = 0; i < count; ++i) {
    if (all_fail) {
      Decide(i, *all_fail);
    } else if (envelope_.recipients[i].empty() || HasControl(envelope_.recipients[i])) {
      Decide(i, MakeLocalReply(553, "5.1.3", "recipient address empty or with control characters"));
    }
  }
  bool any = false;
  for (RcptState state : rcpt_state_) any = any || state == RcptState::kPending;
  if (!any) {
    std::string().swap(body_);
    return want();  // still kReady: nothing was sent, the result is final
  }

  phase_ = Phase::kTransaction;
  pipelining_ = extensions_.count("PIPELINING") > 0;
  std::string mail = "MAIL FROM:<" + envelope_.sender + ">";
  if (extensions_.count("SIZE") > 0 && envelope_.size > 0) {
    mail += " SIZE=" + std::to_string(envelope_.size);
  }
  // Without 8BITMIME the body goes as is, as Postfix does by default: downgrading to 7bit would
  // break signatures and the journal's byte-for-byte promise.
  if (envelope_.body_8bit && extensions_.count("8BITMIME") > 0) mail += " BODY=8BITMIME";
  if (envelope_.smtputf8) mail += " SMTPUTF8";
  Send(mail, Step::kMail);
  if (pipelining_) {
    // RFC 2920: MAIL, every RCPT and DATA in one write; replies are matched in order.
    for (std::size_t i = 0; i < count; ++i) {
      if (rcpt_state_[i] == RcptState::kPending) {
        Send("RCPT TO:<" + envelope_.recipients[i] + ">", Step::kRcpt, i);
      }
    }
    Send("DATA", Step::kData);
  }
  return want();
}

void ClientSession::Decide(std::size_t i, const ServerReply& reply) {
  result_.recipients[i] = {OutcomeOf(reply), reply};
  rcpt_state_[i] = RcptState::kFinal;
}

void ClientSession::DecideUnfinished(const ServerReply& reply) {
  for (std::size_t i = 0; i < rcpt_state_.size(); ++i) {
    if (rcpt_state_[i] != RcptState::kFinal) Decide(i, reply);
  }
}

void ClientSession::SendNextRcptOrData() {
  while (next_rcpt_ < rcpt_state_.size() && rcpt_state_[next_rcpt_] != RcptState::kPending) {
    ++next_rcpt_;
  }
  if (next_rcpt_ < rcpt_state_.size()) {
    Send("RCPT TO:<" + envelope_.recipients[next_rcpt_] + ">", Step::kRcpt, next_rcpt_);
    ++next_rcpt_;
    return;
  }
  if (accepted_ > 0) {
    Send("DATA", Step::kData);
  } else {
    SendRset();  // nobody to deliver to: no DATA, no body
  }
}

void ClientSession::SendRset() { Send("RSET", Step::kRset); }

void ClientSession::HandleMail(ServerReply reply) {
  if (reply.positive()) {
    if (!pipelining_) SendNextRcptOrData();
    return;
  }
  if (reply.transient() || reply.permanent()) {
    mail_failed_ = true;
    DecideUnfinished(reply);
    // When pipelining, the RCPT and DATA replies are still on their way; they are consumed and
    // the transaction is closed by RSET or a lone dot once DATA's reply is in.
    if (!pipelining_) SendRset();
    return;
  }
  FailProtocol("unexpected reply to MAIL: " + Describe(reply));
}

void ClientSession::HandleRcpt(std::size_t index, ServerReply reply) {
  if (!IsFinalClass(reply)) {
    FailProtocol("unexpected reply to RCPT: " + Describe(reply));
    return;
  }
  if (!mail_failed_) {
    if (reply.positive()) {
      result_.recipients[index] = {RecipientOutcome::kAccepted, std::move(reply)};
      rcpt_state_[index] = RcptState::kAccepted;
      ++accepted_;
    } else {
      Decide(index, reply);
    }
  }
  if (!pipelining_) SendNextRcptOrData();
}

void ClientSession::HandleData(ServerReply reply) {
  if (reply.code == 354) {
    if (accepted_ > 0) {
      output_.append(DotStuff(body_));
      std::string().swap(body_);
      expected_.push_back({Step::kDot, 0, false});
      body_sent_ = true;
    } else {
      // Pipelined DATA accepted although no recipient was: RFC 2920 §3.1 says send a lone dot.
      Send(".", Step::kDot);
    }
    return;
  }
  if (reply.transient() || reply.permanent()) {
    DecideUnfinished(reply);  // the recipients accepted at RCPT share DATA's fate
    SendRset();
    return;
  }
  FailProtocol("unexpected reply to DATA: " + Describe(reply));
}

void ClientSession::HandleDot(ServerReply reply) {
  if (!IsFinalClass(reply)) {
    FailProtocol("unexpected reply to the end of data: " + Describe(reply));
    return;
  }
  if (body_sent_) {
    result_.final_reply = reply;
    DecideUnfinished(reply);
  }
  FinishTransaction();
}

void ClientSession::HandleRset(ServerReply reply) {
  if (reply.positive()) {
    FinishTransaction();
    return;
  }
  // The result is already final; a server that will not reset is not worth reusing.
  phase_ = Phase::kDone;
  failure_reply_ = std::move(reply);
  expected_.clear();
  output_ = "QUIT\r\n";
}

void ClientSession::FinishTransaction() {
  for (RcptState state : rcpt_state_) {
    assert(state == RcptState::kFinal);
    (void)state;
  }
  std::string().swap(body_);
  phase_ = Phase::kIdle;
}

// ---- Ending ----------------------------------------------------------------------------------

Want ClientSession::Quit() {
  if (phase_ == Phase::kIdle) {
    Send("QUIT", Step::kQuit);
    phase_ = Phase::kQuitting;
    return want();
  }
  if (phase_ == Phase::kDone || phase_ == Phase::kFailed) return want();
  if (phase_ == Phase::kTransaction) {
    DecideUnfinished(MakeLocalReply(451, "4.4.2", "session abandoned before completion"));
  }
  phase_ = Phase::kDone;
  expected_.clear();
  output_.clear();
  return want();
}

void ClientSession::OnTimeout() {
  if (phase_ == Phase::kDone || phase_ == Phase::kFailed) return;
  if (phase_ == Phase::kIdle || phase_ == Phase::kQuitting) {
    phase_ = Phase::kDone;
    expected_.clear();
    output_.clear();
    return;
  }
  Fail(Failure::kTimeout, std::nullopt, "no reply from the server in time", false);
}

void ClientSession::OnDisconnected() {
  if (phase_ == Phase::kDone || phase_ == Phase::kFailed) return;
  if (phase_ == Phase::kIdle || phase_ == Phase::kQuitting) {
    phase_ = Phase::kDone;
    expected_.clear();
    output_.clear();
    return;
  }
  Fail(Failure::kConnection, std::nullopt, "connection closed by the server", false);
}

void ClientSession::ServerClosing(Step step, ServerReply reply) {
  if (step == Step::kRset) {
    // The transaction's result is already final; this is just the end of the connection.
    phase_ = Phase::kDone;
    failure_reply_ = std::move(reply);
    expected_.clear();
    output_.clear();
    return;
  }
  Failure failure = Failure::kProtocol;
  switch (step) {
    case Step::kGreeting:
      failure = Failure::kGreeting;
      break;
    case Step::kEhlo:
    case Step::kHelo:
      failure = Failure::kEhlo;
      break;
    case Step::kStartTls:
      failure = Failure::kTlsUnavailable;
      break;
    case Step::kMail:
    case Step::kRcpt:
      failure = Failure::kMail;
      break;
    case Step::kData:
    case Step::kDot:
      failure = Failure::kData;
      break;
    case Step::kRset:
    case Step::kQuit:
      break;
  }
  if (phase_ == Phase::kTransaction) {
    if (step == Step::kDot && body_sent_) result_.final_reply = reply;
    DecideUnfinished(reply);  // 421: every unfinished recipient is a temporary failure
  }
  std::string detail = "server closing the connection: " + Describe(reply);
  Fail(failure, std::move(reply), std::move(detail), /*courtesy_quit=*/false);
}

void ClientSession::FailProtocol(std::string detail) {
  Fail(Failure::kProtocol, std::nullopt, std::move(detail), /*courtesy_quit=*/false);
}

void ClientSession::Fail(Failure failure, std::optional<ServerReply> reply, std::string detail,
                         bool courtesy_quit) {
  if (phase_ == Phase::kTransaction) {
    // Recipients not yet decided were not delivered: retry them later. A server reply that
    // could not be trusted (protocol failure) never decides anyone's fate.
    DecideUnfinished(MakeLocalReply(451, failure == Failure::kProtocol ? "4.5.0" : "4.4.2",
                                    std::string(FailureName(failure)) + ": " + detail));
  }
  phase_ = Phase::kFailed;
  failure_ = failure;
  failure_reply_ = std::move(reply);
  failure_detail_ = std::move(detail);
  expected_.clear();
  output_ = courtesy_quit ? "QUIT\r\n" : "";
  std::string().swap(body_);
}

}  // namespace tidegate::smtp
