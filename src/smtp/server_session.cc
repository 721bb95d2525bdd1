// server_session.cc — SMTP server state machine (see server_session.h).
#include "smtp/server_session.h"

#include <cassert>
#include <utility>
#include <variant>

namespace tidegate::smtp {
namespace {

constexpr int kMaxBadCommands = 10;

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// What a client may call itself in HELO/EHLO. RFC 5321 asks for a domain or an address literal,
// but real clients send bare hosts, underscores ("my_pc") and the like; refusing those loses
// mail for no gain. What we refuse is what cannot be a host name at all (spaces, punctuation,
// 8-bit, controls), so that helo() is safe to put into a Received: header.
bool IsPlausibleHeloName(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  if (s.front() == '[') {
    if (s.size() < 3 || s.back() != ']') return false;
    for (char c : s.substr(1, s.size() - 2)) {
      if (!IsAlnum(c) && c != '.' && c != ':') return false;
    }
    return true;
  }
  bool has_alnum = false;
  for (char c : s) {
    if (IsAlnum(c)) {
      has_alnum = true;
    } else if (c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return has_alnum;
}

bool CountsAsBadCommand(int code) { return (code >= 500 && code <= 504) || code == 555; }

Reply NotOffered() { return MakeReply(502, "5.5.1", "Error: command not available"); }

}  // namespace

ServerSession::ServerSession(SessionOptions options,
                             std::function<RcptVerdict(const mail::Address&)> check_recipient)
    : options_(std::move(options)),
      check_recipient_(std::move(check_recipient)),
      data_reader_(options_.max_message_size) {
  assert(check_recipient_);
}

Step ServerSession::Greeting() {
  return Finish(MakeReply(220, "", options_.hostname + " " + options_.greeting_text));
}

Step ServerSession::Finish(const Reply& reply, Next next, Event event) {
  Step step{reply.Wire(), next, event};
  if (CountsAsBadCommand(reply.code)) {
    if (++bad_commands_ >= kMaxBadCommands) {
      step.output += MakeReply(421, "4.7.0", options_.hostname + " Error: too many errors").Wire();
      step.next = Next::kClose;
    }
  } else if (reply.positive()) {
    bad_commands_ = 0;
  }
  switch (step.next) {
    case Next::kReadCommand:
      state_ = State::kCommand;
      break;
    case Next::kStartTls:
      state_ = State::kTls;
      break;
    case Next::kReadData:
      state_ = State::kData;
      break;
    case Next::kCommitMessage:
      state_ = State::kCommit;
      break;
    case Next::kLookupRecipient:
      state_ = State::kLookup;
      break;
    case Next::kClose:
      state_ = State::kClosed;
      break;
  }
  return step;
}

Step ServerSession::Close(const Reply& reply) {
  state_ = State::kClosed;
  return Step{reply.Wire(), Next::kClose, Event::kNone};
}

bool ServerSession::ResetTransaction() {
  const bool dropped = in_transaction_;
  in_transaction_ = false;
  transaction_ = Transaction{};
  last_rcpt_index_ = 0;
  recipients_over_limit_ = 0;
  return dropped;
}

Transaction ServerSession::TakeTransaction() { return std::exchange(transaction_, Transaction{}); }

Step ServerSession::OnCommand(std::string_view line) {
  if (state_ == State::kClosed) return Step{"", Next::kClose, Event::kNone};
  if (state_ != State::kCommand) {
    // The network layer broke the protocol of this class; fail closed rather than guess.
    assert(false && "OnCommand outside kReadCommand");
    return Close(MakeReply(421, "4.3.0", options_.hostname + " Error: internal error"));
  }
  auto parsed = ParseCommand(line);
  if (!parsed) return Finish(MakeReply(500, "5.5.2", "Error: bad syntax"));
  const Command& command = *parsed;
  switch (command.verb) {
    case Verb::kEhlo:
    case Verb::kHelo:
      return Hello(command);
    case Verb::kMail:
      return Mail(command);
    case Verb::kRcpt:
      return Rcpt(command);
    case Verb::kData:
      return Data(command);
    case Verb::kRset:
      return Rset(command);
    case Verb::kStartTls:
      return StartTls(command);
    case Verb::kNoop:
      return Finish(MakeReply(250, "2.0.0", "Ok"));
    case Verb::kQuit:
      if (!command.arg.empty()) return Finish(MakeReply(501, "5.5.4", "Syntax: QUIT"));
      return Finish(MakeReply(221, "2.0.0", "Bye"), Next::kClose);
    case Verb::kVrfy:
      if (command.arg.empty()) return Finish(MakeReply(501, "5.5.4", "Syntax: VRFY address"));
      // Never reveal whether a user exists (RFC 5321 §3.5.3 allows 252).
      return Finish(MakeReply(252, "2.5.0",
                              "Cannot VRFY user, but will accept message and attempt delivery"));
    case Verb::kExpn:
      return Finish(NotOffered());
    case Verb::kHelp:
      return Finish(MakeReply(214, "2.0.0",
                              "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS"));
    case Verb::kAuth:
      return Finish(MakeReply(502, "5.5.1", "Error: authentication not enabled"));
    case Verb::kBdat:
      // CHUNKING is not offered; a client that sends BDAT anyway breaks RFC 3030.
      return Finish(NotOffered());
    case Verb::kUnknown:
      break;
  }
  return Finish(MakeReply(500, "5.5.2", "Error: command not recognized"));
}

Step ServerSession::OnLineTooLong() {
  if (state_ == State::kClosed) return Step{"", Next::kClose, Event::kNone};
  assert(state_ == State::kCommand);
  return Finish(MakeReply(500, "5.5.2", "Error: line too long"));
}

Step ServerSession::Hello(const Command& command) {
  const bool ehlo = command.verb == Verb::kEhlo;
  if (!IsPlausibleHeloName(command.arg)) {
    return Finish(
        MakeReply(501, "5.5.4", ehlo ? "Syntax: EHLO hostname" : "Syntax: HELO hostname"));
  }
  // RFC 5321 §4.1.4: EHLO/HELO in the middle of a transaction is an implicit RSET.
  const Event event = ResetTransaction() ? Event::kTransactionReset : Event::kNone;
  helo_ = command.arg;
  esmtp_ = ehlo;
  if (!ehlo) return Finish(MakeReply(250, "", options_.hostname), Next::kReadCommand, event);
  Reply reply{250,
              {options_.hostname, "PIPELINING", "SIZE " + std::to_string(options_.max_message_size),
               "8BITMIME", "ENHANCEDSTATUSCODES"}};
  if (options_.tls_available && !tls_active_) reply.lines.push_back("STARTTLS");
  reply.lines.push_back("SMTPUTF8");
  return Finish(reply, Next::kReadCommand, event);
}

Step ServerSession::Mail(const Command& command) {
  if (helo_.empty()) return Finish(MakeReply(503, "5.5.1", "Error: send HELO/EHLO first"));
  if (options_.require_tls && !tls_active_) {
    return Finish(MakeReply(530, "5.7.0", "Must issue a STARTTLS command first"));
  }
  if (in_transaction_) return Finish(MakeReply(503, "5.5.1", "Error: nested MAIL command"));
  auto parsed = ParseMailFrom(command.arg, esmtp_);
  if (auto* reply = std::get_if<Reply>(&parsed)) return Finish(*reply);
  MailFromArgs& args = std::get<MailFromArgs>(parsed);
  // RFC 1870 §6.1: refuse early what would be refused after the whole body was sent.
  if (args.size > options_.max_message_size) {
    return Finish(MakeReply(552, "5.3.4", "Message size exceeds fixed maximum message size"));
  }
  ResetTransaction();
  in_transaction_ = true;
  transaction_.sender = std::move(args.sender);
  transaction_.declared_size = args.size;
  transaction_.smtputf8 = args.smtputf8;
  transaction_.body_8bit = args.body_8bit;
  return Finish(MakeReply(250, "2.1.0", "Ok"), Next::kReadCommand, Event::kMailAccepted);
}

Step ServerSession::Rcpt(const Command& command) {
  if (!in_transaction_) return Finish(MakeReply(503, "5.5.1", "Error: need MAIL command"));
  auto parsed = ParseRcptTo(command.arg, transaction_.smtputf8);
  if (auto* reply = std::get_if<Reply>(&parsed)) return Finish(*reply);
  mail::Address recipient = std::move(std::get<RcptToArgs>(parsed).recipient);
  if (recipient.domain.empty()) recipient.domain = options_.hostname;  // RCPT TO:<Postmaster>
  if (transaction_.recipients.size() >= options_.max_recipients) {
    ++recipients_over_limit_;
    return Finish(MakeReply(452, "4.5.3", "Error: too many recipients"));
  }
  // Percent hack, bang paths, quoted '@': never let anyone route through us (relay abuse).
  if (HasRoutingLocalPart(recipient)) return Finish(MakeReply(550, "5.7.1", "Relaying denied"));
  switch (check_recipient_(recipient)) {
    case RcptVerdict::kAccept:
      break;
    case RcptVerdict::kRelayDenied:
      return Finish(MakeReply(550, "5.7.1", "Relaying denied"));
    case RcptVerdict::kUnknownUser:
      return Finish(MakeReply(550, "5.1.1", "Recipient address rejected: User unknown"));
    case RcptVerdict::kTempFail:
      return Finish(MakeReply(451, "4.3.0", "Temporary lookup failure, try again later"));
    case RcptVerdict::kLookup:
      pending_recipient_ = std::move(recipient);
      state_ = State::kLookup;
      return Step{"", Next::kLookupRecipient, Event::kNone};
  }
  transaction_.recipients.push_back(std::move(recipient));
  last_rcpt_index_ = transaction_.recipients.size() - 1;
  return Finish(MakeReply(250, "2.1.5", "Ok"), Next::kReadCommand, Event::kRcptAccepted);
}

Step ServerSession::Data(const Command& command) {
  if (!command.arg.empty()) return Finish(MakeReply(501, "5.5.4", "Syntax: DATA"));
  if (!in_transaction_) return Finish(MakeReply(503, "5.5.1", "Error: need MAIL command"));
  if (transaction_.recipients.empty()) {
    return Finish(MakeReply(554, "5.5.1", "Error: no valid recipients"));
  }
  data_reader_.Reset(options_.max_message_size);
  transaction_.body.clear();
  return Finish(MakeReply(354, "", "End data with <CR><LF>.<CR><LF>"), Next::kReadData);
}

Step ServerSession::OnData(std::string_view input, std::size_t* consumed) {
  assert(consumed != nullptr);
  *consumed = 0;
  if (state_ == State::kClosed) return Step{"", Next::kClose, Event::kNone};
  if (state_ != State::kData) {
    assert(false && "OnData outside kReadData");
    return Close(MakeReply(421, "4.3.0", options_.hostname + " Error: internal error"));
  }
  *consumed = data_reader_.Feed(input, &transaction_.body);
  if (!data_reader_.done()) return Step{"", Next::kReadData, Event::kNone};
  // The size check comes first: a huge message is refused as too big whatever else is wrong.
  Reply reject;
  if (data_reader_.too_big()) {
    reject = MakeReply(552, "5.3.4", "Message size exceeds fixed limit");
  } else if (data_reader_.bare_line_ending()) {
    reject = MakeReply(550, "5.6.0", "Message rejected: bare CR or LF not allowed");
  } else if (data_reader_.has_nul()) {
    reject = MakeReply(550, "5.6.0", "Message rejected: NUL character not allowed");
  } else {
    state_ = State::kCommit;
    return Step{"", Next::kCommitMessage, Event::kNone};
  }
  ResetTransaction();
  state_ = State::kCommand;
  return Step{reject.Wire(), Next::kReadCommand, Event::kMessageRejected};
}

Step ServerSession::OnCommitted(bool ok, std::string_view queue_id) {
  if (state_ == State::kClosed) return Step{"", Next::kClose, Event::kNone};
  if (state_ != State::kCommit) {
    assert(false && "OnCommitted outside kCommitMessage");
    return Close(MakeReply(421, "4.3.0", options_.hostname + " Error: internal error"));
  }
  ResetTransaction();
  if (!ok) return Finish(MakeReply(452, "4.3.1", "Insufficient system storage"));
  return Finish(MakeReply(250, "2.0.0", "Ok: queued as " + SanitizeForReply(queue_id)));
}

Step ServerSession::OnRejected(std::string_view enhanced_code, std::string_view text) {
  if (state_ == State::kClosed) return Step{"", Next::kClose, Event::kNone};
  if (state_ != State::kCommit) {
    assert(false && "OnRejected outside kCommitMessage");
    return Close(MakeReply(421, "4.3.0", options_.hostname + " Error: internal error"));
  }
  assert(enhanced_code.size() >= 5 && enhanced_code[0] == '5' && enhanced_code[1] == '.');
  ResetTransaction();
  // Not through Finish(): a refused message is not a bad command and must not count towards the
  // bad-command limit (nor reset it).
  state_ = State::kCommand;
  const Reply reply = MakeReply(554, enhanced_code, SanitizeForReply(text));
  return Step{reply.Wire(), Next::kReadCommand, Event::kMessageRejected};
}

Step ServerSession::Rset(const Command& command) {
  if (!command.arg.empty()) return Finish(MakeReply(501, "5.5.4", "Syntax: RSET"));
  const Event event = ResetTransaction() ? Event::kTransactionReset : Event::kNone;
  return Finish(MakeReply(250, "2.0.0", "Ok"), Next::kReadCommand, event);
}

Step ServerSession::StartTls(const Command& command) {
  if (!options_.tls_available) return Finish(NotOffered());
  if (tls_active_) return Finish(MakeReply(503, "5.5.1", "Error: TLS already active"));
  if (!command.arg.empty()) return Finish(MakeReply(501, "5.5.4", "Syntax: STARTTLS"));
  if (in_transaction_)
    return Finish(MakeReply(503, "5.5.1", "Error: MAIL transaction in progress"));
  return Finish(MakeReply(220, "2.0.0", "Ready to start TLS"), Next::kStartTls);
}

Step ServerSession::OnTlsEstablished() {
  if (state_ == State::kClosed) return Step{"", Next::kClose, Event::kNone};
  if (state_ != State::kTls) {
    assert(false && "OnTlsEstablished outside kStartTls");
    return Close(MakeReply(421, "4.3.0", options_.hostname + " Error: internal error"));
  }
  // RFC 3207 §4.2: discard all knowledge obtained from the client before the handshake.
  tls_active_ = true;
  helo_.clear();
  esmtp_ = false;
  ResetTransaction();
  state_ = State::kCommand;
  return Step{"", Next::kReadCommand, Event::kNone};
}

Step ServerSession::OnRecipientLookup(LookupResult result) {
  if (state_ == State::kClosed) return Step{"", Next::kClose, Event::kNone};
  if (state_ != State::kLookup) {
    assert(false && "OnRecipientLookup without a lookup");
    return Close(MakeReply(421, "4.3.0", options_.hostname + " Error: internal error"));
  }
  mail::Address recipient = std::exchange(pending_recipient_, mail::Address{});
  // The address is ours to echo: it passed ParseRcptTo; SanitizeForReply keeps it one line.
  const std::string quoted = "<" + SanitizeForReply(recipient.str(), 300) + ">";
  switch (result) {
    case LookupResult::kAccept:
      break;
    case LookupResult::kUnknown:
      return Finish(
          MakeReply(550, "5.1.1", quoted + ": Recipient address rejected: User unknown"));
    case LookupResult::kTempFail:
      return Finish(MakeReply(451, "4.4.3",
                              quoted +
                                  ": Recipient address rejected: Temporary lookup failure, "
                                  "try again later"));
    case LookupResult::kHarvestLimit:
      return Close(
          MakeReply(421, "4.7.0", options_.hostname + " Error: too many invalid recipients"));
  }
  transaction_.recipients.push_back(std::move(recipient));
  last_rcpt_index_ = transaction_.recipients.size() - 1;
  return Finish(MakeReply(250, "2.1.5", "Ok"), Next::kReadCommand, Event::kRcptAccepted);
}

Step ServerSession::OnTimeout() {
  if (state_ == State::kClosed) return Step{"", Next::kClose, Event::kNone};
  return Close(MakeReply(421, "4.4.2", options_.hostname + " Error: timeout exceeded"));
}

Step ServerSession::OnShutdown() {
  if (state_ == State::kClosed) return Step{"", Next::kClose, Event::kNone};
  return Close(MakeReply(421, "4.3.2", options_.hostname + " Service shutting down"));
}

}  // namespace tidegate::smtp
