// server_internal.h — the admin server's private state (Server::Impl) and what its three source
// files share: server.cc (listener, connections, the conversion of HTTP messages to Request and
// Response, the Server facade), routing.cc (the route table and the dispatch of one request: Host
// check, /login and /logout, authentication, handler, refusals) and login.cc (HTTP Basic, the
// login form, sessions, CSRF checks). Not part of the module's interface: included by those three
// files only. Io thread only, like Server::Impl itself (see server.h).
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "admin/auth.h"
#include "admin/server.h"

namespace tidegate::admin {

inline constexpr std::size_t kMaxSessions = 1000;

inline bool IsSafeMethod(std::string_view method) { return method == "GET" || method == "HEAD"; }

// A value from the network made fit for a log line: printable ASCII only, bounded.
std::string ForLog(std::string_view text);

// Where to go after login: only a path on this server (login.cc).
std::string SafeNext(std::string_view next, const std::string& home);

struct Route {
  std::string method;
  std::string path;  // exact path, or the prefix including its trailing '/'
  bool prefix = false;
  bool page = false;
  bool open = false;  // no Host check, no authentication (Server::Open)
  Handler handler;
};

class Server::Impl {
 public:
  Impl(boost::asio::io_context& io, ServerOptions options)
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
  void AddRoute(std::string method, std::string path, bool page, Handler handler,
                bool open = false);
  void UpdateCredentials(const std::string& user, const std::string& password) {
    credentials_.Set(user, password);
  }
  void Audit(const Request& request, std::string_view what) const;
  ServerStats stats() const;
  std::uint16_t port() const { return port_.load(); }
  boost::asio::io_context& io() { return io_; }

 private:
  static boost::asio::awaitable<void> AcceptLoop(std::shared_ptr<Impl> self);
  static boost::asio::awaitable<void> Serve(std::shared_ptr<Impl> self,
                                            boost::asio::ip::tcp::socket socket);
  boost::beast::http::response<boost::beast::http::string_body> Serialize(Response response,
                                                                          unsigned version,
                                                                          bool keep);
  base::Status BuildRequest(boost::beast::http::request<boost::beast::http::string_body>& message,
                            const std::string& ip, Request& request) const;

  boost::asio::awaitable<Response> Handle(Request& request);
  boost::asio::awaitable<std::optional<Response>> Authenticate(Request& request, bool page);
  boost::asio::awaitable<bool> CheckPassword(std::string ip, std::string user, std::string password,
                                             std::string_view how);
  boost::asio::awaitable<Response> Login(Request& request);
  Response LoginForm(const Request& request, std::string_view error, int status);
  Response Logout(Request& request);
  const Session* FindSession(const Request& request);
  bool CsrfOk(const Request& request, const Session& session) const;
  bool HostAllowed(std::string_view host) const;
  const Route* FindRoute(Request& request, std::string* allow) const;
  Response Unauthorized() const;
  Response Refuse(const Request& request, bool page, int status, std::string message) const;
  boost::asio::awaitable<Response> RunHandler(const Route& route, Request& request);
  void Log(const std::string& line) const {
    if (options_.log) options_.log(options_.log_prefix + ": " + line);
  }

  boost::asio::io_context& io_;
  ServerOptions options_;
  Credentials credentials_;
  SessionTable sessions_;
  LoginThrottle throttle_;
  std::vector<Route> routes_;
  std::set<std::string> allowed_hosts_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<std::uint16_t> port_{0};
  bool stopping_ = false;
  std::set<boost::beast::tcp_stream*> connections_;
  std::uint64_t requests_ = 0;
  std::uint64_t rejected_connections_ = 0;
};

}  // namespace tidegate::admin
