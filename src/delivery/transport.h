// transport.h — the byte pipe of one outbound SMTP connection: TCP connect over a list of
// candidate hosts, reads and writes with deadlines, and STARTTLS.
//
// Transport is the interface the delivery engine talks to (a unit test gives it a scripted peer,
// delivery/testing/); TcpTransport is the real one. Every operation takes an absolute deadline;
// TcpTransport's one watchdog timer per transport cancels the socket when the deadline passes, so
// a peer that stops answering (a blackholed intake) never holds a connection past its deadline.
// Lives on one io_context thread; not thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "delivery/next_hop.h"

namespace tidegate::delivery {

class Transport {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  enum class IoStatus { kOk, kClosed, kTimeout, kError };

  virtual ~Transport() = default;

  // Tries the candidates in order, each within its own share of the deadline (per-candidate
  // timeout `each`); on success records which one answered. On failure `error` says why for the
  // last candidate tried ("connection refused", "timed out").
  virtual boost::asio::awaitable<bool> Connect(const std::vector<HostCandidate>& candidates,
                                               std::chrono::milliseconds each, Deadline deadline,
                                               std::string& error) = 0;
  // Reads what is available (at most 64 KiB) and appends it to out.
  virtual boost::asio::awaitable<IoStatus> Read(std::string& out, Deadline deadline) = 0;
  virtual boost::asio::awaitable<IoStatus> Write(std::string_view data, Deadline deadline) = 0;
  // Waits, without reading anything, until the peer sends something or closes the connection
  // (including a TLS alert or close_notify): what an idle connection listens for. No deadline:
  // it ends through the awaiting coroutine's cancellation (e.g. as the losing side of `||`),
  // then with operation_aborted. Returns the wait's error code (none: something to read).
  virtual boost::asio::awaitable<boost::system::error_code> WaitReadable() = 0;
  // TLS handshake as a client; verification per context and PrepareClientStream. On failure
  // `error` holds the OpenSSL reason (e.g. "certificate verify failed").
  virtual boost::asio::awaitable<bool> StartTls(boost::asio::ssl::context& context,
                                                const std::string& peer_name, bool verify,
                                                Deadline deadline, std::string& error) = 0;
  virtual void Close() = 0;

  virtual const std::string& tls_protocol() const = 0;
  virtual const std::string& tls_cipher() const = 0;
  virtual const HostCandidate& peer() const = 0;
  virtual std::string local_ip() const = 0;
};

// Makes the transport of one new connection.
using TransportFactory = std::function<std::unique_ptr<Transport>()>;

class TcpTransport final : public Transport {
 public:
  explicit TcpTransport(boost::asio::any_io_executor executor);
  ~TcpTransport() override;

  boost::asio::awaitable<bool> Connect(const std::vector<HostCandidate>& candidates,
                                       std::chrono::milliseconds each, Deadline deadline,
                                       std::string& error) override;
  boost::asio::awaitable<IoStatus> Read(std::string& out, Deadline deadline) override;
  boost::asio::awaitable<IoStatus> Write(std::string_view data, Deadline deadline) override;
  boost::asio::awaitable<boost::system::error_code> WaitReadable() override;
  boost::asio::awaitable<bool> StartTls(boost::asio::ssl::context& context,
                                        const std::string& peer_name, bool verify,
                                        Deadline deadline, std::string& error) override;
  void Close() override;

  const std::string& tls_protocol() const override { return tls_protocol_; }
  const std::string& tls_cipher() const override { return tls_cipher_; }
  const HostCandidate& peer() const override { return peer_; }
  std::string local_ip() const override;

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
