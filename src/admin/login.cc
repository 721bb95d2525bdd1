// login.cc — the admin server's authentication (Server::Impl, see server_internal.h): HTTP Basic
// for the API, the login form and Web UI sessions, logout, and the CSRF checks of session
// requests. The state it works on (credentials, sessions, the failed-login throttle) is in
// auth.h; this file turns it into answers and timer waits.
#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <utility>

#include "admin/layout.h"
#include "admin/server_internal.h"
#include "admin/text_codec.h"

namespace tidegate::admin {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

constexpr std::string_view kSessionCookie = "tidegate_session";
constexpr std::string_view kLoginCookie = "tidegate_login";
constexpr std::size_t kMaxNextLength = 2048;

// Our ids and tokens: 64 lower-case hex digits. Anything else in a cookie is not ours.
bool IsHexToken(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
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

}  // namespace

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

// ---- Authentication ----

Response Server::Impl::Unauthorized() const {
  Response r = Response::Error(401, "authentication required");
  r.headers.emplace_back("WWW-Authenticate",
                         fmt::format("Basic realm=\"{}\", charset=\"UTF-8\"", options_.realm));
  return r;
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

}  // namespace tidegate::admin
