// call_ahead.h — CallAhead: recipient validation by asking the domain's next hop (CONTRACT §13,
// SMTP call-ahead).
//
// Per Find(address): the domain's next hop exactly as delivery finds it (delivery::ResolveNextHop:
// smtp_routes, then MX, then the implicit MX; delivery.port for MX hosts), its hosts tried in
// order (the next one on a connection failure), then a probe with the delivery side's SMTP client
// (smtp::ClientSession: greeting, EHLO with HELO fallback, STARTTLS per delivery.tls) followed by
// `MAIL FROM:<>`, `RCPT TO:<address>` and `QUIT` — never DATA. 2xx to RCPT → kKnown; 5xx to RCPT →
// kUnknown ("550 5.1.1 <the reply's text>"); anything else (4xx, no answer, a refusal at greeting,
// EHLO or MAIL, a refused connection, a DNS failure or NXDOMAIN, a null MX) → kFailure.
//
// Bounds: the whole probe (DNS included) is bounded by `timeout`: when it fires the answer is
// kFailure "timeout after <t>" and the probe's socket is closed. At most `max_per_next_hop`
// probes run at once per domain (lower-cased); more wait in FIFO order, their wait counted in
// their `timeout`. Probes have their own connections: they never take delivery's connection
// budget.
//
// Threads: lives on one executor (the gateway's event loop, where the delivery side's resolver
// lives too). Find() is called there and never blocks; `done` is called there, exactly once,
// possibly before Find() returns (an address that cannot be probed). Destroy it there: probes in
// flight are then cancelled (their sockets closed) and their `done` is posted with kFailure
// "shutting down"; nothing touches the destroyed object afterwards.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "config/config.h"
#include "delivery/dns_resolver.h"
#include "delivery/next_hop.h"
#include "delivery/transport.h"
#include "smtp/client_session.h"
#include "validation/lookup.h"

namespace tidegate::validation {

class CallAhead final : public Lookup {
 public:
  static constexpr std::size_t kDefaultMaxPerNextHop = 10;

  // How probes reach the network (as delivery's QueueManager::Network): the next hop of a domain
  // and the transport of one connection.
  struct Network {
    std::function<boost::asio::awaitable<delivery::NextHop>(std::string domain)> find_next_hop;
    delivery::TransportFactory transport;
  };
  struct Options {
    std::chrono::milliseconds timeout{10000};  // the whole probe
    std::size_t max_per_next_hop = kDefaultMaxPerNextHop;
    std::string helo_name;  // our EHLO name (the gateway's hostname)
    smtp::ClientOptions::Tls tls = smtp::ClientOptions::Tls::kPreferred;
    bool tls_verify = false;
    std::shared_ptr<boost::asio::ssl::context> tls_context;  // null: STARTTLS fails
  };

  // The gateway's CallAhead: its own c-ares resolver with the configured dns servers on `io`
  // (destroyed with the CallAhead), smtp_routes and delivery.port as delivery uses them,
  // TcpTransport, delivery.tls / tls_ca_file as the mail queue uses them, hostname for EHLO, and
  // recipient_validation.call_ahead.timeout (10 s without it). Fails like DnsResolver::Create and
  // MakeClientTlsContext.
  static base::Result<std::unique_ptr<CallAhead>> Create(
      boost::asio::io_context& io, const config::GatewayConfig& config,
      std::size_t max_per_next_hop = kDefaultMaxPerNextHop);

  CallAhead(boost::asio::any_io_executor executor, Options options, Network network);
  ~CallAhead() override;
  CallAhead(const CallAhead&) = delete;
  CallAhead& operator=(const CallAhead&) = delete;

  Method method() const override { return Method::kCallAhead; }
  void Find(const mail::Address& address, Done done) override;

  struct Shared;  // call_ahead.cc: what probes in flight share with the object
  struct Probe;

 private:
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<delivery::DnsResolver> resolver_;  // Create()'s; Network refers to it
};

// A peer's reply as a short, printable mail-log reason: "550 5.1.1 <text>", control and non-ASCII
// bytes replaced by '?', at most about 120 characters. Pure.
std::string ReplyReason(const smtp::ServerReply& reply);

}  // namespace tidegate::validation
