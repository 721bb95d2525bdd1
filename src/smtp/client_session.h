// client_session.h — the SMTP client state machine for one outbound connection, without I/O.
//
// delivery/ owns the socket and the TLS stream; ClientSession owns the protocol. The caller
// feeds it the bytes it reads and writes the bytes it asks for, following Want:
//   kRead      read from the peer and call OnBytes() (or OnTimeout()/OnDisconnected()).
//   kWrite     write all of TakeOutput(), then read as for kRead.
//   kStartTls  do the TLS handshake on the socket, then OnTlsEstablished() (or OnTlsFailed()).
//   kReady     idle, in sync: call StartTransaction() or Quit(). The caller may keep reading
//              while idle; a "421" the server sends before closing an idle connection gives
//              kDone, anything else is a protocol failure.
//   kDone      finished normally (QUIT answered, or the server closed the connection politely).
//   kFailed    see failure()/failure_reason()/failure_reply().
// On kDone and kFailed TakeOutput() may still hold a courtesy "QUIT\r\n" that the caller may send,
// best effort, before closing; nothing more is read.
//
// One connection may carry several transactions (connection reuse): after a transaction its
// result() is final whenever the session is kReady, kDone or kFailed; every recipient then has an
// outcome (recipients not finished when the connection failed are temporary failures).
//
// The peer is untrusted: a malformed reply, a reply that does not fit the command it answers, or
// bytes that arrive before the command they would answer was handed to the caller (response
// injection, e.g. after "220" to STARTTLS) fail the session with Failure::kProtocol.
//
// Thread-safety: a plain object used by one thread at a time (the connection's strand).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "smtp/client_reply_parser.h"

namespace tidegate::smtp {

struct ClientOptions {
  std::string helo_name;  // our host name for EHLO/HELO; printable ASCII without spaces
  enum class Tls { kNone, kPreferred, kRequired } tls = Tls::kPreferred;
  bool tls_available = true;  // the transport can do TLS
};

struct Envelope {
  std::string sender;                   // "local@domain", "" = null reverse-path
  std::vector<std::string> recipients;  // "local@domain", in RCPT order
  std::uint64_t size = 0;               // body size for SIZE=; 0 = unknown (not sent)
  bool body_8bit = false;               // the body has 8-bit bytes (BODY=8BITMIME if offered)
  bool smtputf8 = false;                // the envelope or headers need SMTPUTF8
};

enum class RecipientOutcome { kAccepted, kTempFail, kPermFail };

struct TransactionResult {
  // One entry per envelope recipient, in order: the outcome and the reply that decided it (the
  // final reply for delivered recipients, the RCPT/MAIL/DATA reply or a synthetic one otherwise).
  std::vector<std::pair<RecipientOutcome, ServerReply>> recipients;
  std::optional<ServerReply> final_reply;  // reply to the final dot, if reached

  bool delivered_any() const;
};

class ClientSession {
 public:
  enum class Want { kRead, kWrite, kStartTls, kReady, kDone, kFailed };
  enum class Failure {
    kNone,
    kGreeting,        // "greeting": non-2xx greeting
    kEhlo,            // "ehlo": EHLO and HELO refused
    kTlsUnavailable,  // "tls-unavailable": TLS required but not offered, refused or not possible
    kTlsHandshake,    // "tls-handshake": reported by the caller via OnTlsFailed()
    kProtocol,        // "protocol": malformed or out-of-sequence reply, response injection
    kMail,            // "mail": the server closed (421) during MAIL/RCPT
    kData,            // "data": the server closed (421) during DATA or after the body
    kTimeout,         // "timeout": reported by the caller via OnTimeout()
    kConnection,      // "connection": the peer closed the connection (OnDisconnected())
  };

  // The session expects the server greeting first: the initial Want is kRead.
  explicit ClientSession(ClientOptions options);

  Want OnBytes(std::string_view data);
  Want OnTlsEstablished();               // only after kStartTls: sends EHLO again
  Want OnTlsFailed(std::string detail);  // only after kStartTls: kFailed/kTlsHandshake
  // Only when kReady (a no-op returning kDone/kFailed after those). May complete at once (kReady
  // again) when every recipient fails locally: SMTPUTF8 needed but not offered (5.6.7), size over
  // the server's SIZE (5.3.4), or an address containing control characters (5.1.7/5.1.3) — nothing
  // is sent for those.
  Want StartTransaction(Envelope envelope, std::string body);
  // When kReady: sends QUIT (kWrite, then kDone on any reply). Otherwise abandons the session:
  // kDone, unfinished recipients temp-fail, nothing is sent.
  Want Quit();
  void OnTimeout();       // a read or write timed out: kFailed/kTimeout (kDone when idle/quitting)
  void OnDisconnected();  // the peer closed: kFailed/kConnection (kDone when idle/quitting)

  std::string TakeOutput();
  Want want() const;

  const TransactionResult& result() const { return result_; }
  Failure failure() const { return failure_; }
  std::optional<ServerReply> failure_reply() const { return failure_reply_; }
  // "<class>: <detail>", e.g. "tls-unavailable: STARTTLS not offered by the server".
  std::string failure_reason() const;

  const std::set<std::string>& extensions() const { return extensions_; }
  std::optional<std::uint64_t> max_size() const { return max_size_; }
  bool tls_active() const { return tls_active_; }
  bool saw_bare_lf() const { return saw_bare_lf_; }  // some reply ended lines with bare LF
  // True while the next reply due is the one to the end of the message data (the final dot):
  // the caller times that read with its data timeout, not its command timeout (RFC 5321 4.5.3.2.6).
  bool awaiting_data_reply() const {
    return !expected_.empty() && expected_.front().step == Step::kDot && expected_.front().sent;
  }

 private:
  enum class Phase { kHandshake, kTlsWait, kIdle, kTransaction, kQuitting, kDone, kFailed };
  enum class Step { kGreeting, kEhlo, kHelo, kStartTls, kMail, kRcpt, kData, kDot, kRset, kQuit };
  struct Expected {
    Step step;
    std::size_t rcpt = 0;  // kRcpt: index into the envelope's recipients
    bool sent = false;     // handed to the caller by TakeOutput(): a reply may now arrive
  };
  enum class RcptState { kPending, kAccepted, kFinal };

  void Send(std::string_view line, Step step, std::size_t rcpt = 0);
  void HandleReply(const Expected& expected, ServerReply reply);
  void HandleGreeting(ServerReply reply);
  void HandleEhlo(ServerReply reply);
  void HandleHelo(ServerReply reply);
  void HandleStartTls(ServerReply reply);
  void HandleMail(ServerReply reply);
  void HandleRcpt(std::size_t index, ServerReply reply);
  void HandleData(ServerReply reply);
  void HandleDot(ServerReply reply);
  void HandleRset(ServerReply reply);
  void HandleIdleBytes(std::string_view data);

  void SendEhlo();
  void AfterHello();  // EHLO/HELO accepted: STARTTLS, or ready
  void SendNextRcptOrData();
  void SendRset();
  void FinishTransaction();
  // Sets the outcome of recipient i from a reply's class and marks it final.
  void Decide(std::size_t i, const ServerReply& reply);
  // Every recipient still pending or accepted-at-RCPT gets reply's class.
  void DecideUnfinished(const ServerReply& reply);
  void Fail(Failure failure, std::optional<ServerReply> reply, std::string detail,
            bool courtesy_quit);
  void FailProtocol(std::string detail);
  void ServerClosing(Step step, ServerReply reply);

  ClientOptions options_;
  std::string helo_name_;
  ReplyParser parser_;
  Phase phase_ = Phase::kHandshake;
  std::deque<Expected> expected_;
  std::string output_;

  std::set<std::string> extensions_;
  std::optional<std::uint64_t> max_size_;
  bool tls_active_ = false;
  bool helo_tried_ = false;
  bool saw_bare_lf_ = false;

  // The current transaction.
  Envelope envelope_;
  std::string body_;
  TransactionResult result_;
  std::vector<RcptState> rcpt_state_;
  std::size_t accepted_ = 0;   // recipients accepted at RCPT
  std::size_t next_rcpt_ = 0;  // without PIPELINING: the next recipient to send RCPT for
  bool mail_failed_ = false;
  bool pipelining_ = false;
  bool body_sent_ = false;  // the real body (not a lone dot) went after 354

  Failure failure_ = Failure::kNone;
  std::optional<ServerReply> failure_reply_;
  std::string failure_detail_;
};

// The class name used in failure_reason() ("greeting", "tls-unavailable", ...).
std::string_view FailureName(ClientSession::Failure failure);

}  // namespace tidegate::smtp
