// server.cc — see server.h. Connections are served by the shared HTTP front (http/front.h: framing,
// limits, timeouts, error replies), set up at the end; request policy (Host, authentication, CSRF,
// routing) in Impl::Handle and its helpers.
#include "admin/server.h"

#include <fmt/format.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cassert>
#include <exception>
#include <optional>
#include <set>
#include <utility>

#include "admin/auth.h"
#include "admin/layout.h"
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

constexpr std::string_view kSessionCookie = "tidegate_session";
constexpr std::string_view kLoginCookie = "tidegate_login";
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; style-src 'self' 'unsafe-inline'";
constexpr std::size_t kMaxSessions = 1000;
constexpr std::size_t kMaxNextLength = 2048;

bool IsSafeMethod(std::string_view method) { return method == "GET" || method == "HEAD"; }

// A value from the network made fit for a log line: printable ASCII only, bounded.
std::string ForLog(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > 64) out += "...";
  return out;
}

// A header a handler returns must not be able to split the response.
bool ValidHeader(std::string_view name, std::string_view value) {
  if (!tidegate::http::IsToken(name)) return false;
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// Our ids and tokens: 64 lower-case hex digits. Anything else in a cookie is not ours.
bool IsHexToken(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
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

// Where to go after login: only a path on this server. "//host" and "/\host" are other origins
// to a browser; control characters could split the Location header.
std::string SafeNext(std::string_view next, const std::string& home) {
  if (next.empty() || next.size() > kMaxNextLength || next[0] != '/') return home;
  if (next.size() > 1 && (next[1] == '/' || next[1] == '\\')) return home;
  for (char c : next) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '\\') return home;
  }
  if (next.starts_with("/login") || next.starts_with("/logout")) return home;
  return std::string(next);
}

std::string CookieValue(const Request& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (key != "cookie") continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      std::size_t semi = rest.find(';');
      std::string_view piece = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      while (!piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
      std::size_t eq = piece.find('=');
      if (eq != std::string_view::npos && piece.substr(0, eq) == name) {
        return std::string(piece.substr(eq + 1));
      }
    }
  }
  return {};
}

std::string SetCookie(std::string_view name, std::string_view value, std::string_view path,
                      bool expire) {
  return fmt::format("{}={}; Path={}; HttpOnly; SameSite=Strict{}", name, value, path,
                     expire ? "; Max-Age=0" : "");
}

struct Route {
  std::string method;
  std::string path;  // exact path, or the prefix including its trailing '/'
  bool prefix = false;
  bool page = false;
  Handler handler;
};

// Errors the client caused by what it sent (as opposed to closing or stalling): these get a
// reply before the connection closes.
}  // namespace

class Server::Impl {
 public:
  Impl(asio::io_context& io, ServerOptions options)
      : io_(io),
        options_(std::move(options)),
        sessions_(options_.session_lifetime, options_.session_max_age, kMaxSessions),
        acceptor_(io) {
    credentials_.Set(options_.user, options_.password);
    // The options copy must not keep the password around longer than needed.
    options_.password.assign(options_.password.size(), '\0');
    options_.password.clear();
  }

  base::Status Start(const std::shared_ptr<Impl>& self);
  void DoStop();
  void AddRoute(std::string method, std::string path, bool page, Handler handler);
  void UpdateCredentials(const std::string& user, const std::string& password) {
    credentials_.Set(user, password);
  }
  void Audit(const Request& request, std::string_view what) const;
  ServerStats stats() const;
  std::uint16_t port() const { return port_.load(); }
  asio::io_context& io() { return io_; }

 private:
  static asio::awaitable<void> AcceptLoop(std::shared_ptr<Impl> self);
  static asio::awaitable<void> Serve(std::shared_ptr<Impl> self, tcp::socket socket);
  http::response<http::string_body> Serialize(Response response, unsigned version, bool keep);
  base::Status BuildRequest(http::request<http::string_body>& message, const std::string& ip,
                            Request& request) const;

  asio::awaitable<Response> Handle(Request& request);
  asio::awaitable<std::optional<Response>> Authenticate(Request& request, bool page);
  asio::awaitable<bool> CheckPassword(std::string ip, std::string user, std::string password,
                                      std::string_view how);
  asio::awaitable<Response> Login(Request& request);
  Response LoginForm(const Request& request, std::string_view error, int status);
  Response Logout(Request& request);
  const Session* FindSession(const Request& request);
  bool CsrfOk(const Request& request, const Session& session) const;
  bool HostAllowed(std::string_view host) const;
  const Route* FindRoute(Request& request, std::string* allow) const;
  Response Unauthorized() const;
  Response Refuse(const Request& request, bool page, int status, std::string message) const;
  void Log(const std::string& line) const {
    if (options_.log) options_.log(options_.log_prefix + ": " + line);
  }

  asio::io_context& io_;
  ServerOptions options_;
  Credentials credentials_;
  SessionTable sessions_;
  LoginThrottle throttle_;
  std::vector<Route> routes_;
  std::set<std::string> allowed_hosts_;
  tcp::acceptor acceptor_;
  std::atomic<std::uint16_t> port_{0};
  bool stopping_ = false;
  std::set<beast::tcp_stream*> connections_;
  std::uint64_t requests_ = 0;
  std::uint64_t rejected_connections_ = 0;
};

// ---- Setup ----

void Server::Impl::AddRoute(std::string method, std::string path, bool page, Handler handler) {
  assert(!path.empty() && path[0] == '/');
  assert(path != "/login" && path != "/logout");
  assert(handler);
  Route route;
  route.method = std::move(method);
  route.page = page;
  route.handler = std::move(handler);
  if (path.size() >= 2 && path.ends_with("/*")) {
    route.prefix = true;
    path.pop_back();  // keep the '/'
  }
  route.path = std::move(path);
  routes_.push_back(std::move(route));
}

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

// ---- Request policy ----

bool Server::Impl::HostAllowed(std::string_view host) const {
  return allowed_hosts_.count(AsciiLower(host)) > 0;
}

const Route* Server::Impl::FindRoute(Request& request, std::string* allow) const {
  const Route* best = nullptr;
  for (const Route& route : routes_) {
    bool match = route.prefix ? request.path.starts_with(route.path) : request.path == route.path;
    if (!match) continue;
    if (route.method != request.method) {
      if (allow->find(route.method) == std::string::npos) {
        *allow += allow->empty() ? route.method : ", " + route.method;
      }
      continue;
    }
    // Exact beats prefix; a longer prefix beats a shorter one.
    if (best == nullptr || (!route.prefix && best->prefix) ||
        (route.prefix && best->prefix && route.path.size() > best->path.size())) {
      best = &route;
    }
  }
  if (best != nullptr && best->prefix) request.subpath = request.path.substr(best->path.size());
  return best;
}

Response Server::Impl::Unauthorized() const {
  Response r = Response::Error(401, "authentication required");
  r.headers.emplace_back("WWW-Authenticate",
                         fmt::format("Basic realm=\"{}\", charset=\"UTF-8\"", options_.realm));
  return r;
}

Response Server::Impl::Refuse(const Request& request, bool page, int status,
                              std::string message) const {
  if (!page) return Response::Error(status, std::move(message));
  // Rendered without the session (no navigation, no logout form): an error body carries no
  // CSRF token.
  Request anonymous;
  anonymous.path = request.path;
  return Response::Html(
      status, Layout(anonymous, "Request refused",
                     fmt::format("<p class=\"alert\">{}</p><p><a href=\"{}\">Continue</a></p>",
                                 HtmlEscape(message), HtmlEscape(options_.home))));
}

const Session* Server::Impl::FindSession(const Request& request) {
  std::string id = CookieValue(request, kSessionCookie);
  if (!IsHexToken(id)) return nullptr;
  return sessions_.Find(id, credentials_.generation(), SteadyClock::now());
}

bool Server::Impl::CsrfOk(const Request& request, const Session& session) const {
  // A browser names the page that sent a cross-site request in Origin; a same-site page names us.
  std::string origin = request.header("origin");
  if (!origin.empty()) {
    std::string_view rest = origin;
    if (rest.starts_with("http://")) {
      rest.remove_prefix(7);
    } else if (rest.starts_with("https://")) {
      rest.remove_prefix(8);
    } else {
      return false;
    }
    if (!HostAllowed(rest)) return false;
  }
  std::string token = request.header("x-csrf-token");
  if (token.empty()) token = request.field("csrf_token");
  return !token.empty() && ConstantTimeEquals(token, session.csrf_token);
}

asio::awaitable<bool> Server::Impl::CheckPassword(std::string ip, std::string user,
                                                  std::string password, std::string_view how) {
  SteadyTime now = SteadyClock::now();
  SteadyTime slot = throttle_.Admit(ip, now);
  if (slot > now) {
    // Wait on a timer: the io thread keeps serving everyone else meanwhile.
    asio::steady_timer timer(io_, slot);
    co_await timer.async_wait(as_tuple(use_awaitable));
  }
  if (credentials_.Check(user, password)) {
    throttle_.Succeeded(ip);
    co_return true;
  }
  std::uint32_t in_a_row = throttle_.Failed(ip, SteadyClock::now());
  // A name that is not the user's may be a password typed into the wrong field: not logged.
  std::string who = credentials_.IsUser(user) ? "wrong password for user " + ForLog(user)
                                              : std::string("unknown user");
  Log(fmt::format("{} login failed from {} ({}; {} in a row)", how, ip, who, in_a_row));
  co_return false;
}

asio::awaitable<std::optional<Response>> Server::Impl::Authenticate(Request& request, bool page) {
  if (!page) {
    std::string authorization = request.header("authorization");
    if (!authorization.empty()) {
      std::string user, password;
      if (AsciiLower(authorization.substr(0, 6)) == "basic ") {
        std::string_view encoded = std::string_view(authorization).substr(6);
        while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
        while (!encoded.empty() && encoded.back() == ' ') encoded.remove_suffix(1);
        auto decoded = Base64Decode(encoded);
        if (decoded) {
          std::size_t colon = decoded->find(':');
          if (colon != std::string::npos) {
            user = decoded->substr(0, colon);
            password = decoded->substr(colon + 1);
          }
        }
      }
      // A malformed header is a failed attempt like a wrong password (and slowed down alike).
      if (!co_await CheckPassword(request.remote_ip, user, std::move(password), "API")) {
        co_return Unauthorized();
      }
      request.user = std::move(user);
      request.via_session = false;
      co_return std::nullopt;
    }
  }
  const Session* session = FindSession(request);
  if (session == nullptr) {
    if (!page) co_return Unauthorized();
    std::string location = "/login";
    if (IsSafeMethod(request.method)) location += "?next=" + PercentEncode(request.target);
    co_return Response::Redirect(location, 302);
  }
  request.user = session->user;
  request.via_session = true;
  request.csrf_token = session->csrf_token;
  if (!IsSafeMethod(request.method) && !CsrfOk(request, *session)) {
    Log(fmt::format("refused {} {} from {}: missing or invalid CSRF token", request.method,
                    ForLog(request.path), request.remote_ip));
    co_return Refuse(request, page, 403,
                     "Missing or invalid CSRF token. Reload the page and try again.");
  }
  co_return std::nullopt;
}

Response Server::Impl::LoginForm(const Request& request, std::string_view error, int status) {
  // Reuse the browser's current login token: a browser loads other things besides the page
  // (Chromium asks for /favicon.ico, which is sent here too), and a fresh token for each would
  // make the form it already shows fail with "expired". The token stays bound to the cookie.
  base::Result<std::string> token = CookieValue(request, kLoginCookie);
  if (!IsHexToken(*token)) token = RandomHex(32);
  if (!token) return Response::Error(500, "internal error");
  std::string next = request.method == "POST" ? request.field("next") : request.param("next");
  Response r =
      Response::Html(status, LoginPage(request, *token, SafeNext(next, options_.home), error));
  r.headers.emplace_back("Set-Cookie", SetCookie(kLoginCookie, *token, "/login", false));
  return r;
}

asio::awaitable<Response> Server::Impl::Login(Request& request) {
  // The login form is protected too (login CSRF): the token in the form must match the cookie
  // set with it, which a foreign page can neither read nor set.
  std::string cookie = CookieValue(request, kLoginCookie);
  if (!IsHexToken(cookie) || !ConstantTimeEquals(cookie, request.field("csrf_token"))) {
    Log(fmt::format("refused login form from {}: missing or invalid CSRF token",
                    request.remote_ip));
    co_return LoginForm(request, "The login form has expired. Please log in again.", 403);
  }
  std::string user = request.field("user");
  if (!co_await CheckPassword(request.remote_ip, user, request.field("password"), "Web UI")) {
    co_return LoginForm(request, "Invalid username or passphrase.", 403);
  }
  auto id = sessions_.Create(user, credentials_.generation(), SteadyClock::now());
  if (!id) {
    Log("cannot create a session: " + id.error().message);
    co_return Response::Error(500, "internal error");
  }
  Log(fmt::format("user {} logged in from {}", ForLog(user), request.remote_ip));
  Response r = Response::Redirect(SafeNext(request.field("next"), options_.home), 303);
  r.headers.emplace_back("Set-Cookie", SetCookie(kSessionCookie, *id, "/", false));
  r.headers.emplace_back("Set-Cookie", SetCookie(kLoginCookie, "", "/login", true));
  co_return r;
}

Response Server::Impl::Logout(Request& request) {
  std::string id = CookieValue(request, kSessionCookie);
  const Session* session = FindSession(request);
  if (session == nullptr) return Response::Redirect("/login", 303);
  request.user = session->user;
  request.csrf_token = session->csrf_token;
  if (!CsrfOk(request, *session)) {
    Log(fmt::format("refused logout from {}: missing or invalid CSRF token", request.remote_ip));
    return Refuse(request, true, 403,
                  "Missing or invalid CSRF token. Reload the page and try again.");
  }
  Log(fmt::format("user {} logged out from {}", ForLog(session->user), request.remote_ip));
  sessions_.Erase(id);
  Response r = Response::Redirect("/login", 303);
  r.headers.emplace_back("Set-Cookie", SetCookie(kSessionCookie, "", "/", true));
  return r;
}

asio::awaitable<Response> Server::Impl::Handle(Request& request) {
  ++requests_;
  std::string host = request.header("host");
  if (!HostAllowed(host)) {
    Log(fmt::format("refused request from {} for Host '{}'", request.remote_ip, ForLog(host)));
    co_return Response::Error(421, "this server does not answer to that Host name");
  }
  if (request.path == "/login") {
    if (request.method == "POST") co_return co_await Login(request);
    if (!IsSafeMethod(request.method)) {
      Response r = Response::Error(405, "method not allowed");
      r.headers.emplace_back("Allow", "GET, POST");
      co_return r;
    }
    if (FindSession(request) != nullptr) {
      co_return Response::Redirect(SafeNext(request.param("next"), options_.home), 302);
    }
    co_return LoginForm(request, "", 200);
  }
  if (request.path == "/logout") {
    if (request.method == "POST") co_return Logout(request);
    Response r = Response::Error(405, "method not allowed");
    r.headers.emplace_back("Allow", "POST");
    co_return r;
  }

  std::string allow;
  const Route* route = FindRoute(request, &allow);
  // Unknown paths are authenticated like their neighbours, so that a 404 tells a stranger
  // nothing: /api/... as an API, everything else as a page.
  bool page = route != nullptr ? route->page
                               : !(request.path == "/api" || request.path.starts_with("/api/"));
  if (auto refusal = co_await Authenticate(request, page)) co_return std::move(*refusal);

  if (route == nullptr) {
    if (request.path == "/" && IsSafeMethod(request.method)) {
      co_return Response::Redirect(options_.home, 302);
    }
    if (!allow.empty()) {
      Response r = Refuse(request, page, 405, "method not allowed");
      r.headers.emplace_back("Allow", allow);
      co_return r;
    }
    co_return Refuse(request, page, 404, "not found");
  }

  std::string failure;
  try {
    co_return co_await route->handler(request);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  Log(fmt::format("handler for {} {} failed: {}", request.method, ForLog(request.path),
                  ForLog(failure)));
  co_return Refuse(request, page, 500, "internal error");
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

void Server::UpdateCredentials(std::string user, std::string password) {
  impl_->UpdateCredentials(user, password);
}

void Server::Audit(const Request& request, std::string_view what) const {
  impl_->Audit(request, what);
}

ServerStats Server::stats() const { return impl_->stats(); }

}  // namespace tidegate::admin
