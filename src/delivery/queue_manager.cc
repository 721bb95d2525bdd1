// queue_manager.cc — scheduling and connections of the delivery engine (see queue_manager.h).
// Outcome handling (durable states, log lines, DSNs) is in outcomes.cc.
#include "delivery/queue_manager.h"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "delivery/classify.h"
#include "delivery/client_tls.h"
#include "delivery/queue_manager_internal.h"
#include "delivery/transport.h"
#include "mail/address.h"

namespace tidegate::delivery {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using Want = smtp::ClientSession::Want;
using namespace boost::asio::experimental::awaitable_operators;  // `||` of two awaitables

namespace {

constexpr char kTdcPrefix[] = "the.tdc.queue/";
// How long an idle connection waits for more work before it closes (connection reuse).
constexpr auto kIdleLinger = std::chrono::seconds(1);
// How long a polite QUIT may take.
constexpr auto kQuitTimeout = std::chrono::seconds(5);

std::string DomainOf(const std::string& address) {
  auto at = address.rfind('@');
  return mail::AsciiLower(at == std::string::npos ? address : address.substr(at + 1));
}

}  // namespace

std::string DisplayName(const std::string& destination) {
  return IsTdcDestination(destination) ? std::string(kTdcQueue) : destination;
}

bool IsTdcDestination(const std::string& destination) {
  return destination.rfind(kTdcPrefix, 0) == 0 || destination == kTdcQueue;
}

QueueManager::QueueManager(asio::io_context& io, spool::Spool* spool, telemetry::MailLog* log,
                           telemetry::Counters* counters, const base::Clock* clock,
                           ConfigFn config)
    : io_(io),
      spool_(spool),
      log_(log),
      counters_(counters),
      clock_(clock),
      config_fn_(std::move(config)),
      config_(config_fn_()),
      scheduler_(*clock, [this](const std::string& d) { return RulesFor(d); }),
      wake_(io),
      alive_(std::make_shared<bool>(true)) {}

QueueManager::~QueueManager() { *alive_ = false; }

queue::QueueRules QueueManager::RulesFor(const std::string& destination) const {
  if (IsTdcDestination(destination)) {
    const auto& t = config_->tdc;
    return queue::TdcQueueRules(t.min_connections, t.max_connections, t.max_queue_time,
                                t.retry_delay);
  }
  queue::QueueRules rules;
  const auto& d = config_->delivery;
  rules.max_connections = d.max_connections_per_host;
  rules.initial_window = std::min<std::uint32_t>(5, d.max_connections_per_host);
  rules.max_queue_time = d.retry.max_queue_time;
  rules.initial_retry = d.retry.initial;
  rules.max_retry_interval = d.retry.max_interval;
  return rules;
}

base::Status QueueManager::Start() {
  ApplyConfig();
  ResolverOptions options;
  for (const auto& s : config_->dns.servers) options.servers.push_back({s.host, s.port});
  options.timeout = config_->dns.timeout;
  auto resolver = DnsResolver::Create(io_, options);
  if (!resolver) return resolver.error();
  resolver_ = std::move(*resolver);
  auto opportunistic = MakeClientTlsContext({.verify = false, .ca_file = ""});
  if (!opportunistic) return opportunistic.error();
  tls_opportunistic_ = *opportunistic;
  auto verified = MakeClientTlsContext({.verify = true, .ca_file = config_->delivery.tls_ca_file});
  if (!verified) return verified.error();
  tls_verified_ = *verified;
  auto tdc = MakeClientTlsContext({.verify = true, .ca_file = config_->tdc.tls_ca_file});
  if (!tdc) return tdc.error();
  tls_tdc_ = *tdc;
  if (config_->tdc.enabled) counters_->Touch(kTdcQueue);
  return base::Status::Ok();
}

void QueueManager::ApplyConfig() {
  config_ = config_fn_();
  routes_.clear();
  for (const auto& [domain, hosts] : config_->smtp_routes) {
    auto& list = routes_[domain];
    for (const auto& h : hosts) list.push_back(DnsServer{h.host, h.port});
  }
}

void QueueManager::ConfigChanged() {
  asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    ApplyConfig();
    if (auto tdc = MakeClientTlsContext({.verify = true, .ca_file = config_->tdc.tls_ca_file})) {
      tls_tdc_ = *tdc;
    }
    if (auto v = MakeClientTlsContext({.verify = true, .ca_file = config_->delivery.tls_ca_file})) {
      tls_verified_ = *v;
    }
    if (config_->tdc.enabled) counters_->Touch(kTdcQueue);
    scheduler_.RulesChanged();
    Pump();
    ArmWake();
  });
}

void QueueManager::Stop() {
  asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    stopping_ = true;
    wake_.cancel();
    for (auto& [name, d] : destinations_) {
      for (auto* t : d->idle) t->cancel();
    }
  });
}

void QueueManager::Enqueue(std::vector<spool::MessageMeta> messages) {
  asio::post(io_, [this, alive = alive_, messages = std::move(messages)]() mutable {
    if (*alive) EnqueueOnLoop(std::move(messages));
  });
}

void QueueManager::EnqueueOnLoop(std::vector<spool::MessageMeta> messages) {
  for (spool::MessageMeta& meta : messages) {
    auto ms = std::make_unique<MessageState>();
    ms->mid = meta.mid;
    ms->kind = meta.kind;
    ms->parent_mid = meta.parent_mid;
    ms->sender = meta.sender;
    ms->received = meta.received;
    if (auto it = meta.attrs.find("message_id"); it != meta.attrs.end()) {
      ms->message_id = it->second;
    }
    // Recipients of one destination with the same stored schedule form one entry: a restart
    // keeps each entry's attempts and next attempt time (docs/life-of-a-message.md).
    struct Schedule {
      std::string destination;
      std::uint32_t attempts = 0;
      base::SystemTime next_attempt{};
      auto operator<=>(const Schedule&) const = default;
    };
    std::map<Schedule, std::vector<std::uint32_t>> by_destination;
    for (const spool::Recipient& r : meta.recipients) {
      ms->rcpts[r.rid] = r.address;
      if (r.state == spool::RecipientState::kPending) {
        ++ms->pending;
        const std::string domain = DomainOf(r.address);
        std::string destination =
            meta.kind == spool::MessageKind::kJournal ? kTdcPrefix + domain : domain;
        by_destination[Schedule{std::move(destination), r.attempts, r.next_attempt}].push_back(
            r.rid);
      } else if (r.state != spool::RecipientState::kDelivered) {
        // Failed before a restart: the details are gone, the DSN still reports it.
        ms->failed.push_back(mail::DsnRecipient{
            .address = r.address,
            .action = "failed",
            .status = "5.0.0",
            .remote_mta = "",
            .diagnostic = "x-tidegate; delivery failed (details not kept across a restart)",
            .last_attempt = {}});
      }
    }
    if (ms->pending == 0) continue;
    if (ms->kind == spool::MessageKind::kJournal) ++journal_backlog_;
    for (auto& [schedule, rids] : by_destination) {
      const std::string& destination = schedule.destination;
      auto& ds = destinations_[destination];
      if (!ds) {
        ds = std::make_unique<DestinationState>();
        ds->tdc = IsTdcDestination(destination);
        ds->next_hop_domain = ds->tdc ? destination.substr(sizeof(kTdcPrefix) - 1) : destination;
      }
      counters_->Touch(DisplayName(destination));
      scheduler_.Add(meta.mid, destination, std::move(rids), meta.received, schedule.next_attempt,
                     schedule.attempts);
    }
    messages_[meta.mid] = std::move(ms);
  }
  // Entries whose lifetime is already over (a journal copy recovered after its max_queue_time)
  // go now, before Pump() could open a connection for them: a restart gives nothing a new life.
  for (const queue::Plan& plan : scheduler_.Tick()) ProcessPlan(plan, AttemptContext{});
  Pump();
  ArmWake();
}

std::vector<queue::Scheduler::DestinationStatus> QueueManager::Status() const {
  return scheduler_.Status();
}

void QueueManager::Ring(const std::string& destination) {
  auto it = destinations_.find(destination);
  if (it == destinations_.end()) return;
  for (auto* t : it->second->idle) t->cancel();
}

void QueueManager::Pump() {
  if (stopping_) return;
  for (auto& [name, ds] : destinations_) {
    if (scheduler_.WantedConnections(name) == 0) continue;
    Ring(name);
    OpenWanted(name, *ds);
  }
}

void QueueManager::OpenWanted(const std::string& destination, DestinationState& ds) {
  if (stopping_) return;
  const std::uint32_t wanted = scheduler_.WantedConnections(destination);
  while (ds.open < wanted) {
    ++ds.open;
    ++open_total_;
    asio::co_spawn(io_, RunConnection(destination), asio::detached);
  }
}

void QueueManager::ArmWake() {
  if (stopping_) return;
  auto next = scheduler_.NextWakeup();
  if (!next) {
    wake_.expires_at(std::chrono::steady_clock::time_point::max());
    return;
  }
  const auto delta = *next - clock_->Now();
  const auto at = std::chrono::steady_clock::now() +
                  std::max(std::chrono::steady_clock::duration::zero(),
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(delta));
  if (wake_.expiry() == at) return;
  wake_.expires_at(at);
  wake_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || stopping_) return;
    for (const queue::Plan& plan : scheduler_.Tick()) ProcessPlan(plan, AttemptContext{});
    Pump();
    ArmWake();
  });
}

void QueueManager::ConnectionFailed(const std::string& destination, const queue::Failure& failure,
                                    const AttemptContext& context) {
  counters_->SetDown(DisplayName(destination), true);
  auto plans = std::make_shared<std::vector<queue::Plan>>(
      scheduler_.OnConnectionFailed(destination, failure));
  ProcessPlansInSlices(std::move(plans), 0, std::make_shared<AttemptContext>(context));
}

void QueueManager::ProcessPlansInSlices(std::shared_ptr<std::vector<queue::Plan>> plans,
                                        std::size_t first,
                                        std::shared_ptr<const AttemptContext> context) {
  // A failed connection fails every ready entry of its destination at once: behind a blackholed
  // intake that is every journal copy made during connect_timeout (tens of thousands under load).
  // Each plan costs a spool request, log lines and tracking; doing them all in one handler stalled
  // this event loop, and with it every inbound session (found by the TDC soak). A slice at a time,
  // with the loop's other work in between, keeps reception latency flat. The scheduler has already
  // moved the entries on (deferred or removed), so nothing else touches them meanwhile.
  constexpr std::size_t kSlice = 256;
  const std::size_t end = std::min(plans->size(), first + kSlice);
  for (std::size_t i = first; i < end; ++i) ProcessPlan((*plans)[i], *context);
  if (end < plans->size()) {
    asio::post(io_, [this, alive = alive_, plans = std::move(plans), end,
                     context = std::move(context)]() mutable {
      if (*alive) ProcessPlansInSlices(std::move(plans), end, std::move(context));
    });
  }
}

asio::awaitable<Want> QueueManager::Drive(smtp::ClientSession& session, Transport& transport,
                                          const std::string& destination, std::uint64_t dcid,
                                          std::chrono::steady_clock::time_point entry_deadline,
                                          std::chrono::steady_clock::time_point
                                              greeting_deadline) {
  const auto& d = config_->delivery;
  std::string input;
  Want want = session.want();
  // Until we have written something, we are waiting for the greeting: connect_timeout covers it
  // (docs/configuration.md), not command_timeout, so a peer that accepts TCP and never speaks
  // (a blackholed intake) is given up after 30 s by default, not 5 minutes.
  auto read_limit = std::min(entry_deadline, greeting_deadline);
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    std::string output = session.TakeOutput();
    if (!output.empty()) {
      read_limit = entry_deadline;
      auto st = co_await transport.Write(output, std::min(entry_deadline, now + d.data_timeout));
      if (st == Transport::IoStatus::kTimeout) session.OnTimeout();
      else if (st != Transport::IoStatus::kOk) session.OnDisconnected();
      want = session.want();
    }
    switch (want) {
      case Want::kRead:
      case Want::kWrite: {
        input.clear();
        // The reply to the final dot may take as long as the server's content checks:
        // data_timeout (docs/configuration.md); every other reply command_timeout.
        const auto reply_timeout =
            session.awaiting_data_reply() ? d.data_timeout : d.command_timeout;
        auto st = co_await transport.Read(
            input, std::min(read_limit, std::chrono::steady_clock::now() + reply_timeout));
        if (st == Transport::IoStatus::kOk) {
          want = session.OnBytes(input);
        } else {
          if (st == Transport::IoStatus::kTimeout) session.OnTimeout();
          else session.OnDisconnected();
          want = session.want();
        }
        break;
      }
      case Want::kStartTls: {
        auto& ds = *destinations_.at(destination);
        const bool verify = ds.tdc || config_->delivery.tls == config::TlsMode::kRequired;
        auto& ctx = ds.tdc ? *tls_tdc_ : (verify ? *tls_verified_ : *tls_opportunistic_);
        std::string error;
        const bool ok = co_await transport.StartTls(
            ctx, transport.peer().host, verify,
            std::min(entry_deadline, std::chrono::steady_clock::now() + d.command_timeout), error);
        if (ok) {
          log_->Info(fmt::format("DCID {} TLS success protocol {} cipher {}", dcid,
                                 transport.tls_protocol(), transport.tls_cipher()));
          want = session.OnTlsEstablished();
        } else {
          log_->Info(fmt::format("DCID {} TLS failed: {}", dcid, error));
          want = session.OnTlsFailed(error);
        }
        break;
      }
      case Want::kReady:
      case Want::kDone:
      case Want::kFailed:
        co_return want;
    }
  }
}

asio::awaitable<QueueManager::IdleHearing> QueueManager::HearIdlePeer(
    smtp::ClientSession& session, Transport& transport, boost::system::error_code wait_error) {
  if (wait_error) {
    session.OnDisconnected();
    co_return IdleHearing::kLost;
  }
  // Something arrived on an idle connection: read what it is, within kIdleLinger. A server only
  // speaks unasked to say goodbye ("421 ... timeout" then close, or just close / reset). A part
  // of a reply stays buffered in the session (which would fail the next transaction on it), so
  // read on until the reply is whole.
  const auto deadline = std::chrono::steady_clock::now() + kIdleLinger;
  while (true) {
    std::string input;
    switch (co_await transport.Read(input, deadline)) {
      case Transport::IoStatus::kOk:
        session.OnBytes(input);
        if (session.want() == Want::kReady) continue;  // the start of a reply
        // kDone: a 421 goodbye, the peer is closing this connection. kFailed: bytes out of turn,
        // a protocol error that says nothing about reachability: we just close.
        co_return session.want() == Want::kDone ? IdleHearing::kLost : IdleHearing::kUnusable;
      case Transport::IoStatus::kClosed:
      case Transport::IoStatus::kError:
        session.OnDisconnected();
        co_return IdleHearing::kLost;
      case Transport::IoStatus::kTimeout:
        // Bytes that were no application data (a TLS record) or half a reply, then nothing.
        session.OnTimeout();
        co_return IdleHearing::kUnusable;
    }
  }
}

asio::awaitable<void> QueueManager::RunConnection(std::string destination) {
  auto alive = alive_;
  DestinationState& ds = *destinations_.at(destination);
  const std::string display = DisplayName(destination);
  const std::string prefix = ds.tdc ? "TDC: " : "";
  counters_->ConnectionOpened(display);
  const auto never = std::chrono::steady_clock::time_point::max();
  AttemptContext failure_context;

  NextHop hop = co_await ResolveNextHop(*resolver_, ds.next_hop_domain, routes_, config_->delivery.port);
  if (!*alive) co_return;
  Transport transport(io_.get_executor());
  std::uint64_t dcid = 0;
  if (hop.status != DnsStatus::kOk || hop.null_mx || hop.hosts.empty()) {
    if (hop.status == DnsStatus::kNxDomain) {
      log_->Info(fmt::format("DNS Error {} MX - NXDomain", ds.next_hop_domain));
    }
    const Classified c = ClassifyResolution(hop, ds.next_hop_domain);
    failure_context.failure_text = c.text;
    failure_context.enhanced = c.enhanced;
    ConnectionFailed(destination, c.failure, failure_context);
  } else {
    std::vector<std::string> hops;
    for (const HostCandidate& c : hop.hosts) {
      hops.push_back(fmt::format("{} [{}]:{}", c.host, c.address.to_string(), c.port));
    }
    counters_->SetNextHops(display, std::move(hops));
    std::string error;
    const auto connect_timeout = config_->delivery.connect_timeout;
    const bool connected = co_await transport.Connect(
        hop.hosts, connect_timeout,
        std::chrono::steady_clock::now() + connect_timeout * static_cast<int>(hop.hosts.size()),
        error);
    if (!*alive) co_return;
    if (!connected) {
      const HostCandidate& last = hop.hosts.back();
      if (ds.tdc) {
        log_->Info(fmt::format(
            "TDC: Connection Error: DCID 0 domain: {} IP: {} port: {} details: {} interface: "
            "{} reason: network error",
            kTdcQueue, last.address.to_string(), last.port, error, transport.local_ip()));
      } else {
        log_->Info(fmt::format("Connection Error: domain: {} IP: {} port: {} details: {}",
                               destination, last.address.to_string(), last.port, error));
      }
      const Classified c = ClassifyConnect(last, error);
      failure_context.failure_text = c.text;
      failure_context.enhanced = c.enhanced;
      ConnectionFailed(destination, c.failure, failure_context);
    } else {
      dcid = spool_->NextDcid();
      const HostCandidate& peer = transport.peer();
      log_->Info(fmt::format("{}New SMTP DCID {} interface {} address {} port {}", prefix, dcid,
                             transport.local_ip(), peer.address.to_string(), peer.port));
      smtp::ClientOptions options;
      options.helo_name = config_->hostname;
      options.tls = ds.tdc ? smtp::ClientOptions::Tls::kRequired
                    : config_->delivery.tls == config::TlsMode::kNone
                        ? smtp::ClientOptions::Tls::kNone
                    : config_->delivery.tls == config::TlsMode::kRequired
                        ? smtp::ClientOptions::Tls::kRequired
                        : smtp::ClientOptions::Tls::kPreferred;
      options.tls_available = true;
      smtp::ClientSession session(options);
      Want want = co_await Drive(session, transport, destination, dcid, never,
                                 std::chrono::steady_clock::now() + connect_timeout);
      if (!*alive) co_return;
      if (want != Want::kReady) {
        const Classified c =
            ClassifySessionFailure(session, !queue::RetriesTlsFailures(RulesFor(destination)));
        const queue::Failure failure = c.failure;
        failure_context.dcid = dcid;
        failure_context.failure_text = c.text;
        failure_context.enhanced = c.enhanced;
        failure_context.code = c.code;
        counters_->RecordError(
            display,
            failure.cls == queue::FailureClass::kTls ? telemetry::Counters::ErrorKind::kTls
            : failure.cls == queue::FailureClass::kPermanent
                ? telemetry::Counters::ErrorKind::kPermanent
                : telemetry::Counters::ErrorKind::kTemporary,
            failure_context.failure_text);
        if (ds.tdc) {
          log_->Info(fmt::format(
              "TDC: Connection Error: DCID {} domain: {} IP: {} port: {} details: {} interface: "
              "{} reason: {}",
              dcid, kTdcQueue, peer.address.to_string(), peer.port, session.failure_reason(),
              transport.local_ip(),
              failure.cls == queue::FailureClass::kTls ? "TLS error" : "protocol error"));
        }
        std::string courtesy = session.TakeOutput();
        if (!courtesy.empty()) {
          co_await transport.Write(courtesy, std::chrono::steady_clock::now() + kQuitTimeout);
        }
        ConnectionFailed(destination, failure, failure_context);
      } else {
        scheduler_.OnConnectionEstablished(destination);
        counters_->SetDown(display, false);
        // A probe got through (first connection, or after a down or lost spell): open the rest
        // of the window now, not at the next enqueue (the.tdc.queue keeps min_connections).
        OpenWanted(destination, ds);
        asio::steady_timer idle(io_);
        while (*alive && !stopping_) {
          std::optional<queue::Entry> entry = scheduler_.TakeReady(destination);
          if (!entry) {
            // Idle: stay while the queue wants this many connections, else linger briefly.
            // Meanwhile listen: a next hop that closes an idle connection (its idle timeout, an
            // intake going away) is noticed now, and makes the next connect a single probe.
            idle.expires_after(kIdleLinger);
            ds.idle.insert(&idle);
            auto woke =
                co_await (idle.async_wait(as_tuple(use_awaitable)) || transport.WaitReadable());
            if (!*alive) co_return;
            ds.idle.erase(&idle);
            if (woke.index() == 1) {
              const IdleHearing heard = co_await HearIdlePeer(session, transport,
                                                              std::get<1>(woke));
              if (!*alive) co_return;
              want = session.want();  // kDone or kFailed: no QUIT below
              if (heard == IdleHearing::kLost) scheduler_.OnConnectionLost(destination);
              break;
            }
            const auto [ec] = std::get<0>(woke);
            if (!ec && scheduler_.WantedConnections(destination) < ds.open) break;
            if (stopping_) break;
            continue;
          }
          auto it = messages_.find(entry->mid);
          if (it == messages_.end()) {
            scheduler_.Complete(entry->id, {});
            continue;
          }
          MessageState& ms = *it->second;
          smtp::Envelope envelope;
          envelope.sender = ms.sender;
          for (std::uint32_t rid : entry->rids) envelope.recipients.push_back(ms.rcpts[rid]);
          std::string body;
          if (base::Status s = spool_->ReadBody(entry->mid, body); !s) {
            log_->Critical(fmt::format("MID {} cannot read the stored message: {}", entry->mid,
                                       s.error().message));
            scheduler_.Release(entry->id);
            break;
          }
          envelope.size = body.size();
          envelope.body_8bit = std::any_of(body.begin(), body.end(),
                                           [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
          envelope.smtputf8 = false;
          for (const auto& r : envelope.recipients) {
            for (unsigned char c : r) envelope.smtputf8 |= c >= 0x80;
          }
          for (unsigned char c : envelope.sender) envelope.smtputf8 |= c >= 0x80;
          if (ds.tdc) {
            log_->Info(fmt::format("TDC: Delivery start DCID {} MID {}", dcid, entry->mid));
          } else {
            log_->Info(fmt::format("Delivery start DCID {} MID {} to RID [{}]", dcid, entry->mid,
                                   fmt::join(entry->rids, ", ")));
          }
          auto entry_deadline = never;
          if (ds.tdc) {
            const auto left = queue::Deadline(RulesFor(destination), entry->queued_at) -
                              clock_->Now();
            entry_deadline = std::chrono::steady_clock::now() +
                             std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 std::max(left, base::SystemTime::duration::zero()));
          }
          want = session.StartTransaction(std::move(envelope), std::move(body));
          want = co_await Drive(session, transport, destination, dcid, entry_deadline);
          if (!*alive) co_return;
          AttemptContext context;
          context.dcid = dcid;
          context.remote_host = peer.host;
          queue::AttemptOutcome outcome;
          const auto& result = session.result();
          for (size_t i = 0; i < entry->rids.size() && i < result.recipients.size(); ++i) {
            const auto& [verdict, reply] = result.recipients[i];
            const std::uint32_t rid = entry->rids[i];
            context.replies[rid] = reply;
            if (verdict == smtp::RecipientOutcome::kAccepted) {
              outcome.delivered.push_back(rid);
            } else {
              outcome.failed.emplace_back(rid, ClassifyRecipient(verdict, reply));
            }
          }
          const queue::Plan plan = scheduler_.Complete(entry->id, outcome);
          ProcessPlan(plan, context);
          // A retried entry is scheduled now: the wake must cover its time. This connection may
          // stay open (the.tdc.queue keeps min_connections while it holds entries), so waiting
          // for the next close to re-arm could leave a lone copy unretried until it expired.
          if (!plan.retried.empty()) ArmWake();
          if (want == Want::kFailed &&
              session.failure() == smtp::ClientSession::Failure::kConnection) {
            // Cut mid-transaction (reset, or closed without a reply): reported after Complete(),
            // so that a delivery earlier on this connection does not hide the loss. A 421 is an
            // answer (kDone or kMail/kData), a timeout is ours: neither is a loss.
            scheduler_.OnConnectionLost(destination);
          } else if (!plan.delivered.empty()) {
            OpenWanted(destination, ds);  // a success may have grown or verified the window
          }
          if (want != Want::kReady) break;
        }
        if (want == Want::kReady) {
          session.Quit();
          std::string quit = session.TakeOutput();
          if (!quit.empty()) {
            auto deadline = std::chrono::steady_clock::now() + kQuitTimeout;
            if (co_await transport.Write(quit, deadline) == Transport::IoStatus::kOk) {
              std::string ignored;
              co_await transport.Read(ignored, deadline);
            }
          }
        }
      }
      if (!*alive) co_return;
      log_->Info(fmt::format("DCID {} close", dcid));
    }
  }
  transport.Close();
  --ds.open;
  --open_total_;
  counters_->ConnectionClosed(display);
  Pump();
  ArmWake();
}

}  // namespace tidegate::delivery
