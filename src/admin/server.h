// server.h — the admin HTTP server: listener, authentication (HTTP Basic and Web UI sessions),
// CSRF protection, Host checking and routing. The API endpoints and the UI pages are handlers
// registered from outside (Api(), Page()); this file knows none of them.
//
// Security rules applied to every request, before any handler runs:
//   - the Host header must name this server (bind address:port, localhost:port, 127.0.0.1:port,
//     [::1]:port, or ServerOptions::allowed_hosts), else 421 — DNS-rebinding protection;
//   - every route needs authentication: Api routes take HTTP Basic or a session cookie (401 with
//     `WWW-Authenticate: Basic realm="..."` otherwise), Page routes only a session cookie (302 to
//     /login otherwise); unknown paths are authenticated the same way before they get their 404;
//   - a request authenticated by a session that is not GET/HEAD must carry the session's CSRF
//     token (form field `csrf_token` or header `X-CSRF-Token`), and a cross-origin Origin header
//     is refused — else 403;
//   - passwords are compared as SHA-256 digests with CRYPTO_memcmp; failed logins (Basic or
//     the login form) slow further attempts from the same IP (250 ms doubling to 8 s, on a
//     timer, never blocking the io thread) and are counted and logged without the password;
//   - connections are read by the shared HTTP front (http/front.h, before any of the above):
//     ambiguous framing (Transfer-Encoding other than exactly `chunked`, TE with Content-Length,
//     two Content-Lengths, whitespace before a colon, obs-fold) and unparsable requests → 400,
//     bodies over max_body → 413, headers over 16 KiB → 431, each answered with
//     Connection: close and the connection closed; at most max_connections connections (503
//     beyond), each request must arrive within read_timeout;
//   - every response carries Cache-Control: no-store, X-Content-Type-Options: nosniff,
//     X-Frame-Options: DENY and a Content-Security-Policy without scripts from anywhere.
// Built-in routes: GET/POST /login, POST /logout, GET / (redirect to `home`).
// Open routes (Open()) are the one exception: no Host check and no authentication, for what is
// public by design — a Prometheus exporter's /metrics on its own listener (CONTRACT §12).
//
// Threads: the server runs on the given io_context, whose one thread runs all handlers. Api(),
// Page() must be called before Start(). Start(), Audit() and stats() belong to the io thread (or
// to the thread that owns the io_context before it runs); Stop() and UpdateCredentials() may be
// called from any thread. The io_context must outlive the Server; handlers and whatever they
// capture must stay valid until Stop() has run and the io_context has stopped.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "admin/http_message.h"
#include "base/result.h"

namespace tidegate::admin {

struct ServerOptions {
  std::string bind_host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 picks a free port (see Server::port())
  std::string user;
  std::string password;  // empty: nobody can log in
  std::string realm = "tidegate";
  // Idle time after which a session ends (milliseconds so that tests can use a short one).
  std::chrono::milliseconds session_lifetime = std::chrono::minutes(30);
  std::chrono::hours session_max_age{12};  // a session ends this long after login regardless
  std::string log_prefix = "admin";
  std::size_t max_body = 1 << 20;
  std::size_t max_connections = 64;
  std::chrono::milliseconds read_timeout{10000};  // a whole request, and idle keep-alive time
  std::string home = "/ui/status";                // where GET / and a login without `next` go
  // One line per change (who, what): see Server::Audit(). Optional.
  std::function<void(std::string)> audit;
  // Operational lines (logins, failed logins, refused requests, handler failures). Optional.
  // Never given a password, session id or CSRF token.
  std::function<void(std::string)> log;
  // Host header values accepted besides the bind address:port, "localhost:port",
  // "127.0.0.1:port" and "[::1]:port". An entry without a port also matches with this server's
  // port (so "gw.example.com" accepts "gw.example.com:8080").
  std::vector<std::string> allowed_hosts;
};

struct ServerStats {
  std::uint64_t requests = 0;
  std::uint64_t failed_logins = 0;         // wrong Basic credentials or login form
  std::uint64_t rejected_connections = 0;  // over max_connections
  std::uint64_t active_connections = 0;
  std::uint64_t sessions = 0;
};

class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts accepting. The error names the address.
  base::Status Start();
  // Stops accepting and closes open connections. Any thread; idempotent.
  void Stop();
  // The bound port (useful with port 0); 0 before Start().
  std::uint16_t port() const;

  // Routes: `path` is exact, or a prefix ending in "/*" ("/api/v1/policies/*" matches
  // "/api/v1/policies/Sales", Request::subpath = "Sales"). Exact routes win over prefixes, longer
  // prefixes over shorter ones. /login and /logout are reserved.
  // Api: HTTP Basic or session cookie (+ CSRF for non-GET). Page: session cookie only.
  void Api(std::string method, std::string path, Handler handler);
  void Page(std::string method, std::string path, Handler handler);
  // No login and no Host check (see above). Never for anything that changes or reveals mail.
  void Open(std::string method, std::string path, Handler handler);

  // Replaces the credentials (config reload). If they change, every session ends. Any thread.
  void UpdateCredentials(std::string user, std::string password);

  // Writes one audit line for a change made by `request`'s user:
  // "<log_prefix>: audit: user=<user> from=<ip> via=<api|ui>: <what>". `what` must hold no secret.
  void Audit(const Request& request, std::string_view what) const;

  ServerStats stats() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tidegate::admin
