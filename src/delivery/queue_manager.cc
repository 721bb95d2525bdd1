// queue_manager.cc — scheduling and connections of the delivery engine (see queue_manager.h).
// Outcome handling (durable states, log lines, DSNs) is in outcomes.cc.
#include "delivery/queue_manager.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "delivery/classify.h"
#include "delivery/client_tls.h"
#include "delivery/connection.h"
#include "delivery/queue_manager_internal.h"
#include "delivery/transport.h"
#include "mail/address.h"
#include "spool/transfer_needs.h"

namespace tidegate::delivery {

namespace asio = boost::asio;

namespace {

// How long an idle connection waits for more work before it closes (connection reuse).
constexpr auto kIdleLinger = std::chrono::seconds(1);

std::string DomainOf(const std::string& address) {
  auto at = address.rfind('@');
  return mail::AsciiLower(at == std::string::npos ? address : address.substr(at + 1));
}

}  // namespace

QueueManager::QueueManager(asio::io_context& io, spool::Spool* spool, telemetry::MailLog* log,
                           telemetry::Counters* counters, const base::Clock* clock, ConfigFn config,
                           Network network)
    : io_(io),
      spool_(spool),
      log_(log),
      counters_(counters),
      clock_(clock),
      config_fn_(std::move(config)),
      config_(config_fn_()),
      scheduler_(*clock, [this](const queue::Destination& d) { return RulesFor(d); }),
      network_(std::move(network)),
      report_(log, counters),
      wake_(io),
      alive_(std::make_shared<bool>(true)) {}

QueueManager::~QueueManager() { *alive_ = false; }

telemetry::ReportStyle QueueManager::MakeStyle(const queue::Destination& destination) const {
  const queue::QueueRules& rules = RulesFor(destination);
  return telemetry::ReportStyle{
      .wording = rules.wording == queue::QueueRules::Wording::kJournalCopy
                     ? telemetry::ReportStyle::Wording::kJournalCopy
                     : telemetry::ReportStyle::Wording::kPerRecipient,
      .queue = destination.Display(),
      .service_name = rules.service_name,
      .max_queue_time = std::chrono::duration_cast<std::chrono::seconds>(rules.max_queue_time)};
}

std::shared_ptr<const telemetry::ReportStyle> QueueManager::StyleOf(
    const queue::Destination& destination) {
  auto it = destinations_.find(destination);
  if (it == destinations_.end()) {
    return std::make_shared<const telemetry::ReportStyle>(MakeStyle(destination));
  }
  DestinationState& ds = *it->second;
  if (!ds.style) ds.style = std::make_shared<const telemetry::ReportStyle>(MakeStyle(destination));
  return ds.style;
}

std::shared_ptr<asio::ssl::context> QueueManager::TlsContextFor(const queue::QueueRules& rules) {
  auto key = std::pair(rules.tls_verify, rules.tls_verify ? rules.tls_ca_file : std::string());
  auto it = tls_.find(key);
  if (it != tls_.end()) return it->second;
  auto context = MakeClientTlsContext({.verify = key.first, .ca_file = key.second});
  if (!context) return nullptr;
  tls_.emplace(key, *context);
  return *context;
}

base::Status QueueManager::Start() {
  ApplyConfig();
  if (!network_.find_next_hop) {
    ResolverOptions options;
    for (const auto& s : config_->dns.servers) options.servers.push_back({s.host, s.port});
    options.timeout = config_->dns.timeout;
    auto resolver = DnsResolver::Create(io_, options);
    if (!resolver) return resolver.error();
    resolver_ = std::move(*resolver);
    network_.find_next_hop = [this](std::string domain) {
      return ResolveNextHop(*resolver_, std::move(domain), routes_, config_->delivery.port);
    };
  }
  if (!network_.transport) {
    network_.transport = [this] { return std::make_unique<TcpTransport>(io_.get_executor()); };
  }
  // Every queue's TLS context must build now: a CA file that cannot be read is a start error.
  return RefreshTls();
}

base::Status QueueManager::RefreshTls() {
  base::Status status = base::Status::Ok();
  std::vector<const queue::QueueRules*> all{&rule_book_.mail};
  for (const auto& [name, rules] : rule_book_.named) all.push_back(&rules);
  for (const queue::QueueRules* rules : all) {
    auto key = std::pair(rules->tls_verify, rules->tls_verify ? rules->tls_ca_file : std::string());
    auto context = MakeClientTlsContext({.verify = key.first, .ca_file = key.second});
    if (context) {
      tls_[key] = *context;
    } else if (status.ok()) {
      status = context.error();  // a reload keeps the context it had
    }
  }
  return status;
}

void QueueManager::ApplyConfig() {
  config_ = config_fn_();
  rule_book_ = queue::RuleBookFromConfig(*config_);
  for (const std::string& name : rule_book_.listed) {
    report_.Listed(MakeStyle(queue::Destination(name, "")));
  }
  for (auto& [destination, ds] : destinations_) ds->style.reset();  // the rules may have changed
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
    (void)RefreshTls();  // a CA file that cannot be read now: the previous context stays
    scheduler_.RulesChanged();
    Pump();
    ArmWake();
  });
}

void QueueManager::TimeChanged() {
  asio::post(io_, [this, alive = alive_] {
    if (!*alive || stopping_) return;
    wake_.cancel();  // its expiry was computed from the old time
    wake_.expires_at(std::chrono::steady_clock::time_point::max());
    ProcessPlans(scheduler_.Tick(), AttemptContext{});
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
    ms->body_8bit = spool::TransferNeedsOf(meta).body_8bit;
    // Recipients of one destination with the same stored schedule form one entry: a restart
    // keeps each entry's attempts and next attempt time (docs/life-of-a-message.md).
    struct Schedule {
      queue::Destination destination;
      std::uint32_t attempts = 0;
      base::SystemTime next_attempt{};
      auto operator<=>(const Schedule&) const = default;
    };
    std::map<Schedule, std::vector<std::uint32_t>> by_destination;
    for (const spool::Recipient& r : meta.recipients) {
      ms->rcpts[r.rid] = r.address;
      if (r.state == spool::RecipientState::kPending) {
        ++ms->pending;
        std::string domain = DomainOf(r.address);
        queue::Destination destination = meta.kind == spool::MessageKind::kJournal
                                             ? rule_book_.JournalDestination(std::move(domain))
                                             : queue::Destination(std::move(domain));
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
      const queue::Destination& destination = schedule.destination;
      auto& ds = destinations_[destination];
      if (!ds) ds = std::make_unique<DestinationState>();
      if (!ds->listed) {
        report_.Listed(StyleFor(destination));
        ds->listed = true;
      }
      scheduler_.Add(meta.mid, destination, std::move(rids), meta.received, schedule.next_attempt,
                     schedule.attempts);
    }
    messages_[meta.mid] = std::move(ms);
  }
  // Entries whose lifetime is already over (a journal copy recovered after its max_queue_time)
  // go now, before Pump() could open a connection for them: a restart gives nothing a new life.
  ProcessPlans(scheduler_.Tick(), AttemptContext{});
  Pump();
  ArmWake();
}

std::vector<queue::Scheduler::DestinationStatus> QueueManager::Status() const {
  return scheduler_.Status();
}

void QueueManager::Ring(const queue::Destination& destination) {
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

void QueueManager::OpenWanted(const queue::Destination& destination, DestinationState& ds) {
  if (stopping_) return;
  // A destination whose next hop had no free slot waits until a connection of its pool closes.
  if (waiting_.count(destination) != 0) return;
  const std::uint32_t wanted = scheduler_.WantedConnections(destination);
  const queue::ConnectionBudget::Caps& caps = RulesFor(destination).shared_caps;
  // (A connection may end before co_spawn returns: one that found no slot marks it waiting.)
  while (ds.open < wanted && budget_.CanStart(destination.queue, caps) &&
         waiting_.count(destination) == 0) {
    ++ds.open;
    ++open_total_;
    budget_.Started(destination.queue);
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
    ProcessPlans(scheduler_.Tick(), AttemptContext{});
    Pump();
    ArmWake();
  });
}

void QueueManager::ConnectionFailed(const queue::Destination& destination,
                                    const queue::Failure& failure, const AttemptContext& context) {
  report_.Down(StyleFor(destination), true);
  ProcessPlans(scheduler_.OnConnectionFailed(destination, failure), context);
}

void QueueManager::ProcessPlans(std::vector<queue::Plan> plans, const AttemptContext& context) {
  if (plans.empty()) return;
  ProcessPlansInSlices(std::make_shared<std::vector<queue::Plan>>(std::move(plans)), 0,
                       std::make_shared<const AttemptContext>(context));
}

void QueueManager::ProcessPlansInSlices(std::shared_ptr<std::vector<queue::Plan>> plans,
                                        std::size_t first,
                                        std::shared_ptr<const AttemptContext> context) {
  // A failed connection fails every ready entry of its destination at once: behind a blackholed
  // intake that is every journal copy made during connect_timeout (tens of thousands under load),
  // and a tick can expire as many. Each plan costs a spool request, log lines and tracking; doing
  // them all in one handler stalled this event loop, and with it every inbound session (found by
  // the connector soak, `make soak`). A slice at a time, with the loop's other work in between,
  // keeps reception latency flat. The slice is bounded by time, not by count: a count that is
  // harmless in a release build (256 plans, about 1 ms) stalled the loop for over 10 ms in the
  // ASan build (CI's soak, blackhole). The scheduler has already moved the entries on (deferred
  // or removed), so nothing else touches them meanwhile; at least one plan runs per turn.
  constexpr auto kSliceBudget = std::chrono::microseconds(500);
  const auto started = std::chrono::steady_clock::now();
  std::size_t next = first;
  do {
    ProcessPlan((*plans)[next], *context);
    ++next;
  } while (next < plans->size() && std::chrono::steady_clock::now() - started < kSliceBudget);
  if (next < plans->size()) {
    asio::post(io_, [this, alive = alive_, plans = std::move(plans), next,
                     context = std::move(context)]() mutable {
      if (*alive) ProcessPlansInSlices(std::move(plans), next, std::move(context));
    });
  }
}

ConnectionSettings QueueManager::SettingsFor(const queue::Destination& destination) {
  const queue::QueueRules& rules = RulesFor(destination);
  const config::Delivery& d = config_->delivery;
  ConnectionSettings s;
  s.helo_name = config_->hostname;
  s.tls = rules.tls == queue::QueueRules::Tls::kNone       ? smtp::ClientOptions::Tls::kNone
          : rules.tls == queue::QueueRules::Tls::kRequired ? smtp::ClientOptions::Tls::kRequired
                                                           : smtp::ClientOptions::Tls::kPreferred;
  s.tls_verify = rules.tls_verify;
  s.tls_context = TlsContextFor(rules);
  s.tls_failure_permanent = !queue::RetriesTlsFailures(rules);
  s.connect_timeout = d.connect_timeout;
  s.command_timeout = d.command_timeout;
  s.data_timeout = d.data_timeout;
  s.acquire = [this, alive = alive_, pool = destination.queue,
               caps = rules.shared_caps](const HostCandidate& host) {
    return *alive && budget_.Acquire(pool, host.host, host.address.to_string(), caps);
  };
  s.release = [this, alive = alive_, pool = destination.queue](const HostCandidate& host) {
    if (!*alive) return;
    budget_.Release(pool, host.host, host.address.to_string());
    // A slot of this pool is free: its waiting destinations may try again (the next Pump).
    std::erase_if(waiting_, [&](const queue::Destination& d) { return d.queue == pool; });
  };
  return s;
}

asio::awaitable<void> QueueManager::RunConnection(queue::Destination destination) {
  auto alive = alive_;
  DestinationState& ds = *destinations_.at(destination);
  const telemetry::ReportStyle style = StyleFor(destination);
  report_.Opening(style);
  Connection connection(network_.transport(), SettingsFor(destination), report_, style,
                        [this] { return spool_->NextConnectionId(); });

  NextHop hop = co_await network_.find_next_hop(destination.next_hop);
  if (!*alive) co_return;
  if (hop.status != DnsStatus::kOk || hop.null_mx || hop.hosts.empty()) {
    report_.Report(style,
                   telemetry::NextHopUnusable{.domain = destination.next_hop,
                                              .nxdomain = hop.status == DnsStatus::kNxDomain});
    const Classified c = ClassifyResolution(hop, destination.next_hop);
    AttemptContext failure;
    failure.failure_text = c.text;
    failure.enhanced = c.enhanced;
    ConnectionFailed(destination, c.failure, failure);
  } else {
    std::vector<std::string> hops;
    for (const HostCandidate& c : hop.hosts) {
      hops.push_back(fmt::format("{} [{}]:{}", c.host, c.address.to_string(), c.port));
    }
    report_.Report(style, telemetry::NextHopsResolved{std::move(hops)});
    const Opened opened = co_await connection.Open(hop.hosts);
    if (!*alive) co_return;
    if (opened.outcome == Opened::Outcome::kNoCapacity) {
      // Every host of the next hop has all the connections it may have (other destinations
      // share it): no attempt, no verdict; the entries wait for a slot (SettingsFor).
      waiting_.insert(destination);
    } else if (opened.outcome == Opened::Outcome::kFailed) {
      const Classified& failed = opened.failure;
      AttemptContext failure;
      failure.dcid = connection.dcid();
      failure.failure_text = failed.text;
      failure.enhanced = failed.enhanced;
      failure.code = failed.code;
      ConnectionFailed(destination, failed.failure, failure);
    } else {
      co_await Deliver(destination, ds, connection);
      if (!*alive) co_return;
      co_await connection.Quit();
      if (!*alive) co_return;
    }
  }
  connection.Close();
  --ds.open;
  --open_total_;
  budget_.Stopped(destination.queue);
  report_.Closed(style, connection.dcid());
  Pump();
  ArmWake();
}

asio::awaitable<void> QueueManager::Deliver(const queue::Destination& destination,
                                            DestinationState& ds, Connection& connection) {
  auto alive = alive_;
  const telemetry::ReportStyle style = StyleFor(destination);
  scheduler_.OnConnectionEstablished(destination);
  report_.Down(style, false);
  // A probe got through (first connection, or after a down or lost spell): open the rest of the
  // window now, not at the next enqueue (a queue with min_connections keeps them).
  OpenWanted(destination, ds);
  asio::steady_timer idle(io_);
  while (*alive && !stopping_) {
    std::optional<queue::Entry> entry = scheduler_.TakeReady(destination);
    if (!entry) {
      // Idle: stay while the queue wants this many connections, else linger briefly, listening.
      idle.expires_after(kIdleLinger);
      ds.idle.insert(&idle);
      const Connection::Idle heard = co_await connection.WaitIdle(idle);
      if (!*alive) co_return;
      ds.idle.erase(&idle);
      if (heard == Connection::Idle::kLost) scheduler_.OnConnectionLost(destination);
      if (heard == Connection::Idle::kLost || heard == Connection::Idle::kUnusable) co_return;
      if (heard == Connection::Idle::kLingered &&
          scheduler_.WantedConnections(destination) < ds.open) {
        co_return;
      }
      if (stopping_) co_return;
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
      report_.CannotRead(entry->mid, telemetry::DeliveryReport::Reading::kToSend,
                         s.error().message);
      scheduler_.Release(entry->id);
      co_return;
    }
    envelope.size = body.size();
    // Recorded once at reception; only a message from an older spool is scanned here.
    envelope.body_8bit = ms.body_8bit ? *ms.body_8bit : spool::Has8Bit(body);
    envelope.smtputf8 = spool::Has8Bit(envelope.sender);
    for (const auto& r : envelope.recipients) envelope.smtputf8 |= spool::Has8Bit(r);
    report_.Report(style, telemetry::DeliveryStarted{
                              .dcid = connection.dcid(), .mid = entry->mid, .rids = entry->rids});
    auto deadline = Connection::Clock::time_point::max();
    if (const queue::QueueRules& rules = RulesFor(destination); rules.attempt_within_lifetime) {
      const auto left = queue::Deadline(rules, entry->queued_at) - clock_->Now();
      deadline = Connection::Clock::now() + std::chrono::duration_cast<Connection::Clock::duration>(
                                                std::max(left, base::SystemTime::duration::zero()));
    }
    co_await connection.Send(std::move(envelope), std::move(body), deadline);
    if (!*alive) co_return;
    AttemptContext context;
    context.dcid = connection.dcid();
    context.remote_host = connection.peer().host;
    queue::AttemptOutcome outcome;
    const auto& result = connection.result();
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
    // A retried entry is scheduled now: the wake must cover its time. This connection may stay
    // open (a queue with min_connections keeps them while it holds entries), so waiting for the
    // next close to re-arm could leave a lone entry unretried until it expired.
    if (!plan.retried.empty()) ArmWake();
    if (connection.cut()) {
      // Cut mid-transaction (reset, or closed without a reply): reported after Complete(), so
      // that a delivery earlier on this connection does not hide the loss. A 421 is an answer
      // (kDone or kMail/kData), a timeout is ours: neither is a loss.
      scheduler_.OnConnectionLost(destination);
    } else if (!plan.delivered.empty()) {
      OpenWanted(destination, ds);  // a success may have grown or verified the window
    }
    if (!connection.ready()) co_return;
  }
}

}  // namespace tidegate::delivery
