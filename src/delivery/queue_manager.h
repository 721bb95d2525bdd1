// queue_manager.h — the delivery engine: destination queues (queue::Scheduler), outbound
// connections per destination, and what happens after each attempt (durable recipient states,
// mail log lines, DSNs, counters).
//
// Every destination is a queue::Destination {queue rules, next hop}; every difference between
// queues (minimum connections, retry table, lifetime, DSNs, TLS, the transaction deadline, how
// events read) is a property of its rules (queue::RuleBook, built from the configuration), so
// this engine has no branch for any particular queue. What it observes it states as typed events
// (telemetry::DeliveryReport renders them into log lines, tracking rows and counters).
//
// Threading: everything runs on the io_context given at construction; Enqueue() and Stop() may
// be called from any thread (they post). Spool callbacks arrive on the spool thread and are
// posted back. The manager must outlive its io_context's handlers (destroy it after io.run()
// returned and the context was stopped).
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "config/config.h"
#include "delivery/dns_resolver.h"
#include "delivery/next_hop.h"
#include "delivery/transport.h"
#include "mail/dsn.h"
#include "queue/rule_book.h"
#include "queue/scheduler.h"
#include "smtp/client_session.h"
#include "spool/spool.h"
#include "telemetry/counters.h"
#include "telemetry/delivery_report.h"
#include "telemetry/mail_log.h"

namespace tidegate::delivery {

class Connection;
struct ConnectionSettings;

class QueueManager {
 public:
  using ConfigFn = std::function<std::shared_ptr<const config::GatewayConfig>()>;
  // How the engine reaches the network. Start() fills what is left empty with the real ones: the
  // c-ares resolver with the configured DNS servers and smtp_routes, and TcpTransport. Unit tests
  // give a fixed next hop and a scripted peer.
  struct Network {
    std::function<boost::asio::awaitable<NextHop>(std::string domain)> find_next_hop;
    TransportFactory transport;
  };
  QueueManager(boost::asio::io_context& io, spool::Spool* spool, telemetry::MailLog* log,
               telemetry::Counters* counters, const base::Clock* clock, ConfigFn config,
               Network network = {});
  ~QueueManager();

  // Builds the resolver (unless given) and TLS contexts from the configuration.
  base::Status Start();
  // Newly committed or recovered messages (pending recipients only are queued). Any thread.
  void Enqueue(std::vector<spool::MessageMeta> messages);
  // Re-reads rules, routes and TLS settings (SIGHUP, live changes). Any thread.
  void ConfigChanged();
  // The clock moved other than by running (a test's FakeClock, a wall-clock step): act on what is
  // due now and re-arm the wake for what is not. Any thread.
  void TimeChanged();
  // No new attempts; idle connections close, busy ones finish their transaction. Any thread.
  void Stop();
  std::uint32_t open_connections() const { return open_total_; }
  // Journal copies queued and not finished (the journal queue's spool quota). Any thread.
  std::size_t journal_backlog() const { return journal_backlog_.load(); }

  // io thread only:
  std::vector<queue::Scheduler::DestinationStatus> Status() const;
  // Scheduler::NextAttempt (the hoststatus "next attempt").
  std::optional<queue::Time> NextAttempt(const std::string& display) const {
    return scheduler_.NextAttempt(display);
  }
  // Message tracking receives every delivery event's row through this.
  void set_tracking(telemetry::DeliveryReport::TrackingSink sink) {
    report_.set_tracking(std::move(sink));
  }

 private:
  struct MessageState;
  struct DestinationState;
  struct AttemptContext;

  // Setup.
  void ApplyConfig();
  const queue::QueueRules& RulesFor(const queue::Destination& destination) const {
    return rule_book_.For(destination);
  }
  // How a destination's events read (its queue's rules): built once per destination and again
  // on a reload, not per event. StyleOf's pointer outlives a reload for whoever holds it.
  telemetry::ReportStyle MakeStyle(const queue::Destination& destination) const;
  std::shared_ptr<const telemetry::ReportStyle> StyleOf(const queue::Destination& destination);
  const telemetry::ReportStyle& StyleFor(const queue::Destination& destination) {
    return *StyleOf(destination);
  }
  std::shared_ptr<boost::asio::ssl::context> TlsContextFor(const queue::QueueRules& rules);
  void EnqueueOnLoop(std::vector<spool::MessageMeta> messages);

  // Scheduling.
  void Pump();
  void ArmWake();
  void Ring(const queue::Destination& destination);
  // Opens connections for `destination` until it has as many as the scheduler wants (no Ring).
  void OpenWanted(const queue::Destination& destination, DestinationState& ds);
  // One connection's life: resolve, open, deliver while the queue has work, close.
  boost::asio::awaitable<void> RunConnection(queue::Destination destination);
  // Takes ready entries of `destination` and sends them on `connection` until the queue has no
  // more work for it, the connection is no longer usable, or the engine stops.
  boost::asio::awaitable<void> Deliver(const queue::Destination& destination, DestinationState& ds,
                                       Connection& connection);
  ConnectionSettings SettingsFor(const queue::Destination& destination);
  base::Status RefreshTls();
  void ConnectionFailed(const queue::Destination& destination, const queue::Failure& failure,
                        const AttemptContext& context);
  // Processes `plans` (the scheduler's verdicts) a time-bounded slice per event-loop turn.
  void ProcessPlans(std::vector<queue::Plan> plans, const AttemptContext& context);
  // Plans [first, ...) from one turn to the next (see the definition).
  void ProcessPlansInSlices(std::shared_ptr<std::vector<queue::Plan>> plans, std::size_t first,
                            std::shared_ptr<const AttemptContext> context);

  // Outcomes (outcomes.cc).
  void ProcessPlan(const queue::Plan& plan, const AttemptContext& context);
  // What the attempt knew of `rid`: the peer's reply to it, else the attempt's failure.
  telemetry::ReplySummary SummaryFor(std::uint32_t rid, const AttemptContext& context) const;
  // Commits a plan's results (and its DSN) and calls `after` once they are durable. A failed
  // commit (a full disk) is retried every second until it lands or the manager stops: results
  // that were dropped would leave delivered mail live in the spool, holding the very space a full
  // disk needs back, and resent after the next restart.
  void RecordResults(std::uint64_t mid, std::vector<spool::NewMessage> dsn,
                     std::vector<spool::StateUpdate> updates, bool retry,
                     std::function<void(std::vector<spool::MessageMeta>)> after);

  boost::asio::io_context& io_;
  spool::Spool* spool_;
  telemetry::MailLog* log_;
  telemetry::Counters* counters_;
  const base::Clock* clock_;
  ConfigFn config_fn_;
  std::shared_ptr<const config::GatewayConfig> config_;

  queue::Scheduler scheduler_;
  Network network_;
  std::unique_ptr<DnsResolver> resolver_;
  Routes routes_;
  queue::RuleBook rule_book_;
  telemetry::DeliveryReport report_;
  // Client TLS contexts by (verify, CA file); rebuilt on a configuration change.
  std::map<std::pair<bool, std::string>, std::shared_ptr<boost::asio::ssl::context>> tls_;
  boost::asio::steady_timer wake_;
  std::unordered_map<std::uint64_t, std::unique_ptr<MessageState>> messages_;
  std::map<queue::Destination, std::unique_ptr<DestinationState>> destinations_;
  // Connection caps across destinations, and the destinations waiting for a slot.
  queue::ConnectionBudget budget_;
  std::set<queue::Destination> waiting_;
  std::uint32_t open_total_ = 0;
  std::atomic<std::size_t> journal_backlog_{0};
  bool stopping_ = false;
  std::shared_ptr<bool> alive_;
};

}  // namespace tidegate::delivery
