// clamd_client.h — the anti-virus engine's client: ClamAV clamd's socket protocol over TCP or a
// unix socket (CONTRACT §10). Scan() streams the message with `zINSTREAM` (chunks of
// `u32 big-endian length | bytes`, then a zero length) and parses the reply with ParseClamdReply
// (verdicts.h); Probe() sends `zPING` and expects `PONG`.
//
// Each connection opens with `zIDSESSION`, so that one connection carries many commands; clamd
// then prefixes each reply with the command's number on that connection (`3: stream: OK`), which
// is checked. One command at a time per connection. A connection is kept for the next request
// only after an `OK` or `FOUND` reply; a retired idle connection gets `zEND`. If a write fails
// (clamd answers `INSTREAM size limit exceeded. ERROR` and closes when the stream is longer than
// its StreamMaxLength), the reply is read all the same: that ERROR is a verdict (unscannable),
// not an unavailable engine. Admission, the pool, the whole-request deadline, the retry of a
// pooled connection clamd had closed (its IdleTimeout) and Stop() follow engines/pooled_engine.h.
//
// Errors (the engine is unavailable; a short reason for the log): "connection refused",
// "connection reset", "connection closed", "timed out after 30 s", "reply too large",
// "malformed reply: ...", "bad address", "stopped".
//
// The message is sent from the caller's shared_ptr, never copied; it must not change until
// `done` has run. Threads: everything runs on the executor given; call from it only.
// `done` runs exactly once, on the executor, never inline from Scan(); none runs after the
// destructor (the destructor calls Stop()).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "engines/verdicts.h"

namespace tidegate::engines {

struct ClamdOptions {
  std::string address = "127.0.0.1:3310";    // HOST:PORT ([v6]:PORT) or unix:/path
  std::chrono::milliseconds timeout{30000};  // one whole request, connect included
  std::size_t max_concurrency = 16;          // requests in flight; more wait in order
  std::size_t chunk_size = 64 << 10;         // zINSTREAM chunk
  std::size_t max_reply = 4096;              // one reply line
};

namespace internal {
class ClamdProtocol;
template <typename Protocol>
class PooledEngine;
}  // namespace internal

class ClamdClient {
 public:
  ClamdClient(boost::asio::any_io_executor ex, ClamdOptions options);
  ~ClamdClient();
  ClamdClient(const ClamdClient&) = delete;
  ClamdClient& operator=(const ClamdClient&) = delete;

  using Done = std::function<void(base::Result<VirusResult>)>;

  // zINSTREAM of `message`.
  void Scan(std::shared_ptr<const std::string> message, Done done);

  // Connection test (Security Services page): zPING → PONG. Same error rules.
  void Probe(std::function<void(base::Status)> done);

  // Cancels everything; pending dones run with "stopped" before it returns.
  void Stop();

  // For tests and status: requests running now, idle pooled connections.
  std::size_t in_flight() const;
  std::size_t idle_connections() const;

 private:
  std::unique_ptr<internal::PooledEngine<internal::ClamdProtocol>> engine_;
};

}  // namespace tidegate::engines
