// console.h — the intake console: a small HTTP/1.1 server (Boost.Beast) on console.bind with the
// web pages (account list, per-account messages, message detail, first-run account setup) and
// the JSON API (GET /api/v1/accounts, GET /api/v1/messages?account=NAME,
// GET /api/v1/messages/ID).
//
// Every request needs HTTP Basic credentials (401 with WWW-Authenticate otherwise). A logged-in
// browser gets a session cookie; the setup form's POST must carry the CSRF token of that
// session (403 otherwise). Connections are served by the shared HTTP front (http/front.h): its
// framing rules (400 and close on ambiguous framing), headers 16 KiB (431), body 64 KiB (413), 30 s
// per request or reply, 64 connections at once (503); responses forbid framing, external assets
// and caching.
//
// Threads: the console runs its own io_context on its own thread, so its SQLite reads never
// stall SMTP sessions. Start()/Stop() from the owning thread; Handle() is the whole request
// logic, thread-safe and socket-free (used by tests). Store and AccountDirectory must outlive it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "base/result.h"
#include "config/config.h"
#include "intake/accounts.h"
#include "intake/console_auth.h"
#include "intake/store.h"

namespace tidegate::telemetry {
class MailLog;
}

namespace tidegate::intake {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

struct ConsoleOptions {
  config::Endpoint bind;
  std::string user;
  std::string password;
};

class Console {
 public:
  Console(ConsoleOptions options, Store* store, AccountDirectory* accounts,
          telemetry::MailLog* log);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Binds and starts serving on the console thread. Errors name the address.
  base::Status Start();
  // Stops accepting, closes open connections and joins the thread. Idempotent.
  void Stop();
  std::uint16_t port() const { return port_; }

  HttpResponse Handle(const HttpRequest& request);

 private:
  void AcceptLoop();
  HttpResponse Route(const HttpRequest& request, const std::string& session);
  HttpResponse Setup(const HttpRequest& request, const std::string& session);

  ConsoleOptions options_;
  Store* store_;
  AccountDirectory* accounts_;
  telemetry::MailLog* log_;
  ConsoleAuth auth_;
  std::uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::thread thread_;
};

}  // namespace tidegate::intake
