// session.cc — see session.h.
#include "inbound/session.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "inbound/trace_headers.h"
#include "mail/headers.h"
#include "telemetry/log_quote.h"
#include "telemetry/mail_log.h"

namespace tidegate::inbound {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF.
constexpr size_t kMaxCommandLine = 512;
// Past this much of one command line without a line end the client is not speaking SMTP.
constexpr size_t kMaxDiscard = 1 << 20;
constexpr size_t kReadChunk = 64 * 1024;
// How long a write of a final reply may block after a timeout before the socket is torn down.
constexpr auto kCloseGrace = std::chrono::seconds(10);

// Completes when the acceptor reports the message durable (or not), on the session's executor.
template <typename Token>
auto AsyncAccept(MessageAcceptor& acceptor, ReceivedMessage message, Token&& token) {
  return asio::async_initiate<Token, void(AcceptResult)>(
      [&acceptor](auto handler, ReceivedMessage msg) {
        auto executor = asio::get_associated_executor(handler);
        // std::function needs a copyable callable; the handler is move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        acceptor.Accept(std::move(msg), [shared, executor](AcceptResult result) {
          asio::post(executor, [shared, result = std::move(result)]() mutable {
            (*shared)(std::move(result));
          });
        });
      },
      token, std::move(message));
}

// Completes with the policy's answer for a recipient lookup, on the session's executor.
// The initiation runs when the coroutine awaits, after this function returned: it owns copies of
// everything it uses (the policy is the session's, which outlives the await).
template <typename Token>
auto AsyncLookup(const SessionPolicy& policy, std::uint64_t icid, std::string client_ip,
                 mail::Address recipient, Token&& token) {
  return asio::async_initiate<Token, void(RecipientLookupAnswer)>(
      [&policy](auto handler, std::uint64_t id, std::string ip, mail::Address rcpt) {
        auto executor = asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        policy.lookup_recipient(id, ip, rcpt, [shared, executor](RecipientLookupAnswer answer) {
          asio::post(executor, [shared, a = std::move(answer)]() mutable {
            (*shared)(std::move(a));
          });
        });
      },
      token, icid, std::move(client_ip), std::move(recipient));
}

std::string StripCrlf(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, std::shared_ptr<ListenerRuntime> listener,
                 SessionServices* services)
    : socket_(std::move(socket)),
      listener_(std::move(listener)),
      services_(services),
      policy_(services->policy()),
      protocol_(
          smtp::SessionOptions{
              .hostname = policy_->hostname,
              .max_message_size = listener_->settings.max_message_size,
              .max_recipients = listener_->settings.max_recipients,
              .tls_available = listener_->tls != nullptr,
              .require_tls = listener_->settings.require_tls,
          },
          policy_->check_recipient),
      watchdog_(socket_.get_executor()),
      read_buffer_(new char[kReadChunk]) {
  boost::system::error_code ec;
  auto remote = socket_.remote_endpoint(ec);
  client_ip_ = ec ? "unknown" : remote.address().to_string();
  listener_->sessions.insert(this);
  ++listener_->active;
}

Session::~Session() {
  listener_->sessions.erase(this);
  --listener_->active;
}

void Session::Touch() { last_activity_ = std::chrono::steady_clock::now(); }

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  watchdog_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

void Session::Shutdown() {
  shutdown_ = true;
  if (reading_) {
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  }
}

asio::awaitable<bool> Session::Write(std::string_view data) {
  if (closed_ || data.empty()) co_return !closed_;
  boost::system::error_code ec;
  if (tls_stream_) {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(*tls_stream_, asio::buffer(data), as_tuple(use_awaitable));
  } else {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(socket_, asio::buffer(data), as_tuple(use_awaitable));
  }
  if (ec) {
    Close();
    co_return false;
  }
  Touch();
  co_return true;
}

asio::awaitable<bool> Session::Flush() {
  if (out_.empty()) co_return !closed_;
  std::string data;
  data.swap(out_);
  co_return co_await Write(data);
}

asio::awaitable<Session::ReadResult> Session::ReadMore() {
  if (closed_) co_return ReadResult::kClosed;
  if (shutdown_) co_return ReadResult::kShutdown;
  reading_ = true;
  boost::system::error_code ec;
  size_t n = 0;
  auto buffer = asio::buffer(read_buffer_.get(), kReadChunk);
  if (tls_stream_) {
    std::tie(ec, n) = co_await tls_stream_->async_read_some(buffer, as_tuple(use_awaitable));
  } else {
    std::tie(ec, n) = co_await socket_.async_read_some(buffer, as_tuple(use_awaitable));
  }
  reading_ = false;
  if (timed_out_) co_return ReadResult::kTimeout;
  if (shutdown_ && (ec || n == 0)) co_return ReadResult::kShutdown;
  if (ec || n == 0) co_return ReadResult::kClosed;
  in_.append(read_buffer_.get(), n);
  Touch();
  co_return ReadResult::kOk;
}

asio::awaitable<void> Session::Watchdog() {
  auto self = shared_from_this();
  const auto idle = listener_->settings.idle_timeout;
  while (!closed_) {
    const auto deadline = std::min(last_activity_ + idle, session_deadline_);
    watchdog_.expires_at(deadline);
    co_await watchdog_.async_wait(as_tuple(use_awaitable));
    if (closed_) break;
    const auto now = std::chrono::steady_clock::now();
    if (now < std::min(last_activity_ + idle, session_deadline_)) continue;  // activity meanwhile
    timed_out_ = true;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
    // The session now writes 421 and closes; a client that does not read cannot hold it open.
    watchdog_.expires_after(kCloseGrace);
    co_await watchdog_.async_wait(as_tuple(use_awaitable));
    if (!closed_) Close();
    break;
  }
}

std::string Session::Preview(std::string_view reply) const {
  // The last line of a reply, for log lines.
  std::string text = StripCrlf(reply);
  auto pos = text.rfind('\n');
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

void Session::LogEvent(const smtp::Step& step) {
  telemetry::MailLog& log = *services_->log;
  switch (step.event) {
    case smtp::Event::kNone:
      break;
    case smtp::Event::kMailAccepted: {
      mid_ = services_->next_mid();
      const auto& tx = protocol_.transaction();
      log.Info(fmt::format("Start MID {} ICID {}", mid_, icid_));
      log.Info(fmt::format("MID {} ICID {} From: <{}>", mid_, icid_, tx.sender.str()));
      break;
    }
    case smtp::Event::kRcptAccepted: {
      const auto& tx = protocol_.transaction();
      const size_t rid = protocol_.last_rcpt_index();
      if (rid < tx.recipients.size()) {
        log.Info(fmt::format("MID {} ICID {} RID {} To: <{}>", mid_, icid_, rid,
                             tx.recipients[rid].str()));
      }
      break;
    }
    case smtp::Event::kTransactionReset:
      if (mid_ != 0) log.Info(fmt::format("Message aborted MID {} Receiving aborted", mid_));
      mid_ = 0;
      break;
    case smtp::Event::kMessageRejected:
      if (mid_ != 0) {
        log.Info(fmt::format("MID {} ICID {} rejected: {}", mid_, icid_, Preview(step.output)));
      }
      mid_ = 0;
      break;
  }
}

asio::awaitable<bool> Session::StartTls() {
  in_.clear();  // anything pipelined after STARTTLS was sent in clear text: never act on it
  tls_stream_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_,
                                                                             *listener_->tls);
  auto [ec] = co_await tls_stream_->async_handshake(asio::ssl::stream_base::server,
                                                   as_tuple(use_awaitable));
  if (ec) {
    services_->log->Info(fmt::format("ICID {} TLS failed: {}", icid_, ec.message()));
    tls_stream_.reset();
    Close();
    co_return false;
  }
  Touch();
  SSL* ssl = tls_stream_->native_handle();
  tls_protocol_ = SSL_get_version(ssl);
  tls_cipher_ = SSL_get_cipher_name(ssl);
  services_->log->Info(fmt::format("ICID {} TLS success protocol {} cipher {}", icid_,
                                   tls_protocol_, tls_cipher_));
  co_return true;
}

asio::awaitable<smtp::Step> Session::CommitMessage() {
  smtp::Transaction tx = protocol_.TakeTransaction();
  telemetry::MailLog& log = *services_->log;
  ReceivedMessage message;
  message.mid = mid_;
  message.icid = icid_;
  message.received = services_->clock->Now();
  message.listener = listener_->settings.name;
  message.client_ip = client_ip_;
  message.helo = protocol_.helo();
  message.tls = tls_stream_ != nullptr;
  std::string_view headers = mail::HeaderSection(tx.body);
  message.message_id = mail::FirstHeaderValue(headers, "Message-ID").value_or("");
  message.subject = mail::FirstHeaderValue(headers, "Subject").value_or("");
  message.received_headers = mail::CountHeaders(headers, "Received");
  message.declared_8bitmime = tx.body_8bit;
  message.declared_smtputf8 = tx.smtputf8;

  TraceInfo trace{
      .helo = message.helo,
      .client_ip = client_ip_,
      .reverse_dns = "",
      .hostname = policy_->hostname,
      .mid = mid_,
      .esmtp = protocol_.esmtp(),
      .smtputf8 = tx.smtputf8,
      .tls = message.tls,
      .tls_protocol = tls_protocol_,
      .tls_cipher = tls_cipher_,
      .for_recipient = tx.recipients.size() == 1 ? tx.recipients[0].str() : std::string(),
      .when = message.received,
  };
  std::string prefix = BuildReceivedHeader(trace);
  if (!policy_->remote_ip_header.empty()) {
    prefix += BuildRemoteIpHeader(policy_->remote_ip_header, client_ip_);
  }
  message.body.reserve(prefix.size() + tx.body.size());
  message.body = std::move(prefix);
  message.body += tx.body;
  tx.body.clear();
  tx.body.shrink_to_fit();
  message.sender = std::move(tx.sender);
  message.recipients = std::move(tx.recipients);

  if (!message.message_id.empty()) {
    log.Info(fmt::format("MID {} Message-ID {}", mid_, telemetry::ReprQuote(message.message_id)));
  }
  log.Info(fmt::format("MID {} Subject {}", mid_, telemetry::ReprQuote(message.subject)));
  log.Info(fmt::format("MID {} ready {} bytes from <{}>", mid_, message.body.size(),
                       message.sender.str()));

  const std::uint64_t mid = mid_;
  mid_ = 0;
  AcceptResult result =
      co_await AsyncAccept(*services_->acceptor, std::move(message), use_awaitable);
  if (result.rejection) {
    smtp::Step step = protocol_.OnRejected(result.rejection->enhanced_code, result.rejection->text);
    // LogEvent() has no MID any more (mid_ was cleared for the hand-off): log it here.
    log.Info(fmt::format("MID {} ICID {} rejected: {}", mid, icid_, Preview(step.output)));
    co_return step;
  }
  if (!result.status.ok()) {
    log.Warning(fmt::format("MID {} not stored, answered 452: {}", mid,
                            result.status.error().message));
    co_return protocol_.OnCommitted(false, std::to_string(mid));
  }
  co_return protocol_.OnCommitted(true, std::to_string(mid));
}

asio::awaitable<bool> Session::HandleStep(smtp::Step step) {
  while (true) {
    out_ += step.output;
    LogEvent(step);
    switch (step.next) {
      case smtp::Next::kReadCommand:
        co_return !closed_;
      case smtp::Next::kClose:
        co_await Flush();
        Close();
        co_return false;
      case smtp::Next::kStartTls:
        if (!co_await Flush()) co_return false;
        if (!co_await StartTls()) co_return false;
        step = protocol_.OnTlsEstablished();
        continue;
      case smtp::Next::kCommitMessage:
        step = co_await CommitMessage();
        continue;
      case smtp::Next::kLookupRecipient: {
        if (!policy_->lookup_recipient) {
          step = protocol_.OnRecipientLookup(smtp::LookupResult::kAccept);
          continue;
        }
        RecipientLookupAnswer answer = co_await AsyncLookup(
            *policy_, icid_, client_ip_, protocol_.pending_recipient(), use_awaitable);
        if (!answer.log_line.empty()) services_->log->Info(answer.log_line);
        step = protocol_.OnRecipientLookup(answer.result);
        continue;
      }
      case smtp::Next::kReadData: {
        if (!in_.empty()) {
          // RFC 2920 §3.1: message content may only follow the 354. A client that sent it before
          // is not waiting for our replies; it could be smuggling. Refuse and hang up.
          out_.resize(out_.size() - step.output.size());
          out_ += "554 5.5.0 Error: improper use of SMTP command pipelining\r\n";
          services_->log->Info(
              fmt::format("ICID {} improper pipelining of message content, closing", icid_));
          co_await Flush();
          Close();
          co_return false;
        }
        if (!co_await Flush()) co_return false;
        while (true) {
          if (in_.empty()) {
            ReadResult r = co_await ReadMore();
            if (r == ReadResult::kTimeout) {
              step = protocol_.OnTimeout();
              break;
            }
            if (r != ReadResult::kOk) {
              if (r == ReadResult::kShutdown) {
                step = protocol_.OnShutdown();
                break;
              }
              Close();
              co_return false;
            }
          }
          size_t consumed = 0;
          smtp::Step data_step = protocol_.OnData(in_, &consumed);
          in_.erase(0, consumed);
          if (data_step.next != smtp::Next::kReadData || !data_step.output.empty()) {
            step = std::move(data_step);
            break;
          }
        }
        continue;
      }
    }
  }
}

asio::awaitable<void> Session::Run() {
  auto self = shared_from_this();
  icid_ = services_->next_icid();
  if (services_->on_connection) services_->on_connection();
  Touch();
  session_deadline_ = last_activity_ + listener_->settings.session_timeout;
  asio::co_spawn(socket_.get_executor(), Watchdog(), asio::detached);

  telemetry::MailLog& log = *services_->log;
  log.Info(fmt::format(
      "New SMTP ICID {} interface {} ({}) address {} reverse dns host unknown verified no", icid_,
      listener_->settings.name, listener_->bound_ip, client_ip_));

  if (listener_->active > listener_->settings.max_connections) {
    log.Info(fmt::format("ICID {} refused: too many connections on {}", icid_,
                         listener_->settings.name));
    co_await Write("421 4.7.0 " + policy_->hostname +
                   " Too many connections, try again later\r\n");
    Close();
  } else if (listener_->stopping) {
    co_await Write(protocol_.OnShutdown().output);
    Close();
  } else {
    const auto connected = std::chrono::steady_clock::now();
    const Pregreet pregreet = co_await AwaitGreetingTime();
    boost::system::error_code ec;
    if (pregreet == Pregreet::kTalked || (!closed_ && socket_.available(ec) > 0 && !ec)) {
      // The client talked before our greeting: not a conforming SMTP client (RFC 5321 §3.1).
      const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - connected);
      log.Info(fmt::format("ICID {} pre-greeting traffic, refused ({} bytes after {} ms)", icid_,
                           socket_.available(ec), after.count()));
      co_await Write("554 5.5.1 " + policy_->hostname +
                     " Error: SMTP protocol violation (talked before the greeting)\r\n");
      Close();
    } else if (pregreet == Pregreet::kShutdown) {
      co_await Write(protocol_.OnShutdown().output);
      Close();
    } else if (pregreet == Pregreet::kQuiet && co_await HandleStep(protocol_.Greeting()) &&
               co_await Flush()) {
      co_await CommandLoop();
    }
  }
  if (mid_ != 0) log.Info(fmt::format("Message aborted MID {} Receiving aborted", mid_));
  Close();
  log.Info(fmt::format("ICID {} close", icid_));
}

asio::awaitable<Session::Pregreet> Session::AwaitGreetingTime() {
  const auto delay = listener_->settings.greeting_delay;
  if (delay.count() <= 0 || closed_) co_return closed_ ? Pregreet::kGone : Pregreet::kQuiet;
  // Wait for the end of the delay or the client's first byte, whichever comes first: the timer
  // ends the wait by cancelling it, so an early talker is caught whenever it talks, and the
  // delay never blocks the event loop.
  asio::steady_timer timer(socket_.get_executor(), delay);
  // Shared with the timer's handler, which may run after this frame is gone (expiry racing the
  // client's first byte): once the wait is over it must cancel nothing.
  struct WaitState {
    bool over = false;
    bool expired = false;
  };
  auto state = std::make_shared<WaitState>();
  timer.async_wait([this, self = shared_from_this(), state](boost::system::error_code ec) {
    if (ec || state->over || closed_) return;
    state->expired = true;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  });
  reading_ = true;  // Shutdown() and the watchdog cancel this wait like a read
  auto [ec] = co_await socket_.async_wait(asio::socket_base::wait_read, as_tuple(use_awaitable));
  reading_ = false;
  state->over = true;
  timer.cancel();
  const bool expired = state->expired;
  if (shutdown_) co_return Pregreet::kShutdown;
  if (timed_out_ || closed_) co_return Pregreet::kGone;
  if (!ec) {
    // Readable: bytes, or the client hung up without a word.
    boost::system::error_code aec;
    co_return socket_.available(aec) > 0 && !aec ? Pregreet::kTalked : Pregreet::kGone;
  }
  co_return expired ? Pregreet::kQuiet : Pregreet::kGone;
}

asio::awaitable<void> Session::CommandLoop() {
  size_t discarded = 0;  // bytes of an over-long command line dropped so far
  while (!closed_) {
    const size_t nl = in_.find('\n');
    if (nl == std::string::npos) {
      if (in_.size() >= kMaxCommandLine || discarded > 0) {
        discarded += in_.size();
        in_.clear();
        if (discarded > kMaxDiscard) {
          out_ += protocol_.OnLineTooLong().output;
          out_ += "421 4.7.0 " + policy_->hostname + " Line too long, closing connection\r\n";
          co_await Flush();
          Close();
          co_return;
        }
      }
      if (!co_await Flush()) co_return;
      ReadResult r = co_await ReadMore();
      if (r == ReadResult::kOk) continue;
      if (r == ReadResult::kTimeout) {
        co_await HandleStep(protocol_.OnTimeout());
      } else if (r == ReadResult::kShutdown) {
        co_await HandleStep(protocol_.OnShutdown());
      }
      Close();
      co_return;
    }
    smtp::Step step;
    if (discarded > 0 || nl + 1 > kMaxCommandLine) {
      discarded = 0;
      in_.erase(0, nl + 1);
      step = protocol_.OnLineTooLong();
    } else {
      std::string_view line(in_.data(), nl);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      step = protocol_.OnCommand(line);
      in_.erase(0, nl + 1);
    }
    if (!co_await HandleStep(std::move(step))) co_return;
    if (shutdown_ && in_.empty()) {
      co_await HandleStep(protocol_.OnShutdown());
      co_return;
    }
  }
}

}  // namespace tidegate::inbound
