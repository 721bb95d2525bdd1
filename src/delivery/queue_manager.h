// queue_manager.h — the delivery engine: destination queues (queue::Scheduler), outbound
// connections per destination, and what happens after each attempt (durable recipient states,
// mail log lines, DSNs, counters).
//
// Normal mail and journal copies share all of it; only the queue *rules* differ
// (queue::TdcQueueRules for `the.tdc.queue`: minimum connections, the fixed retry table, the
// short lifetime, no DSN, TLS always verified). Journal copies live in destinations named
// "the.tdc.queue/<intake domain>" so that several intake domains never share a connection;
// operators see them as one row, `the.tdc.queue` (see DisplayName()).
//
// Threading: everything runs on the io_context given at construction; Enqueue() and Stop() may
// be called from any thread (they post). Spool callbacks arrive on the spool thread and are
// posted back. The manager must outlive its io_context's handlers (destroy it after io.run()
// returned and the context was stopped).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/clock.h"
#include "config/config.h"
#include "delivery/dns_resolver.h"
#include "delivery/next_hop.h"
#include "mail/dsn.h"
#include "queue/scheduler.h"
#include "smtp/client_session.h"
#include "spool/spool.h"
#include "telemetry/counters.h"
#include "telemetry/mail_log.h"

namespace tidegate::delivery {

inline constexpr char kTdcQueue[] = "the.tdc.queue";

// "the.tdc.queue/intake.example.net" → "the.tdc.queue"; other names unchanged.
std::string DisplayName(const std::string& destination);
bool IsTdcDestination(const std::string& destination);

// Observers of delivery outcomes (message tracking); called on the io thread.
struct DeliveryEvent {
  std::uint64_t mid = 0;
  std::uint64_t parent_mid = 0;   // journal copies: the original
  bool journal = false;
  std::string text;               // tracking text, e.g. "Message 12 to RID [0] delivered"
  std::string status;             // when the message's state changed: "done" ("" = unchanged)
};

class QueueManager {
 public:
  using ConfigFn = std::function<std::shared_ptr<const config::GatewayConfig>()>;
  QueueManager(boost::asio::io_context& io, spool::Spool* spool, telemetry::MailLog* log,
               telemetry::Counters* counters, const base::Clock* clock, ConfigFn config);
  ~QueueManager();

  // Builds the resolver and TLS contexts from the configuration.
  base::Status Start();
  // Newly committed or recovered messages (pending recipients only are queued). Any thread.
  void Enqueue(std::vector<spool::MessageMeta> messages);
  // Re-reads rules, routes and TLS settings (SIGHUP, live changes). Any thread.
  void ConfigChanged();
  // No new attempts; idle connections close, busy ones finish their transaction. Any thread.
  void Stop();
  std::uint32_t open_connections() const { return open_total_; }
  // Journal copies queued and not finished (the TDC spool quota). Any thread.
  std::size_t journal_backlog() const { return journal_backlog_.load(); }

  // io thread only:
  std::vector<queue::Scheduler::DestinationStatus> Status() const;
  void set_event_sink(std::function<void(const DeliveryEvent&)> sink) { sink_ = std::move(sink); }

 private:
  struct MessageState;
  struct DestinationState;
  struct AttemptContext;

  // Setup.
  void ApplyConfig();
  queue::QueueRules RulesFor(const std::string& destination) const;
  void EnqueueOnLoop(std::vector<spool::MessageMeta> messages);

  // Scheduling.
  void Pump();
  void ArmWake();
  void Ring(const std::string& destination);
  // Opens connections for `destination` until it has as many as the scheduler wants (no Ring).
  void OpenWanted(const std::string& destination, DestinationState& ds);
  // What an idle connection heard when its peer sent something or closed (HearIdlePeer).
  enum class IdleHearing {
    kLost,       // the peer closed it (421 goodbye, close, reset): Scheduler::OnConnectionLost
    kUnusable,   // out-of-turn bytes or a stalled read: we close it, no verdict on the peer
  };
  boost::asio::awaitable<IdleHearing> HearIdlePeer(smtp::ClientSession& session,
                                                   class Transport& transport,
                                                   boost::system::error_code wait_error);
  boost::asio::awaitable<void> RunConnection(std::string destination);
  // Runs the session until it wants more than I/O. Every read and write ends by entry_deadline;
  // reads before the first write of this call (the server's greeting) also by greeting_deadline.
  boost::asio::awaitable<smtp::ClientSession::Want> Drive(
      smtp::ClientSession& session, class Transport& transport, const std::string& destination,
      std::uint64_t dcid, std::chrono::steady_clock::time_point entry_deadline,
      std::chrono::steady_clock::time_point greeting_deadline =
          std::chrono::steady_clock::time_point::max());
  void ConnectionFailed(const std::string& destination, const queue::Failure& failure,
                        const AttemptContext& context);
  // Processes plans [first, end) a bounded slice per event-loop turn (see the definition).
  void ProcessPlansInSlices(std::shared_ptr<std::vector<queue::Plan>> plans, std::size_t first,
                            std::shared_ptr<const AttemptContext> context);

  // Outcomes (outcomes.cc).
  void ProcessPlan(const queue::Plan& plan, const AttemptContext& context);
  void LogPlan(const queue::Plan& plan, const AttemptContext& context, const MessageState& ms);
  std::string ReplyFor(std::uint32_t rid, const AttemptContext& context) const;
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
  std::unique_ptr<DnsResolver> resolver_;
  Routes routes_;
  std::shared_ptr<boost::asio::ssl::context> tls_opportunistic_;
  std::shared_ptr<boost::asio::ssl::context> tls_verified_;
  std::shared_ptr<boost::asio::ssl::context> tls_tdc_;
  boost::asio::steady_timer wake_;
  std::unordered_map<std::uint64_t, std::unique_ptr<MessageState>> messages_;
  std::map<std::string, std::unique_ptr<DestinationState>> destinations_;
  std::function<void(const DeliveryEvent&)> sink_;
  std::uint32_t open_total_ = 0;
  std::atomic<std::size_t> journal_backlog_{0};
  bool stopping_ = false;
  std::shared_ptr<bool> alive_;
};

}  // namespace tidegate::delivery
