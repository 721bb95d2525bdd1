// server.cc — see server.h. Connections are served by the shared HTTP front (http/front.h: framing,
// limits, timeouts, error replies), set up here; each request becomes a Request for Impl::Handle
// (routing.cc: Host, authentication, CSRF, routing; login.cc: the login flow and the checks) and
// its Response gets the security headers on the way back. Also setup and the Server facade.
#include "admin/server.h"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <utility>

#include "admin/server_internal.h"
#include "admin/text_codec.h"
#include "http/framing.h"
#include "http/front.h"

namespace tidegate::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; style-src 'self' 'unsafe-inline'";

// A header a handler returns must not be able to split the response.
bool ValidHeader(std::string_view name, std::string_view value) {
  if (!tidegate::http::IsToken(name)) return false;
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

std::string HostPort(const std::string& host, std::uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

// Whether a Host value carries a port ("h:1", "[::1]:1"; not "[::1]").
bool HasPort(std::string_view host) {
  std::size_t colon = host.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::size_t bracket = host.rfind(']');
  return bracket == std::string_view::npos || bracket < colon;
}

}  // namespace

// A value from the network made fit for a log line: printable ASCII only, bounded.
std::string ForLog(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > 64) out += "...";
  return out;
}

// ---- Setup ----

base::Status Server::Impl::Start(const std::shared_ptr<Impl>& self) {
  const std::string where = HostPort(options_.bind_host, options_.port);
  boost::system::error_code ec;
  std::string host = options_.bind_host == "localhost" ? "127.0.0.1" : options_.bind_host;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return base::MakeError("admin: bad bind address " + options_.bind_host);
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return base::MakeError("admin: cannot listen on " + where + ": " + ec.message());
  }
  std::uint16_t port = acceptor_.local_endpoint(ec).port();
  port_ = port;

  // The names a browser may legitimately use for us. Anything else in Host means the request
  // was aimed at another name that resolves here (DNS rebinding) and is refused.
  std::vector<std::string> hosts = {"localhost", "127.0.0.1", "::1"};
  if (!address.is_unspecified()) hosts.push_back(address.to_string());
  for (const std::string& h : hosts) {
    allowed_hosts_.insert(AsciiLower(HostPort(h, port)));
    if (port == 80)
      allowed_hosts_.insert(AsciiLower(h.find(':') != std::string::npos ? "[" + h + "]" : h));
  }
  for (const std::string& h : options_.allowed_hosts) {
    std::string lower = AsciiLower(h);
    if (!HasPort(lower)) allowed_hosts_.insert(fmt::format("{}:{}", lower, port));
    allowed_hosts_.insert(std::move(lower));
  }

  asio::co_spawn(io_, AcceptLoop(self), asio::detached);
  Log(fmt::format("listening on {}", HostPort(address.to_string(), port)));
  return base::Status::Ok();
}

void Server::Impl::DoStop() {
  if (stopping_) return;
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  // Completions are posted, never run inline, so closing does not disturb this iteration.
  for (beast::tcp_stream* stream : connections_) stream->close();
}

void Server::Impl::Audit(const Request& request, std::string_view what) const {
  if (!options_.audit) return;
  options_.audit(fmt::format("{}: audit: user={} from={} via={}: {}", options_.log_prefix,
                             ForLog(request.user), request.remote_ip,
                             request.via_session ? "ui" : "api", what));
}

ServerStats Server::Impl::stats() const {
  ServerStats s;
  s.requests = requests_;
  s.failed_logins = throttle_.failures_total();
  s.rejected_connections = rejected_connections_;
  s.active_connections = connections_.size();
  s.sessions = sessions_.size();
  return s;
}

// ---- Connections ----

base::Status Server::Impl::BuildRequest(http::request<http::string_body>& message,
                                        const std::string& ip, Request& request) const {
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  request.remote_ip = ip;
  // Origin-form only: this is not a proxy, and "*" (OPTIONS) has no use here.
  if (request.target.empty() || request.target[0] != '/') {
    return base::MakeError("the request target must be a path");
  }
  std::size_t question = request.target.find('?');
  auto path = PercentDecode(std::string_view(request.target).substr(0, question), false);
  if (!path) return base::MakeError("bad path: " + path.error().message);
  for (char c : *path) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return base::MakeError("control character in path");
  }
  request.path = std::move(*path);
  if (question != std::string::npos) {
    auto query = ParseUrlEncoded(std::string_view(request.target).substr(question + 1));
    if (!query) return base::MakeError("bad query: " + query.error().message);
    request.query = std::move(*query);
  }
  int hosts = 0;
  for (const auto& field : message) {
    std::string name = AsciiLower(field.name_string());
    if (name == "host") ++hosts;
    request.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  // Two Host headers could make us and a proxy in front disagree about the target.
  if (hosts != 1) return base::MakeError("exactly one Host header is required");
  request.content_type = request.header("content-type");
  request.body = std::move(message.body());
  std::string media = AsciiLower(request.content_type.substr(0, request.content_type.find(';')));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  if (media == "application/x-www-form-urlencoded") {
    auto form = ParseUrlEncoded(request.body);
    if (!form) return base::MakeError("bad form: " + form.error().message);
    request.form = std::move(*form);
  }
  return base::Status::Ok();
}

http::response<http::string_body> Server::Impl::Serialize(Response response, unsigned version,
                                                          bool keep) {
  if (response.status < 200 || response.status > 599) {
    Log(fmt::format("handler returned status {}; sent 500", response.status));
    response = Response::Error(500, "internal error");
  }
  http::response<http::string_body> res;
  res.version(version);
  res.result(static_cast<unsigned>(response.status));
  if (ValidHeader("Content-Type", response.content_type)) {
    res.set(http::field::content_type, response.content_type);
  }
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Content-Security-Policy", kContentSecurityPolicy);
  // Not "no-referrer": under it Chromium sends `Origin: null` with the UI's own form posts,
  // which CsrfOk() must refuse. "same-origin" still sends nothing to other sites.
  res.set("Referrer-Policy", "same-origin");
  for (const auto& [name, value] : response.headers) {
    if (!ValidHeader(name, value)) {
      Log("dropped a response header with characters that could split the response");
      continue;
    }
    res.insert(name, value);
  }
  // 204 and 304 have no body by definition.
  if (response.status != 204 && response.status != 304) res.body() = std::move(response.body);
  res.keep_alive(keep);
  res.prepare_payload();
  return res;
}

asio::awaitable<void> Server::Impl::AcceptLoop(std::shared_ptr<Impl> self) {
  while (!self->stopping_) {
    auto [ec, socket] = co_await self->acceptor_.async_accept(as_tuple(use_awaitable));
    if (self->stopping_) break;
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      // EMFILE and friends: back off briefly instead of spinning.
      asio::steady_timer pause(self->io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(as_tuple(use_awaitable));
      continue;
    }
    if (self->connections_.size() >= self->options_.max_connections) {
      ++self->rejected_connections_;
      tidegate::http::RejectBusy(socket);
      continue;
    }
    asio::co_spawn(self->io_, Serve(self, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Server::Impl::Serve(std::shared_ptr<Impl> self, tcp::socket socket) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  const std::string ip = ec ? "unknown" : remote.address().to_string();
  socket.set_option(tcp::no_delay(true), ec);
  beast::tcp_stream stream(std::move(socket));
  // Registered for Stop(); the guard also runs if the io_context destroys this frame unfinished.
  struct Registration {
    Impl* impl;
    beast::tcp_stream* stream;
    ~Registration() { impl->connections_.erase(stream); }
  } registration{self.get(), &stream};
  self->connections_.insert(&stream);

  tidegate::http::FrontOptions front;
  front.limits.max_body = self->options_.max_body;
  front.read_timeout = self->options_.read_timeout;
  front.write_timeout = self->options_.read_timeout;
  tidegate::http::Callbacks callbacks;
  callbacks.handle =
      [&self,
       &ip](http::request<http::string_body>& message) -> asio::awaitable<tidegate::http::Reply> {
    const unsigned version = message.version();
    Request request;
    if (base::Status built = self->BuildRequest(message, ip, request); !built) {
      co_return tidegate::http::Reply{
          self->Serialize(Response::Error(400, built.error().message), version, false), true};
    }
    Response response = co_await self->Handle(request);
    co_return tidegate::http::Reply{self->Serialize(std::move(response), version, true), false};
  };
  callbacks.error_reply = [&self](int status, std::string reason) {
    return self->Serialize(Response::Error(status, std::move(reason)), 11, false);
  };
  callbacks.stopping = [&self] { return self->stopping_; };
  callbacks.log = [&self, &ip](std::string line) { self->Log(line + " from " + ip); };
  co_await tidegate::http::ServeConnection(stream, front, callbacks);
}

// ---- Server ----

Server::Server(asio::io_context& io, ServerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}

Server::~Server() { Stop(); }

base::Status Server::Start() { return impl_->Start(impl_); }

void Server::Stop() {
  auto impl = impl_;
  if (impl->io().get_executor().running_in_this_thread()) {
    impl->DoStop();
  } else {
    asio::post(impl->io(), [impl] { impl->DoStop(); });
  }
}

std::uint16_t Server::port() const { return impl_->port(); }

void Server::Api(std::string method, std::string path, Handler handler) {
  impl_->AddRoute(std::move(method), std::move(path), false, std::move(handler));
}

void Server::Page(std::string method, std::string path, Handler handler) {
  impl_->AddRoute(std::move(method), std::move(path), true, std::move(handler));
}

void Server::Open(std::string method, std::string path, Handler handler) {
  impl_->AddRoute(std::move(method), std::move(path), false, std::move(handler), true);
}

void Server::UpdateCredentials(std::string user, std::string password) {
  impl_->UpdateCredentials(user, password);
}

void Server::Audit(const Request& request, std::string_view what) const {
  impl_->Audit(request, what);
}

ServerStats Server::stats() const { return impl_->stats(); }

}  // namespace tidegate::admin
