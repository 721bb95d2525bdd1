// call_ahead.cc — SMTP call-ahead (see call_ahead.h).
#include "validation/call_ahead.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <exception>
#include <map>
#include <optional>
#include <set>

#include "delivery/client_tls.h"
#include "mail/address.h"

namespace tidegate::validation {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using delivery::Transport;
using Want = smtp::ClientSession::Want;

namespace {

// The longest reason text taken from a peer's reply.
constexpr std::size_t kMaxReasonText = 100;
// How long the QUIT after an answer may take (within the probe's deadline).
constexpr auto kQuitTimeout = std::chrono::seconds(2);

std::string Printable(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  return out;
}

bool Probeable(const mail::Address& address) {
  if (address.null() || address.local.empty() || address.domain.empty()) return false;
  for (char c : address.str()) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;  // never a CR/LF (a command of its own)
  }
  return true;
}

std::string Seconds(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

}  // namespace

std::string ReplyReason(const smtp::ServerReply& reply) {
  std::string text = reply.Text();
  // The enhanced code leads the text already when the peer sent one; "550 5.1.1 user unknown".
  return Printable(std::to_string(reply.code) + " " + text, kMaxReasonText);
}

struct CallAhead::Probe {
  std::string domain;   // lower case: the key of the per-next-hop cap
  std::string address;  // for RCPT TO:<...>, as received
  bool utf8 = false;    // needs SMTPUTF8
  Done done;
  Clock::time_point deadline;
  std::unique_ptr<asio::steady_timer> timer;
  std::unique_ptr<Transport> transport;  // while a connection is being tried or used
  bool answered = false;
};

struct CallAhead::Shared {
  asio::any_io_executor executor;
  Options options;
  Network network;
  bool closed = false;  // the CallAhead was destroyed
  struct Hop {
    std::size_t running = 0;
    std::deque<std::shared_ptr<Probe>> waiting;
  };
  std::map<std::string, Hop> hops;
  std::set<std::shared_ptr<Probe>> live;  // every probe not finished (running or waiting)
};

namespace {

using Shared = CallAhead::Shared;
using Probe = CallAhead::Probe;

void Settle(Probe& probe, Outcome outcome, std::string reason) {
  if (probe.answered) return;
  probe.answered = true;
  probe.timer->cancel();
  auto done = std::move(probe.done);
  done(validation::Answer{.outcome = outcome, .reason = std::move(reason)});
}

void Fail(Probe& probe, std::string reason) { Settle(probe, Outcome::kFailure, std::move(reason)); }

// Runs the session's handshake (greeting, EHLO/HELO, STARTTLS) until it is ready or failed.
asio::awaitable<Want> Handshake(const CallAhead::Options& options, Transport& transport,
                                smtp::ClientSession& session, Clock::time_point deadline) {
  std::string input;
  while (true) {
    std::string output = session.TakeOutput();
    if (!output.empty()) {
      const auto st = co_await transport.Write(output, deadline);
      if (st == Transport::IoStatus::kTimeout) {
        session.OnTimeout();
      } else if (st != Transport::IoStatus::kOk) {
        session.OnDisconnected();
      }
    }
    switch (session.want()) {
      case Want::kRead:
      case Want::kWrite: {
        input.clear();
        const auto st = co_await transport.Read(input, deadline);
        if (st == Transport::IoStatus::kOk) {
          session.OnBytes(input);
        } else if (st == Transport::IoStatus::kTimeout) {
          session.OnTimeout();
        } else {
          session.OnDisconnected();
        }
        break;
      }
      case Want::kStartTls: {
        std::string error = "no TLS context";
        bool ok = false;
        if (options.tls_context != nullptr) {
          ok = co_await transport.StartTls(*options.tls_context, transport.peer().host,
                                           options.tls_verify, deadline, error);
        }
        if (ok) {
          session.OnTlsEstablished();
        } else {
          session.OnTlsFailed(error);
        }
        break;
      }
      case Want::kReady:
      case Want::kDone:
      case Want::kFailed:
        co_return session.want();
    }
  }
}

// Sends one command and reads its reply (a reply split over reads is put together). nullopt on
// a timeout, a closed connection or a malformed reply; `error` then says which.
asio::awaitable<std::optional<smtp::ServerReply>> Command(Transport& transport, std::string line,
                                                          Clock::time_point deadline,
                                                          std::string& error) {
  if (co_await transport.Write(line, deadline) != Transport::IoStatus::kOk) {
    error = "connection lost";
    co_return std::nullopt;
  }
  smtp::ReplyParser parser;
  std::string input;
  while (true) {
    input.clear();
    const auto st = co_await transport.Read(input, deadline);
    if (st != Transport::IoStatus::kOk) {
      error = st == Transport::IoStatus::kTimeout ? "no reply" : "connection lost";
      co_return std::nullopt;
    }
    std::size_t consumed = 0;
    smtp::ServerReply reply;
    std::string parse_error;
    switch (parser.Feed(input, &consumed, &reply, &parse_error)) {
      case smtp::ReplyParser::Result::kNeedMore:
        continue;
      case smtp::ReplyParser::Result::kReply:
        // Bytes beyond the reply would be an answer to something not yet sent.
        if (consumed != input.size()) {
          error = "protocol: bytes after the reply";
          co_return std::nullopt;
        }
        co_return reply;
      case smtp::ReplyParser::Result::kError:
        error = "protocol: " + Printable(parse_error, kMaxReasonText);
        co_return std::nullopt;
    }
  }
}

// One probe, from the next hop to QUIT. Answers the probe (unless the timer or the destructor
// did first) and returns when its connection is closed.
asio::awaitable<void> RunProbe(std::shared_ptr<Shared> s, std::shared_ptr<Probe> p) {
  // Answered already: timed out before it started, or the CallAhead (and its resolver) is gone.
  if (p->answered) co_return;
  delivery::NextHop hop = co_await s->network.find_next_hop(p->domain);
  if (p->answered) co_return;
  if (hop.status != delivery::DnsStatus::kOk || hop.null_mx || hop.hosts.empty()) {
    std::string why =
        hop.null_mx ? std::string("null MX") : std::string(delivery::DnsStatusName(hop.status));
    if (!hop.error.empty()) why += ": " + Printable(hop.error, kMaxReasonText);
    Fail(*p, "next hop " + p->domain + ": " + why);
    co_return;
  }

  p->transport = s->network.transport();
  Transport& transport = *p->transport;
  std::string error;
  bool connected = false;
  const delivery::HostCandidate* last = nullptr;
  for (const delivery::HostCandidate& host : hop.hosts) {
    if (p->answered) co_return;
    last = &host;
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(p->deadline - Clock::now());
    if (remaining.count() <= 0) break;
    const std::vector<delivery::HostCandidate> one{host};
    connected = co_await transport.Connect(one, remaining, p->deadline, error);
    if (connected) break;
  }
  if (p->answered) co_return;
  if (!connected) {
    const std::string where = last == nullptr
                                  ? std::string("next hop")
                                  : fmt::format("{}:{}", last->address.to_string(), last->port);
    Fail(*p, "connect to " + where + ": " + Printable(error, kMaxReasonText));
    transport.Close();
    co_return;
  }

  smtp::ClientSession session(smtp::ClientOptions{
      .helo_name = s->options.helo_name, .tls = s->options.tls, .tls_available = true});
  const Want want = co_await Handshake(s->options, transport, session, p->deadline);
  if (p->answered) co_return;
  if (want != Want::kReady) {
    std::string courtesy = session.TakeOutput();  // a QUIT the session still could send
    Fail(*p, Printable(session.failure_reason(), kMaxReasonText));
    if (!courtesy.empty()) {
      co_await transport.Write(courtesy, std::min(p->deadline, Clock::now() + kQuitTimeout));
    }
    transport.Close();
    co_return;
  }

  // A UTF-8 address goes only to a server that offers SMTPUTF8 (RFC 6531), as delivery does.
  std::optional<smtp::ServerReply> mail;
  if (p->utf8 && session.extensions().count("SMTPUTF8") == 0) {
    error = "SMTPUTF8 not offered by the server";
  } else {
    mail = co_await Command(transport,
                            std::string(p->utf8 ? "MAIL FROM:<> SMTPUTF8\r\n" : "MAIL FROM:<>\r\n"),
                            p->deadline, error);
  }
  if (p->answered) co_return;
  if (!mail || !mail->positive()) {
    Fail(*p, "MAIL: " + (mail ? ReplyReason(*mail) : error));
  } else {
    auto rcpt = co_await Command(transport, "RCPT TO:<" + p->address + ">\r\n", p->deadline, error);
    if (p->answered) co_return;
    if (!rcpt) {
      Fail(*p, "RCPT: " + error);
    } else if (rcpt->positive()) {
      Settle(*p, Outcome::kKnown, ReplyReason(*rcpt));
    } else if (rcpt->permanent()) {
      Settle(*p, Outcome::kUnknown, ReplyReason(*rcpt));
    } else {
      Fail(*p, "RCPT: " + ReplyReason(*rcpt));
    }
  }
  // The answer is given; QUIT politely, briefly, unless the destructor closed the connection.
  if (!s->closed) {
    std::string ignored;
    co_await Command(transport, std::string("QUIT\r\n"),
                     std::min(p->deadline, Clock::now() + kQuitTimeout), ignored);
  }
  transport.Close();
}

void Start(const std::shared_ptr<Shared>& s, const std::shared_ptr<Probe>& p);

// A probe of `domain` has ended (or was dropped): its slot goes to the next waiting probe.
void Release(const std::shared_ptr<Shared>& s, const std::shared_ptr<Probe>& p) {
  s->live.erase(p);
  if (s->closed) return;
  auto it = s->hops.find(p->domain);
  if (it == s->hops.end()) return;
  Shared::Hop& hop = it->second;
  --hop.running;
  while (!hop.waiting.empty()) {
    std::shared_ptr<Probe> next = std::move(hop.waiting.front());
    hop.waiting.pop_front();
    if (next->answered) {  // timed out while waiting
      s->live.erase(next);
      continue;
    }
    ++hop.running;
    Start(s, next);
    return;
  }
  if (hop.running == 0) s->hops.erase(it);
}

void Start(const std::shared_ptr<Shared>& s, const std::shared_ptr<Probe>& p) {
  asio::co_spawn(s->executor, RunProbe(s, p), [s, p](std::exception_ptr e) {
    if (e) Fail(*p, "internal error");
    if (p->transport) p->transport->Close();
    Release(s, p);
  });
}

}  // namespace

CallAhead::CallAhead(asio::any_io_executor executor, Options options, Network network)
    : shared_(std::make_shared<Shared>()) {
  shared_->executor = std::move(executor);
  shared_->options = std::move(options);
  shared_->network = std::move(network);
  if (shared_->options.max_per_next_hop == 0) shared_->options.max_per_next_hop = 1;
}

CallAhead::~CallAhead() {
  shared_->closed = true;
  // Every probe is answered now (posted, so no caller code runs inside this destructor) and its
  // socket closed; the coroutines then end on their own without touching this object.
  auto live = std::move(shared_->live);
  shared_->live.clear();
  shared_->hops.clear();
  for (const std::shared_ptr<Probe>& p : live) {
    if (!p->answered) {
      p->answered = true;
      p->timer->cancel();
      asio::post(shared_->executor, [done = std::move(p->done)] {
        done(validation::Answer{.outcome = Outcome::kFailure, .reason = "shutting down"});
      });
    }
    if (p->transport) p->transport->Close();
  }
}

void CallAhead::Find(const mail::Address& address, Done done) {
  if (shared_->closed) return;
  if (!Probeable(address)) {
    done(validation::Answer{.outcome = Outcome::kFailure, .reason = "address cannot be probed"});
    return;
  }
  auto p = std::make_shared<Probe>();
  p->domain = address.domain_lower();
  p->address = address.str();
  p->utf8 = address.has_utf8();
  p->done = std::move(done);
  p->deadline = Clock::now() + shared_->options.timeout;
  p->timer = std::make_unique<asio::steady_timer>(shared_->executor, p->deadline);
  // The timer's handler holds the probe (not the CallAhead): cancelled when the probe is
  // answered, and by the destructor.
  p->timer->async_wait([p, timeout = shared_->options.timeout](boost::system::error_code ec) {
    if (ec || p->answered) return;
    Fail(*p, "timeout after " + Seconds(timeout));
    if (p->transport) p->transport->Close();  // the coroutine then ends at once
  });
  shared_->live.insert(p);
  Shared::Hop& hop = shared_->hops[p->domain];
  if (hop.running < shared_->options.max_per_next_hop) {
    ++hop.running;
    Start(shared_, p);
  } else {
    hop.waiting.push_back(std::move(p));
  }
}

base::Result<std::unique_ptr<CallAhead>> CallAhead::Create(asio::io_context& io,
                                                           const config::GatewayConfig& config,
                                                           std::size_t max_per_next_hop) {
  delivery::ResolverOptions resolver_options;
  for (const auto& server : config.dns.servers) {
    resolver_options.servers.push_back({server.host, server.port});
  }
  resolver_options.timeout = config.dns.timeout;
  auto resolver = delivery::DnsResolver::Create(io, resolver_options);
  if (!resolver) return resolver.error();

  Options options;
  if (config.recipient_validation.call_ahead) {
    options.timeout = config.recipient_validation.call_ahead->timeout;
  }
  options.max_per_next_hop = max_per_next_hop;
  options.helo_name = config.hostname;
  // As the mail queue delivers (queue::RuleBookFromConfig): required = verified TLS.
  const config::Delivery& d = config.delivery;
  options.tls = d.tls == config::TlsMode::kNone       ? smtp::ClientOptions::Tls::kNone
                : d.tls == config::TlsMode::kRequired ? smtp::ClientOptions::Tls::kRequired
                                                      : smtp::ClientOptions::Tls::kPreferred;
  options.tls_verify = d.tls == config::TlsMode::kRequired;
  auto context = delivery::MakeClientTlsContext(
      {.verify = options.tls_verify, .ca_file = options.tls_verify ? d.tls_ca_file : ""});
  if (!context) return context.error();
  options.tls_context = *context;

  delivery::Routes routes;
  for (const auto& [domain, hosts] : config.smtp_routes) {
    auto& list = routes[domain];
    for (const auto& h : hosts) list.push_back(delivery::DnsServer{h.host, h.port});
  }
  Network network;
  // The resolver is the CallAhead's; probes call this only while the CallAhead lives.
  network.find_next_hop = [r = resolver->get(), routes = std::move(routes),
                           port = d.port](std::string domain) {
    return delivery::ResolveNextHop(*r, std::move(domain), routes, port);
  };
  network.transport = [executor = io.get_executor()] {
    return std::make_unique<delivery::TcpTransport>(executor);
  };
  auto call_ahead =
      std::make_unique<CallAhead>(io.get_executor(), std::move(options), std::move(network));
  call_ahead->resolver_ = std::move(*resolver);
  return call_ahead;
}

}  // namespace tidegate::validation
