// transport.cc — see transport.h.
#include "delivery/transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "delivery/client_tls.h"

namespace tidegate::delivery {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

namespace {
constexpr size_t kReadChunk = 64 * 1024;
}  // namespace

TcpTransport::TcpTransport(asio::any_io_executor executor)
    : socket_(executor),
      timer_(executor),
      alive_(std::make_shared<bool>(true)),
      buffer_(new char[kReadChunk]) {}

TcpTransport::~TcpTransport() {
  *alive_ = false;
  Close();
}

void TcpTransport::Close() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

std::string TcpTransport::local_ip() const {
  boost::system::error_code ec;
  auto ep = socket_.local_endpoint(ec);
  return ec ? std::string("0.0.0.0") : ep.address().to_string();
}

// The watchdog: one timer, re-armed per operation. Operations that outlive their deadline see
// their socket cancelled and report kTimeout.
void TcpTransport::Arm(Deadline deadline) {
  timed_out_ = false;
  armed_ = deadline;
  if (deadline == Deadline::max()) return;
  timer_.expires_at(deadline);
  if (!watching_) {
    watching_ = true;
    asio::co_spawn(timer_.get_executor(), Watch(), asio::detached);
  }
}

void TcpTransport::Disarm() { armed_ = Deadline::max(); }

asio::awaitable<void> TcpTransport::Watch() {
  auto alive = alive_;
  while (*alive && !closed_) {
    co_await timer_.async_wait(as_tuple(use_awaitable));
    if (!*alive || closed_) break;
    if (armed_ != Deadline::max() && std::chrono::steady_clock::now() >= armed_) {
      timed_out_ = true;
      armed_ = Deadline::max();
      boost::system::error_code ignored;
      socket_.cancel(ignored);
    }
    if (timer_.expiry() <= std::chrono::steady_clock::now()) {
      // Nothing armed: park until the next Arm() re-sets the expiry (which cancels this wait).
      timer_.expires_at(Deadline::max());
    }
  }
  if (*alive) watching_ = false;
}

asio::awaitable<bool> TcpTransport::Connect(const std::vector<HostCandidate>& candidates,
                                            std::chrono::milliseconds each, Deadline deadline,
                                            std::string& error) {
  error = "no address to connect to";
  for (const HostCandidate& c : candidates) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      error = "timed out";
      break;
    }
    boost::system::error_code ec;
    if (socket_.is_open()) socket_.close(ec);
    Arm(std::min(deadline, now + each));
    std::tie(ec) = co_await socket_.async_connect(asio::ip::tcp::endpoint(c.address, c.port),
                                                  as_tuple(use_awaitable));
    const bool timed_out = timed_out_;
    Disarm();
    if (!ec) {
      peer_ = c;
      socket_.set_option(asio::ip::tcp::no_delay(true), ec);
      co_return true;
    }
    error = timed_out ? "connection timed out" : ec.message();
  }
  co_return false;
}

asio::awaitable<Transport::IoStatus> TcpTransport::Read(std::string& out, Deadline deadline) {
  if (closed_) co_return IoStatus::kClosed;
  Arm(deadline);
  boost::system::error_code ec;
  size_t n = 0;
  auto buffer = asio::buffer(buffer_.get(), kReadChunk);
  if (tls_) {
    std::tie(ec, n) = co_await tls_->async_read_some(buffer, as_tuple(use_awaitable));
  } else {
    std::tie(ec, n) = co_await socket_.async_read_some(buffer, as_tuple(use_awaitable));
  }
  Disarm();
  if (timed_out_) co_return IoStatus::kTimeout;
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
    co_return IoStatus::kClosed;
  }
  if (ec) co_return IoStatus::kError;
  out.append(buffer_.get(), n);
  co_return IoStatus::kOk;
}

asio::awaitable<Transport::IoStatus> TcpTransport::Write(std::string_view data, Deadline deadline) {
  if (closed_) co_return IoStatus::kClosed;
  if (data.empty()) co_return IoStatus::kOk;
  Arm(deadline);
  boost::system::error_code ec;
  if (tls_) {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(*tls_, asio::buffer(data), as_tuple(use_awaitable));
  } else {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(socket_, asio::buffer(data), as_tuple(use_awaitable));
  }
  Disarm();
  if (timed_out_) co_return IoStatus::kTimeout;
  if (ec) co_return IoStatus::kError;
  co_return IoStatus::kOk;
}

asio::awaitable<boost::system::error_code> TcpTransport::WaitReadable() {
  if (closed_) co_return asio::error::make_error_code(asio::error::bad_descriptor);
  // A readiness wait consumes nothing: on a TLS connection a cancelled read could leave half a
  // record inside the stream, a cancelled wait leaves everything for the next Read().
  auto [ec] =
      co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, as_tuple(use_awaitable));
  co_return ec;
}

asio::awaitable<bool> TcpTransport::StartTls(asio::ssl::context& context,
                                             const std::string& peer_name, bool verify,
                                             Deadline deadline, std::string& error) {
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, context);
  if (base::Status s = PrepareClientStream(*tls_, peer_name, verify); !s) {
    error = s.error().message;
    tls_.reset();
    co_return false;
  }
  Arm(deadline);
  auto [ec] =
      co_await tls_->async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
  Disarm();
  if (ec || timed_out_) {
    if (timed_out_) {
      error = "TLS handshake timed out";
    } else {
      error = ec.message();
      long verify_result = SSL_get_verify_result(tls_->native_handle());
      if (verify && verify_result != X509_V_OK) {
        error = std::string("certificate verify failed: ") +
                X509_verify_cert_error_string(verify_result);
      }
    }
    tls_.reset();
    co_return false;
  }
  SSL* ssl = tls_->native_handle();
  tls_protocol_ = SSL_get_version(ssl);
  tls_cipher_ = SSL_get_cipher_name(ssl);
  co_return true;
}

}  // namespace tidegate::delivery
