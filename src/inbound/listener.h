// listener.h — one SMTP listener (a `listeners:` entry): accepts connections and runs a
// Session coroutine for each, within the listener's connection limit.
//
// Lives on one asio::io_context and is used only from that context's thread, except Stop(),
// which posts to it. The TLS context is built at Start() from the listener's `tls` settings
// (server_tls.h); a reload (SIGHUP) swaps in new limits and TLS settings for new connections via
// UpdateConfig().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "base/clock.h"
#include "base/result.h"
#include "config/config.h"
#include "inbound/acceptor.h"
#include "smtp/server_session.h"

namespace tidegate::telemetry {
class MailLog;
}

namespace tidegate::inbound {

// What a session needs to know from its server's configuration: a snapshot taken at connect, so
// a reload never changes the rules under an open session. The gateway derives it from
// GatewayConfig (accepted_domains → relay check), the intake from its accounts.
// The answer of a recipient lookup (CONTRACT §13) and the mail-log line to write for it ("" =
// none), made by whoever validates (server/).
struct RecipientLookupAnswer {
  smtp::LookupResult result = smtp::LookupResult::kAccept;
  std::string log_line;
};

struct SessionPolicy {
  std::string hostname;
  std::string remote_ip_header;  // the header added with the client IP ("" = none)
  std::function<smtp::RcptVerdict(const mail::Address&)> check_recipient;
  // For recipients check_recipient answers kLookup: (icid, client IP, recipient, done). `done`
  // is called exactly once, on any thread; the session re-posts it to its own.
  std::function<void(std::uint64_t, const std::string&, const mail::Address&,
                     std::function<void(RecipientLookupAnswer)>)>
      lookup_recipient;
};

// What sessions need from the rest of the server. All members must outlive the listener.
struct SessionServices {
  std::function<std::uint64_t()> next_icid;
  std::function<std::uint64_t()> next_mid;
  telemetry::MailLog* log = nullptr;
  MessageAcceptor* acceptor = nullptr;
  // Called once per accepted connection (counters); may be empty.
  std::function<void()> on_connection;
  const base::Clock* clock = nullptr;
  // The current session policy (changes on reload).
  std::function<std::shared_ptr<const SessionPolicy>()> policy;
};

class Session;

// Per-listener state shared by its sessions.
struct ListenerRuntime {
  config::Listener settings;                       // current limits (replaced on reload)
  std::shared_ptr<boost::asio::ssl::context> tls;  // null when the listener has no TLS
  std::string bound_ip;
  std::uint32_t active = 0;
  bool stopping = false;
  std::set<Session*> sessions;                     // for graceful shutdown
};

class Listener {
 public:
  Listener(boost::asio::io_context& io, config::Listener settings, SessionServices* services);
  ~Listener();
  // Binds and starts accepting. Errors name the listener and the address.
  base::Status Start();
  // Stops accepting; open sessions get 421 at their next command and close. Thread: io thread.
  void Stop();
  base::Status UpdateConfig(const config::Listener& settings);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  std::uint32_t active_sessions() const { return runtime_->active; }

 private:
  void AcceptLoop();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<ListenerRuntime> runtime_;
  SessionServices* services_;
};

}  // namespace tidegate::inbound
