// rspamd_client.cc — see rspamd_client.h.
#include "engines/rspamd_client.h"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <string_view>
#include <utility>
#include <vector>

#include "engines/pooled_engine.h"

namespace tidegate::engines {

namespace internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

class RspamdProtocol {
 public:
  struct Connection : SocketConnection<tcp::socket> {
    using SocketConnection::SocketConnection;
    beast::flat_buffer buffer;
  };

  struct Request {
    http::verb method = http::verb::get;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::shared_ptr<const std::string> body;  // null: none
  };

  explicit RspamdProtocol(RspamdOptions options) : options_(std::move(options)) {}

  const RspamdOptions& options() const { return options_; }

  std::shared_ptr<Connection> NewConnection(const asio::any_io_executor& ex) const {
    return std::make_shared<Connection>(ex);
  }

  asio::awaitable<base::Status> Open(Connection& conn) const {
    auto [resolve_ec, endpoints] = co_await conn.resolver.async_resolve(
        options_.host, std::to_string(options_.port), as_tuple(use_awaitable));
    if (resolve_ec) co_return base::MakeError("cannot resolve " + options_.host);
    auto [connect_ec, endpoint] =
        co_await asio::async_connect(conn.socket, endpoints, as_tuple(use_awaitable));
    if (connect_ec) co_return base::MakeError(Reason(connect_ec));
    co_return base::Status::Ok();
  }

  asio::awaitable<Exchanged> Exchange(Connection& conn, const Request& request) const {
    http::request<http::span_body<const char>> req{request.method, request.target, 11};
    bool v6 = options_.host.find(':') != std::string::npos;  // an IPv6 literal: [::1]:11333
    req.set(http::field::host,
            fmt::format("{}{}{}:{}", v6 ? "[" : "", options_.host, v6 ? "]" : "", options_.port));
    req.set(http::field::user_agent, "tidegate");
    for (const auto& [name, value] : request.headers) req.insert(name, value);
    if (request.body) {
      req.body() = {request.body->data(), request.body->size()};
    }
    req.keep_alive(true);
    req.prepare_payload();

    Exchanged x;
    auto [write_ec, written] =
        co_await http::async_write(conn.socket, req, as_tuple(use_awaitable));
    // A peer may answer and close before it has read everything: read the reply regardless.
    conn.buffer.clear();
    http::response_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(options_.max_reply);
    auto [read_ec, read] =
        co_await http::async_read(conn.socket, conn.buffer, parser, as_tuple(use_awaitable));
    x.heard = parser.got_some() || conn.buffer.size() > 0;
    if (read_ec) {
      if (read_ec == http::error::body_limit || read_ec == http::error::header_limit) {
        x.reply = base::MakeError("reply too large");
      } else if (read_ec.category() == http::make_error_code(http::error::body_limit).category() &&
                 read_ec != http::error::end_of_stream && read_ec != http::error::partial_message) {
        x.reply = base::MakeError("malformed reply");
      } else {
        x.reply = base::MakeError(Reason(write_ec && !x.heard ? write_ec : read_ec));
      }
      co_return x;
    }
    auto& res = parser.get();
    if (res.result_int() != 200) {
      x.reply = base::MakeError(fmt::format("HTTP status {}", res.result_int()));
      co_return x;
    }
    x.keep = !write_ec && res.keep_alive();
    x.reply = std::move(res.body());
    co_return x;
  }

  void Retire(Connection& conn) const { conn.Abort(); }

 private:
  RspamdOptions options_;
};

}  // namespace internal

namespace {

bool SafeHeaderValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace

RspamdClient::RspamdClient(boost::asio::any_io_executor ex, RspamdOptions options) {
  std::size_t limit = options.max_concurrency;
  auto timeout = options.timeout;
  engine_ = std::make_unique<internal::PooledEngine<internal::RspamdProtocol>>(
      std::move(ex), internal::RspamdProtocol(std::move(options)), limit, timeout);
}

RspamdClient::~RspamdClient() = default;

void RspamdClient::Check(const Envelope& envelope, std::shared_ptr<const std::string> message,
                         Done done) {
  internal::RspamdProtocol::Request request;
  request.method = boost::beast::http::verb::post;
  request.target = "/checkv2";
  auto& h = request.headers;
  if (!envelope.client_ip.empty()) h.emplace_back("IP", envelope.client_ip);
  if (!envelope.helo.empty()) h.emplace_back("Helo", envelope.helo);
  h.emplace_back("From", envelope.sender.empty() ? "<>" : envelope.sender);
  for (const auto& rcpt : envelope.recipients) h.emplace_back("Rcpt", rcpt);
  h.emplace_back("Queue-Id", std::to_string(envelope.mid));
  if (!envelope.hostname.empty()) h.emplace_back("Hostname", envelope.hostname);
  request.body = message ? std::move(message) : std::make_shared<const std::string>();

  auto finish = [done = std::move(done)](base::Result<std::string> body) {
    if (!body) return done(body.error());
    done(ParseRspamdReply(*body));
  };
  for (const auto& [name, value] : h) {
    if (!SafeHeaderValue(value)) return engine_->Reject(std::move(finish), "bad envelope");
  }
  engine_->Submit(std::move(request), std::move(finish));
}

void RspamdClient::Probe(std::function<void(base::Status)> done) {
  internal::RspamdProtocol::Request request;
  request.target = "/ping";
  engine_->Submit(std::move(request), [done = std::move(done)](base::Result<std::string> body) {
    if (!body) return done(body.error());
    std::string_view text = *body;
    while (!text.empty() && (text.back() == '\r' || text.back() == '\n')) text.remove_suffix(1);
    if (text != "pong") return done(base::MakeError("malformed reply: not pong"));
    done(base::Status::Ok());
  });
}

void RspamdClient::Stop() { engine_->Stop(); }

std::size_t RspamdClient::in_flight() const { return engine_->in_flight(); }

std::size_t RspamdClient::idle_connections() const { return engine_->idle_connections(); }

}  // namespace tidegate::engines
