// rspamd_client.h — the anti-spam engine's client: rspamd's HTTP protocol on its normal worker
// (CONTRACT §10). Check() sends `POST /checkv2` with the IP, Helo, From, Rcpt (one per recipient),
// Queue-Id and Hostname headers and the message as the body, and parses the reply with
// ParseRspamdReply (verdicts.h); Probe() sends `GET /ping` and expects `pong`.
//
// Connections are HTTP/1.1 keep-alive (Boost.Beast), pooled; a reply with `Connection: close`
// (rspamd 3.4's normal worker sends it on every reply) retires its connection. Admission, the
// pool, the whole-request deadline, the retry of a pooled connection the peer had closed, and
// Stop() follow engines/pooled_engine.h.
//
// Errors (the engine is unavailable; the reason is short, for the log): "connection refused",
// "connection reset", "connection closed", "timed out after 15 s", "HTTP status 500",
// "reply too large", "malformed reply: ...", "stopped".
//
// The message is sent from the caller's shared_ptr, never copied; it must not change until
// `done` has run. Threads: everything runs on the executor given; call from it only.
// `done` runs exactly once, on the executor, never inline from Check(); none runs after the
// destructor (the destructor calls Stop()).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "engines/verdicts.h"

namespace tidegate::engines {

struct RspamdOptions {
  std::string host = "127.0.0.1";  // a name or an IP literal
  std::uint16_t port = 11333;
  std::chrono::milliseconds timeout{15000};  // one whole request, connect included
  std::size_t max_concurrency = 32;          // requests in flight; more wait in order
  std::size_t max_reply = 1 << 20;           // reply body bytes
};

namespace internal {
class RspamdProtocol;
template <typename Protocol>
class PooledEngine;
}  // namespace internal

class RspamdClient {
 public:
  RspamdClient(boost::asio::any_io_executor ex, RspamdOptions options);
  ~RspamdClient();
  RspamdClient(const RspamdClient&) = delete;
  RspamdClient& operator=(const RspamdClient&) = delete;

  using Done = std::function<void(base::Result<SpamResult>)>;

  // POST /checkv2 for `message`, told `envelope`. An envelope field holding CR, LF or NUL is
  // refused ("bad envelope") without a request.
  void Check(const Envelope& envelope, std::shared_ptr<const std::string> message, Done done);

  // Connection test (Security Services page): GET /ping → "pong". Same error rules.
  void Probe(std::function<void(base::Status)> done);

  // Cancels everything; pending dones run with "stopped" before it returns.
  void Stop();

  // For tests and status: requests running now, idle pooled connections.
  std::size_t in_flight() const;
  std::size_t idle_connections() const;

 private:
  std::unique_ptr<internal::PooledEngine<internal::RspamdProtocol>> engine_;
};

}  // namespace tidegate::engines
