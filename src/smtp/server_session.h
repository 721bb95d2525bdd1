// server_session.h — the SMTP server protocol as a state machine without I/O (RFC 5321, 1869,
// 1870, 2920 PIPELINING, 3207 STARTTLS, 3463, 6152 8BITMIME, 6531 SMTPUTF8).
//
// The network layer (inbound/) owns the socket and drives one ServerSession per connection:
//   Greeting() → write output; then, per Step::next:
//   kReadCommand   read one line (without CRLF) → OnCommand(), or OnLineTooLong() if more than
//                  512 octets came before CRLF (the rest of that line is discarded);
//   kReadData      OnData(bytes, &consumed) with whatever was read; unconsumed bytes are the next
//                  pipelined command(s);
//   kCommitMessage take transaction() / TakeTransaction(), store it durably, then OnCommitted();
//   kStartTls      write output, discard any bytes the client pipelined after STARTTLS
//                  (STARTTLS command injection), handshake, then OnTlsEstablished();
//   kClose         write output, then close.
// OnTimeout()/OnShutdown() may be called in any state. Every Step's output is complete replies
// (possibly several, possibly none) to be written before reading on. Replies never contain client
// bytes. Once a Step said kClose, every later call returns an empty kClose step.
//
// Bad-command limit: replies 500–504 and 555 count as bad commands; a positive reply resets the
// count. The 10th bad command in a row gets its error reply followed by
// "421 4.7.0 <hostname> Error: too many errors" and kClose (stops HTTP POSTs and other non-SMTP
// clients early). Recipient rejections (550/452/451) neither count nor reset.
//
// The check_recipient callback is called synchronously from OnCommand, at most once per RCPT,
// only for syntactically valid, non-routing recipients within max_recipients. It may answer
// kLookup (recipient validation, CONTRACT §13): the Step then says kLookupRecipient with no
// output; the network layer looks pending_recipient() up (asynchronously; no other call but
// OnTimeout/OnShutdown meanwhile) and hands the answer to OnRecipientLookup(), whose Step carries
// the RCPT's reply: 250, `550 5.1.1 <address>: Recipient address rejected: User unknown`,
// `451 4.4.3 <address>: Recipient address rejected: Temporary lookup failure, try again later`,
// or `421 4.7.0 <hostname> Error: too many invalid recipients` and kClose (the harvest limit).
// Not thread-safe: one session is used by one strand at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mail/address.h"
#include "smtp/command.h"
#include "smtp/data_reader.h"
#include "smtp/reply.h"

namespace tidegate::smtp {

struct SessionOptions {
  std::string hostname;                // our name, in the greeting and replies (trusted text)
  std::uint64_t max_message_size = 0;  // > 0; advertised as SIZE and enforced while reading DATA
  std::uint32_t max_recipients = 0;    // recipients accepted per transaction
  bool tls_available = false;          // offer STARTTLS
  bool require_tls = false;            // MAIL only after STARTTLS (530 5.7.0 otherwise)
  std::string greeting_text = "ESMTP";
};

enum class RcptVerdict { kAccept, kRelayDenied, kUnknownUser, kTempFail, kLookup };

// The answer of a recipient lookup (after kLookupRecipient).
enum class LookupResult { kAccept, kUnknown, kTempFail, kHarvestLimit };

enum class Next { kReadCommand, kStartTls, kReadData, kCommitMessage, kLookupRecipient, kClose };

enum class Event {
  kNone,
  kMailAccepted,      // a 250 to MAIL: a transaction started
  kRcptAccepted,      // a 250 to RCPT: last_rcpt_index() is its RID
  kTransactionReset,  // RSET/EHLO/HELO dropped a transaction that had started
  kMessageRejected,   // DATA ended with a 5xx (too big, bare CR/LF, NUL, refused by the
                      // acceptor: OnRejected); transaction dropped
};

struct Step {
  std::string output;  // replies to write, in order; may be empty
  Next next = Next::kReadCommand;
  Event event = Event::kNone;
};

struct Transaction {
  mail::Address sender;
  std::vector<mail::Address> recipients;  // accepted ones, in RID order
  std::uint64_t declared_size = 0;        // SIZE= of MAIL, 0 if none
  bool smtputf8 = false;
  bool body_8bit = false;
  std::string body;  // unstuffed message, CRLF line endings
};

class ServerSession {
 public:
  ServerSession(SessionOptions options,
                std::function<RcptVerdict(const mail::Address&)> check_recipient);

  Step Greeting();                        // "220 <hostname> <greeting_text>"
  Step OnCommand(std::string_view line);  // one command line without CRLF
  Step OnLineTooLong();                   // > 512 octets before CRLF: 500 5.5.2
  // While Next::kReadData. *consumed tells how many bytes of input were used; it stops after
  // the end-of-data sequence. Returns kReadData (need more), kCommitMessage (output empty), or a
  // 552/550 rejection with kReadCommand.
  Step OnData(std::string_view input, std::size_t* consumed);
  // After kCommitMessage: "250 2.0.0 Ok: queued as <id>" / "452 4.3.1 Insufficient system
  // storage"; both end the transaction.
  Step OnCommitted(bool ok, std::string_view queue_id);
  // After kCommitMessage, instead of OnCommitted: the message was refused for good and nothing
  // was stored (e.g. a mail loop): "554 <enhanced_code> <text>", Event::kMessageRejected; ends the
  // transaction. enhanced_code must be a 5.x.y code; text is our own (sanitized anyway).
  Step OnRejected(std::string_view enhanced_code, std::string_view text);
  Step OnTlsEstablished();  // after kStartTls: forgets HELO and any transaction (RFC 3207 §4.2)
  // After kLookupRecipient: the answer for pending_recipient() (see the top of this file).
  Step OnRecipientLookup(LookupResult result);
  Step OnTimeout();         // 421 4.4.2 <hostname> Error: timeout exceeded; kClose
  Step OnShutdown();        // 421 4.3.2 <hostname> Service shutting down; kClose

  const Transaction& transaction() const { return transaction_; }
  // Moves the transaction out (body included), leaving an empty one; for kCommitMessage.
  Transaction TakeTransaction();

  const std::string& helo() const { return helo_; }  // "" before HELO/EHLO; safe characters only
  bool tls_active() const { return tls_active_; }
  bool esmtp() const { return esmtp_; }  // the client greeted with EHLO
  std::size_t last_rcpt_index() const { return last_rcpt_index_; }
  // The recipient being looked up (valid only while kLookupRecipient is pending).
  const mail::Address& pending_recipient() const { return pending_recipient_; }
  // RCPTs refused with 452 4.5.3 in the current transaction (counted, never stored).
  std::uint32_t recipients_over_limit() const { return recipients_over_limit_; }

 private:
  enum class State { kCommand, kData, kCommit, kTls, kLookup, kClosed };

  Step Hello(const Command& command);
  Step Mail(const Command& command);
  Step Rcpt(const Command& command);
  Step Data(const Command& command);
  Step Rset(const Command& command);
  Step StartTls(const Command& command);

  // Turns a command's reply into a Step, applying the bad-command limit.
  Step Finish(const Reply& reply, Next next = Next::kReadCommand, Event event = Event::kNone);
  Step Close(const Reply& reply);
  // Drops the transaction; true if one had started.
  bool ResetTransaction();

  SessionOptions options_;
  std::function<RcptVerdict(const mail::Address&)> check_recipient_;
  State state_ = State::kCommand;
  std::string helo_;
  bool esmtp_ = false;
  bool tls_active_ = false;
  bool in_transaction_ = false;
  Transaction transaction_;
  std::size_t last_rcpt_index_ = 0;
  mail::Address pending_recipient_;
  std::uint32_t recipients_over_limit_ = 0;
  int bad_commands_ = 0;
  DataReader data_reader_;
};

}  // namespace tidegate::smtp
