// transport.h — the byte pipe of one outbound SMTP connection: TCP connect over a list of
// candidate hosts, reads and writes with deadlines, and STARTTLS.
//
// Every operation takes an absolute deadline; one watchdog timer per transport cancels the socket
// when the deadline passes, so a peer that stops answering (a blackholed intake) never holds a
// connection past its deadline. Lives on one io_context thread; not thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/result.h"
#include "delivery/next_hop.h"

namespace tidegate::delivery {

class Transport {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  enum class IoStatus { kOk, kClosed, kTimeout, kError };

  explicit Transport(boost::asio::any_io_executor executor);
  ~Transport();

  // Tries the candidates in order, each within its own share of the deadline (per-candidate
  // timeout `each`); on success records which one answered. On failure `error` says why for the
  // last candidate tried ("connection refused", "timed out").
  boost::asio::awaitable<bool> Connect(const std::vector<HostCandidate>& candidates,
                                       std::chrono::milliseconds each, Deadline deadline,
                                       std::string& error);
  // Reads what is available (at most 64 KiB) and appends it to out.
  boost::asio::awaitable<IoStatus> Read(std::string& out, Deadline deadline);
  boost::asio::awaitable<IoStatus> Write(std::string_view data, Deadline deadline);
  // Waits, without reading anything, until the peer sends something or closes the connection
  // (including a TLS alert or close_notify): what an idle connection listens for. No deadline:
  // it ends through the awaiting coroutine's cancellation (e.g. as the losing side of `||`),
  // then with operation_aborted. Returns the wait's error code (none: something to read).
  boost::asio::awaitable<boost::system::error_code> WaitReadable();
  // TLS handshake as a client; verification per context and PrepareClientStream. On failure
  // `error` holds the OpenSSL reason (e.g. "certificate verify failed").
  boost::asio::awaitable<bool> StartTls(boost::asio::ssl::context& context,
                                        const std::string& peer_name, bool verify,
                                        Deadline deadline, std::string& error);
  void Close();

  bool tls() const { return tls_ != nullptr; }
  const std::string& tls_protocol() const { return tls_protocol_; }
  const std::string& tls_cipher() const { return tls_cipher_; }
  const HostCandidate& peer() const { return peer_; }
  std::string local_ip() const;

 private:
  void Arm(Deadline deadline);
  void Disarm();
  boost::asio::awaitable<void> Watch();

  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  boost::asio::steady_timer timer_;
  Deadline armed_ = Deadline::max();
  bool timed_out_ = false;
  bool watching_ = false;
  bool closed_ = false;
  std::shared_ptr<bool> alive_;
  HostCandidate peer_;
  std::string tls_protocol_;
  std::string tls_cipher_;
  std::unique_ptr<char[]> buffer_;
};

}  // namespace tidegate::delivery
