// connection.h — the I/O of one outbound delivery connection: connect to one of a next hop's
// hosts, bring the SMTP session to "ready" (greeting, EHLO, STARTTLS as the queue's rules want),
// run transactions, listen while idle, say QUIT.
//
// A Connection schedules nothing and decides nothing about outcomes: the QueueManager asks it to
// open, to send one entry, to wait while idle, and reads what happened. What it observes it states
// as typed events (telemetry::DeliveryReport); every failure before a transaction is classified
// by delivery/classify.h. The transport comes in from outside (a TcpTransport in production, a
// scripted peer in unit tests), so every path here is unit-tested without sockets.
//
// Lives on one io_context thread; not thread-safe. Every read and write has a deadline.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "delivery/classify.h"
#include "delivery/next_hop.h"
#include "delivery/transport.h"
#include "smtp/client_session.h"
#include "telemetry/delivery_report.h"

namespace tidegate::delivery {

struct ConnectionSettings {
  std::string helo_name;
  smtp::ClientOptions::Tls tls = smtp::ClientOptions::Tls::kPreferred;
  bool tls_verify = false;
  std::shared_ptr<boost::asio::ssl::context> tls_context;  // null: STARTTLS fails
  bool tls_failure_permanent = false;  // the queue never retries a TLS failure (5.7.x)
  std::chrono::milliseconds connect_timeout{30000};  // TCP connect, and the greeting
  std::chrono::milliseconds command_timeout{300000};
  std::chrono::milliseconds data_timeout{600000};  // writes, and the reply to the final dot
  // Slots for a connect to one host (queue::ConnectionBudget); none given = no caps. A host whose
  // slot cannot be had is skipped; the slot taken is given back when the connection closes.
  std::function<bool(const HostCandidate&)> acquire;
  std::function<void(const HostCandidate&)> release;
};

// What Open() came to.
struct Opened {
  enum class Outcome {
    kReady,       // ready for a transaction
    kFailed,      // no host took the connection, or the session failed: see `failure`
    kNoCapacity,  // every host was at its connection cap: nothing tried, no verdict on the peer
  } outcome = Outcome::kFailed;
  Classified failure;
};

class Connection {
 public:
  using Want = smtp::ClientSession::Want;
  using Clock = std::chrono::steady_clock;

  // `next_id` gives the connection its DCID once TCP is up.
  Connection(std::unique_ptr<Transport> transport, ConnectionSettings settings,
             telemetry::DeliveryReport& report, telemetry::ReportStyle style,
             std::function<std::uint64_t()> next_id);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects to the first of `hosts` that has a free slot and answers, and makes the session ready
  // for a transaction. A failure is classified and already reported (and a courtesy QUIT sent
  // where the session still could).
  boost::asio::awaitable<Opened> Open(const std::vector<HostCandidate>& hosts);

  // One transaction; every read and write ends by `deadline` (the entry's lifetime for queues
  // whose rules bound an attempt by it, else never). Afterwards result() holds each recipient's
  // outcome in envelope order, and ready() says whether another transaction may follow.
  boost::asio::awaitable<void> Send(smtp::Envelope envelope, std::string body,
                                    Clock::time_point deadline);
  const smtp::TransactionResult& result() const { return session_.result(); }
  bool ready() const { return want_ == Want::kReady; }
  // The peer or the network cut the connection during the last transaction (a reset, a close
  // without a reply) — not a 421, which is an answer, and not a timeout, which is ours.
  bool cut() const;

  // Idle: waits until `timer` expires or is cancelled (the queue has work: "ring"), while
  // listening to the peer. kLingered: the timer expired; kRung: cancelled; kLost: the peer closed
  // the connection (a 421 goodbye, a close, a reset); kUnusable: the peer sent bytes out of turn
  // or half a reply, we close it without a verdict on the peer.
  enum class Idle { kLingered, kRung, kLost, kUnusable };
  boost::asio::awaitable<Idle> WaitIdle(boost::asio::steady_timer& timer);

  // A polite QUIT (bounded by a few seconds) when the session is still ready.
  boost::asio::awaitable<void> Quit();
  void Close();

  std::uint64_t dcid() const { return dcid_; }
  const HostCandidate& peer() const { return transport_->peer(); }

 private:
  // Runs the session until it wants more than I/O. Reads and writes end by `deadline`; reads
  // before the first write of this call (the server's greeting) also by `greeting_deadline`.
  boost::asio::awaitable<Want> Drive(
      Clock::time_point deadline, Clock::time_point greeting_deadline = Clock::time_point::max());
  boost::asio::awaitable<Idle> HearIdlePeer(boost::system::error_code wait_error);

  std::unique_ptr<Transport> transport_;
  ConnectionSettings settings_;
  telemetry::DeliveryReport& report_;
  telemetry::ReportStyle style_;
  std::function<std::uint64_t()> next_id_;
  smtp::ClientSession session_;
  Want want_ = Want::kFailed;
  std::uint64_t dcid_ = 0;
  std::optional<HostCandidate> slot_;  // the host whose slot this connection holds
};

}  // namespace tidegate::delivery
