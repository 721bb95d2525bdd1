// session.h — one inbound SMTP connection: the network half of smtp::ServerSession.
//
// Reads bytes, splits command lines (512 octets at most), feeds DATA through the protocol's
// DataReader, writes replies (batched per RFC 2920: flushed whenever no complete command is
// buffered), performs STARTTLS (discarding anything pipelined after it), enforces the idle and
// total session timeouts with one watchdog timer, logs the reception lines of CONTRACT §5, and hands
// complete messages to the MessageAcceptor, replying 250 only once it reports them durable.
// A Session lives on its listener's io_context thread; it owns itself through shared_from_this
// while its coroutines run.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "inbound/listener.h"
#include "smtp/server_session.h"

namespace tidegate::inbound {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket socket, std::shared_ptr<ListenerRuntime> listener,
          SessionServices* services);
  ~Session();
  boost::asio::awaitable<void> Run();
  // Graceful shutdown: the session answers 421 and closes at its next opportunity.
  void Shutdown();

 private:
  enum class ReadResult { kOk, kClosed, kTimeout, kShutdown };
  // How the greeting delay ended: quiet (greet now), the client talked (refuse), the server is
  // shutting down (421), or the connection is gone (hung up, idle timeout).
  enum class Pregreet { kQuiet, kTalked, kShutdown, kGone };

  boost::asio::awaitable<void> CommandLoop();
  // Waits out the listener's greeting_delay on the event loop, watching for early talk.
  boost::asio::awaitable<Pregreet> AwaitGreetingTime();
  boost::asio::awaitable<bool> Write(std::string_view data);
  boost::asio::awaitable<bool> Flush();
  boost::asio::awaitable<ReadResult> ReadMore();
  boost::asio::awaitable<void> Watchdog();
  boost::asio::awaitable<bool> HandleStep(smtp::Step step);
  boost::asio::awaitable<bool> StartTls();
  boost::asio::awaitable<smtp::Step> CommitMessage();
  void LogEvent(const smtp::Step& step);
  void Touch();
  void Close();
  std::string Preview(std::string_view reply) const;

  boost::asio::ip::tcp::socket socket_;
  // Created by STARTTLS; from then on all I/O goes through it.
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_stream_;
  std::shared_ptr<ListenerRuntime> listener_;
  SessionServices* services_;
  std::shared_ptr<const SessionPolicy> policy_;  // snapshot taken at connect
  smtp::ServerSession protocol_;
  boost::asio::steady_timer watchdog_;
  std::unique_ptr<char[]> read_buffer_;

  std::string in_;          // received, not yet consumed bytes
  std::string out_;         // replies not yet flushed
  bool closed_ = false;
  bool reading_ = false;
  bool timed_out_ = false;
  bool shutdown_ = false;
  std::uint64_t icid_ = 0;
  std::uint64_t mid_ = 0;   // current transaction's MID (0 = none)
  std::string client_ip_;
  std::string tls_protocol_;
  std::string tls_cipher_;
  std::chrono::steady_clock::time_point last_activity_;
  std::chrono::steady_clock::time_point session_deadline_;
};

}  // namespace tidegate::inbound
