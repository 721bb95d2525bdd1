// front.cc — see front.h.
#include "http/front.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>
#include <utility>

namespace tidegate::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kReadChunk = 4096;

std::string_view Buffered(const beast::flat_buffer& buffer) {
  auto data = buffer.data();
  return {static_cast<const char*>(data.data()), data.size()};
}

// Reads until Frame() has a verdict on the buffered bytes. nullopt: the connection closed,
// failed or timed out first (nobody to answer).
asio::awaitable<std::optional<Verdict>> ReadHead(beast::tcp_stream& stream,
                                                 beast::flat_buffer& buffer, const Limits& limits) {
  // Frame() runs when a head end may be there or the limit is passed, not on every trickled
  // byte (that would be quadratic in the head size).
  std::size_t scanned = 0;
  for (;;) {
    std::string_view data = Buffered(buffer);
    std::size_t from = scanned >= 3 ? scanned - 3 : 0;
    if (data.find("\r\n\r\n", from) != std::string_view::npos ||
        data.size() > limits.max_header_bytes) {
      Verdict verdict = Frame(data, limits);
      if (verdict.kind != Verdict::Kind::kNeedMore) co_return verdict;
    }
    scanned = data.size();
    auto [ec, n] =
        co_await stream.async_read_some(buffer.prepare(kReadChunk), as_tuple(use_awaitable));
    if (ec) co_return std::nullopt;
    buffer.commit(n);
  }
}

// Half-closes, then discards what the client still sends (bounded), then closes. Closing with
// unread bytes would reset the connection, and a reset can destroy the reply before the client
// has read it.
asio::awaitable<void> LingeringClose(beast::tcp_stream& stream, const FrontOptions& options) {
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (!ec && stream.socket().is_open()) {
    stream.expires_after(options.linger_time);
    std::size_t discarded = 0;
    char sink[kReadChunk];
    while (discarded < options.linger_bytes) {
      auto [read_ec, n] =
          co_await stream.async_read_some(asio::buffer(sink), as_tuple(use_awaitable));
      if (read_ec) break;
      discarded += n;
    }
  }
  stream.close();
}

}  // namespace

Response PlainReply(int status, std::string text) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.set(bhttp::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.body() = std::move(text) + "\n";
  return res;
}

void RejectBusy(tcp::socket& socket) {
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\n"
      "Connection: close\r\n\r\n";
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(asio::buffer(kBusy.data(), kBusy.size()), ignored);
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

asio::awaitable<void> ServeConnection(beast::tcp_stream& stream, const FrontOptions& options,
                                      const Callbacks& callbacks) {
  const auto stopping = [&] { return callbacks.stopping && callbacks.stopping(); };
  const auto refuse = [&](int status, std::string reason) {
    if (callbacks.log) callbacks.log("refused a request: " + std::to_string(status) + " " + reason);
    Response res =
        callbacks.error_reply ? callbacks.error_reply(status, reason) : PlainReply(status, reason);
    res.version(11);
    return Reply{std::move(res), true};
  };
  beast::flat_buffer buffer;
  bool linger = true;  // false once the client is gone: nothing to wait for
  while (!stopping()) {
    stream.expires_after(options.read_timeout);
    std::optional<Verdict> verdict = co_await ReadHead(stream, buffer, options.limits);
    if (!verdict) {
      linger = false;
      break;
    }
    Reply reply;
    unsigned version = verdict->version;
    bool keep_alive = false;
    if (verdict->refused()) {
      reply = refuse(verdict->status, verdict->reason);
    } else {
      // Beast parses the head Frame() accepted (already buffered: no I/O) and then the body.
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.limits.max_header_bytes));
      parser.body_limit(options.limits.max_body);
      auto [ec, n] =
          co_await bhttp::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
      const bool same_framing = !ec && parser.chunked() == (verdict->body == Body::kChunked) &&
                                parser.content_length().value_or(0) == verdict->content_length;
      if (ec || !same_framing) {
        // Frame() is the stricter reader; a difference is refused rather than guessed at.
        reply = refuse(400, "malformed request");
      } else {
        if (!parser.is_done()) {
          if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            auto [write_ec, written] = co_await asio::async_write(
                stream, asio::buffer(kContinue.data(), kContinue.size()), as_tuple(use_awaitable));
            if (write_ec) {
              linger = false;
              break;
            }
          }
          std::tie(ec, n) =
              co_await bhttp::async_read(stream, buffer, parser, as_tuple(use_awaitable));
        }
        if (ec == bhttp::error::body_limit) {
          reply = refuse(413, "request body too large");
        } else if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
                   (ec &&
                    ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category())) {
          linger = false;  // closed, reset or timed out: nobody to answer
          break;
        } else if (ec) {
          reply = refuse(400, "malformed request body");
        } else {
          stream.expires_never();  // a handler may take its time (e.g. a config commit)
          Request request = parser.release();
          keep_alive = request.keep_alive();
          reply = co_await callbacks.handle(request);
        }
      }
    }
    const bool keep = keep_alive && !reply.close && !stopping();
    reply.response.version(version);
    reply.response.keep_alive(keep);
    reply.response.prepare_payload();
    stream.expires_after(options.write_timeout);
    auto [write_ec, written] =
        co_await bhttp::async_write(stream, reply.response, as_tuple(use_awaitable));
    if (write_ec) linger = false;
    if (write_ec || !keep) break;
  }
  if (linger && !stopping()) {
    co_await LingeringClose(stream, options);
  } else {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
  }
}

}  // namespace tidegate::http
