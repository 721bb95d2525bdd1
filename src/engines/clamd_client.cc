// clamd_client.cc — see clamd_client.h.
#include "engines/clamd_client.h"

#include <fmt/format.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "engines/pooled_engine.h"

namespace tidegate::engines {

namespace internal {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using Socket = asio::generic::stream_protocol::socket;

// Where clamd listens: a unix socket path, or a host and port.
struct ClamdAddress {
  std::string path;  // unix:
  std::string host, port;
};

std::optional<ClamdAddress> ParseAddress(std::string_view address) {
  ClamdAddress out;
  if (address.starts_with("unix:")) {
    out.path = std::string(address.substr(5));
    if (out.path.empty()) return std::nullopt;
    return out;
  }
  std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) {
    return std::nullopt;
  }
  std::string_view host = address.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string_view port = address.substr(colon + 1);
  if (host.empty() || port.find_first_not_of("0123456789") != std::string_view::npos ||
      port.size() > 5) {
    return std::nullopt;
  }
  out.host = std::string(host);
  out.port = std::string(port);
  return out;
}

class ClamdProtocol {
 public:
  struct Connection : SocketConnection<Socket> {
    using SocketConnection::SocketConnection;
    std::string buffer;         // bytes read past the last reply
    std::uint64_t next_id = 1;  // clamd numbers a session's commands from 1
  };

  struct Request {
    std::shared_ptr<const std::string> message;  // null: zPING
  };

  explicit ClamdProtocol(ClamdOptions options)
      : options_(std::move(options)), address_(ParseAddress(options_.address)) {
    if (options_.chunk_size == 0) options_.chunk_size = 64 << 10;
  }

  std::shared_ptr<Connection> NewConnection(const asio::any_io_executor& ex) const {
    return std::make_shared<Connection>(ex);
  }

  asio::awaitable<base::Status> Open(Connection& conn) const {
    if (!address_) co_return base::MakeError("bad address");
    boost::system::error_code ec;
    if (!address_->path.empty()) {
      std::tie(ec) = co_await conn.socket.async_connect(
          asio::local::stream_protocol::endpoint(address_->path), as_tuple(use_awaitable));
    } else {
      auto [resolve_ec, endpoints] = co_await conn.resolver.async_resolve(
          address_->host, address_->port, as_tuple(use_awaitable));
      if (resolve_ec) co_return base::MakeError("cannot resolve " + address_->host);
      ec = asio::error::host_not_found;
      for (const auto& entry : endpoints) {
        boost::system::error_code ignored;
        conn.socket.close(ignored);
        std::tie(ec) = co_await conn.socket.async_connect(
            asio::generic::stream_protocol::endpoint(entry.endpoint()), as_tuple(use_awaitable));
        if (!ec || ec == asio::error::operation_aborted) break;
      }
    }
    if (ec) co_return base::MakeError(Reason(ec));
    static constexpr std::string_view kSession{"zIDSESSION\0", 11};
    auto [write_ec, n] = co_await asio::async_write(
        conn.socket, asio::buffer(kSession.data(), kSession.size()), as_tuple(use_awaitable));
    if (write_ec) co_return base::MakeError(Reason(write_ec));
    co_return base::Status::Ok();
  }

  asio::awaitable<Exchanged> Exchange(Connection& conn, const Request& request) const {
    const std::uint64_t id = conn.next_id++;
    boost::system::error_code write_ec = co_await Send(conn, request);
    // Even after a failed write: clamd may have answered (a size limit) before it closed.
    Exchanged x;
    auto [read_ec, n] = co_await asio::async_read_until(
        conn.socket, asio::dynamic_buffer(conn.buffer, options_.max_reply + 32), '\0',
        as_tuple(use_awaitable));
    x.heard = !conn.buffer.empty();
    if (read_ec) {
      if (read_ec == asio::error::not_found) {
        x.reply = base::MakeError("reply too large");
      } else {
        x.reply = base::MakeError(Reason(write_ec && !x.heard ? write_ec : read_ec));
      }
      co_return x;
    }
    std::string line = conn.buffer.substr(0, n - 1);
    conn.buffer.erase(0, n);
    std::optional<SessionReply> reply = SplitSessionReply(line);
    if (!reply || reply->id != id) {
      x.reply = base::MakeError("malformed reply: not this command's");
      co_return x;
    }
    std::string_view text = reply->reply;
    // Only after a verdict does clamd read the next command; an ERROR may close the session.
    x.keep = !write_ec && conn.buffer.empty() &&
             (request.message ? text.ends_with(" OK") || text.ends_with(" FOUND") : text == "PONG");
    x.reply = std::string(text);
    co_return x;
  }

  void Retire(Connection& conn) const {
    // zEND without waiting: a few bytes on an idle socket go into its send buffer at once.
    static constexpr std::string_view kEnd{"zEND\0", 5};
    boost::system::error_code ignored;
    conn.socket.non_blocking(true, ignored);
    conn.socket.write_some(asio::buffer(kEnd.data(), kEnd.size()), ignored);
    conn.Abort();
  }

 private:
  // The command, then the message in chunks from the caller's buffer (never copied).
  asio::awaitable<boost::system::error_code> Send(Connection& conn, const Request& request) const {
    if (!request.message) {
      static constexpr std::string_view kPing{"zPING\0", 6};
      auto [ec, n] = co_await asio::async_write(
          conn.socket, asio::buffer(kPing.data(), kPing.size()), as_tuple(use_awaitable));
      co_return ec;
    }
    // One gathered write: the command, every chunk with its length, and the zero-length
    // terminator. clamd reads a command per wakeup of its poll loop; the same bytes in separate
    // small writes cost it a wakeup (and a Nagle/delayed-ACK wait) each.
    static constexpr std::string_view kInstream{"zINSTREAM\0", 10};
    static constexpr std::array<unsigned char, 4> kTerminator{0, 0, 0, 0};
    const std::string& message = *request.message;
    const std::size_t chunks = (message.size() + options_.chunk_size - 1) / options_.chunk_size;
    std::vector<std::array<unsigned char, 4>> lengths(chunks);
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(2 * chunks + 2);
    buffers.push_back(asio::buffer(kInstream.data(), kInstream.size()));
    for (std::size_t k = 0, offset = 0; k < chunks; ++k, offset += options_.chunk_size) {
      std::size_t size = std::min(options_.chunk_size, message.size() - offset);
      auto u32 = static_cast<std::uint32_t>(size);
      lengths[k] = {static_cast<unsigned char>(u32 >> 24), static_cast<unsigned char>(u32 >> 16),
                    static_cast<unsigned char>(u32 >> 8), static_cast<unsigned char>(u32)};
      buffers.push_back(asio::buffer(lengths[k]));
      buffers.push_back(asio::buffer(message.data() + offset, size));
    }
    buffers.push_back(asio::buffer(kTerminator));
    auto [ec, written] = co_await asio::async_write(conn.socket, buffers, as_tuple(use_awaitable));
    co_return ec;
  }

  ClamdOptions options_;
  std::optional<ClamdAddress> address_;
};

}  // namespace internal

ClamdClient::ClamdClient(boost::asio::any_io_executor ex, ClamdOptions options) {
  std::size_t limit = options.max_concurrency;
  auto timeout = options.timeout;
  engine_ = std::make_unique<internal::PooledEngine<internal::ClamdProtocol>>(
      std::move(ex), internal::ClamdProtocol(std::move(options)), limit, timeout);
}

ClamdClient::~ClamdClient() = default;

void ClamdClient::Scan(std::shared_ptr<const std::string> message, Done done) {
  if (!message) message = std::make_shared<const std::string>();
  engine_->Submit({std::move(message)}, [done = std::move(done)](base::Result<std::string> reply) {
    if (!reply) return done(reply.error());
    done(ParseClamdReply(*reply));
  });
}

void ClamdClient::Probe(std::function<void(base::Status)> done) {
  engine_->Submit({nullptr}, [done = std::move(done)](base::Result<std::string> reply) {
    if (!reply) return done(reply.error());
    if (*reply != "PONG") return done(base::MakeError("malformed reply: not PONG"));
    done(base::Status::Ok());
  });
}

void ClamdClient::Stop() { engine_->Stop(); }

std::size_t ClamdClient::in_flight() const { return engine_->in_flight(); }

std::size_t ClamdClient::idle_connections() const { return engine_->idle_connections(); }

}  // namespace tidegate::engines
