// http_client.cc — see http_client.h.
#include "admin/http_client.h"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "admin/text_codec.h"

namespace tidegate::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

std::string Where(const ClientRequest& r) {
  bool v6 = r.host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}", v6 ? "[" : "", r.host, v6 ? "]" : "", r.port);
}

bool SafeHeaderText(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

asio::awaitable<void> Exchange(const ClientRequest& r,
                               std::optional<base::Result<ClientResponse>>* out) {
  const std::string where = Where(r);
  auto fail = [&](std::string message) { *out = base::MakeError(std::move(message)); };
  auto executor = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + r.timeout;

  tcp::resolver resolver(executor);
  beast::tcp_stream stream(executor);
  // The resolver has no deadline of its own; a timer on the stream would not cover it. Numeric
  // hosts (the usual admin.bind) skip the lookup.
  auto [resolve_ec, endpoints] =
      co_await resolver.async_resolve(r.host, std::to_string(r.port), as_tuple(use_awaitable));
  if (resolve_ec)
    co_return fail(fmt::format("cannot resolve {}: {}", r.host, resolve_ec.message()));

  stream.expires_at(deadline);
  auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, as_tuple(use_awaitable));
  if (connect_ec == beast::error::timeout) {
    co_return fail(fmt::format("cannot connect to {}: timed out", where));
  }
  if (connect_ec)
    co_return fail(fmt::format("cannot connect to {}: {}", where, connect_ec.message()));

  http::request<http::string_body> req;
  req.method_string(r.method);
  req.target(r.target);
  req.version(11);
  req.set(http::field::host, where);
  req.set(http::field::user_agent, "tidegate");
  req.set(http::field::accept, "application/json");
  if (!r.user.empty()) {
    req.set(http::field::authorization, "Basic " + Base64Encode(r.user + ":" + r.password));
  }
  for (const auto& [name, value] : r.headers) req.set(name, value);
  if (!r.body.empty() || (r.method != "GET" && r.method != "HEAD")) {
    req.set(http::field::content_type,
            r.content_type.empty() ? "application/json" : r.content_type);
    req.body() = r.body;
  }
  req.keep_alive(false);
  req.prepare_payload();

  auto [write_ec, n1] = co_await http::async_write(stream, req, as_tuple(use_awaitable));
  if (write_ec == beast::error::timeout) co_return fail(fmt::format("{} timed out", where));
  if (write_ec) co_return fail(fmt::format("sending to {}: {}", where, write_ec.message()));

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(r.max_response_body);
  auto [read_ec, n2] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
  if (read_ec == beast::error::timeout) {
    co_return fail(fmt::format("{} did not answer within {} ms", where, r.timeout.count()));
  }
  if (read_ec) co_return fail(fmt::format("reading from {}: {}", where, read_ec.message()));

  auto& res = parser.get();
  ClientResponse response;
  response.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    response.headers.emplace_back(AsciiLower(field.name_string()), std::string(field.value()));
  }
  response.content_type = response.header("content-type");
  response.body = std::move(res.body());
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  *out = std::move(response);
}

}  // namespace

std::string ClientResponse::header(std::string_view name) const {
  std::string lower = AsciiLower(name);
  for (const auto& [key, value] : headers) {
    if (key == lower) return value;
  }
  return {};
}

base::Result<ClientResponse> HttpCall(const ClientRequest& request) {
  if (request.target.empty() || request.target[0] != '/' || !SafeHeaderText(request.target) ||
      request.target.find(' ') != std::string::npos) {
    return base::MakeError("bad request target");
  }
  if (request.method.empty() || !SafeHeaderText(request.method) ||
      request.method.find(' ') != std::string::npos) {
    return base::MakeError("bad request method");
  }
  for (const auto& [name, value] : request.headers) {
    if (!SafeHeaderText(name) || !SafeHeaderText(value)) return base::MakeError("bad header");
  }
  if (!SafeHeaderText(request.user) || !SafeHeaderText(request.password)) {
    return base::MakeError("bad credentials (control characters)");
  }
  std::optional<base::Result<ClientResponse>> result;
  asio::io_context io;
  asio::co_spawn(io, Exchange(request, &result), [&result](std::exception_ptr e) {
    // Exchange does not throw by design; should an allocation fail, report it as an error.
    if (e && !result) result = base::MakeError("HTTP client failure");
  });
  io.run();
  if (!result) return base::MakeError("HTTP client failure");
  return std::move(*result);
}

base::Result<ClientResponse> HttpCall(const std::string& host, std::uint16_t port,
                                      const std::string& method, const std::string& target,
                                      const std::string& user, const std::string& password,
                                      const std::string& body, const std::string& content_type,
                                      std::chrono::milliseconds timeout) {
  ClientRequest request;
  request.host = host;
  request.port = port;
  request.method = method;
  request.target = target;
  request.user = user;
  request.password = password;
  request.body = body;
  request.content_type = content_type;
  request.timeout = timeout;
  return HttpCall(request);
}

}  // namespace tidegate::admin
