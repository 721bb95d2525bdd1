// pooled_engine.h — what both engine clients share (internal to engines/): a FIFO of requests
// admitted at most `max_concurrency` at a time, a pool of idle keep-alive connections, one
// deadline per request, the retry of a request whose pooled connection the peer had closed, and
// Stop(). The clients (rspamd_client.h, clamd_client.h) supply a Protocol: how to open a
// connection and how to carry one request over it.
//
// Rules kept here, once, for both engines:
//   - A request waits in the FIFO, not on a socket; it holds a slot from start to end (retry
//     included). A connection exists only while a slot uses it or while it is idle in the pool,
//     so at most max_concurrency connections are ever open to the engine.
//   - The deadline covers the whole request: resolve, connect, handshake, write, read, a retry.
//     When it fires, the connection is aborted and the reason is "timed out after N s".
//   - A pooled connection that fails before any reply byte came (the peer's idle timeout closed
//     it) is retried once on a fresh connection; a fresh connection is never retried.
//   - Idle connections are taken last-in first-out (the most recently used is the least likely
//     to have been closed by the peer's idle timeout).
//   - Stop(): no new request starts; every pending request's callback runs, inside Stop(), with
//     the error "stopped"; open connections are aborted, idle ones retired politely. Requests
//     submitted after Stop() fail with "stopped" on the executor, unless the owner is destroyed
//     first. Nothing runs a callback after Stop() has returned except those later submissions.
//
// Protocol, a class with:
//   using Connection;  // with void Abort(): close now; pending operations complete with errors
//   using Request;
//   std::shared_ptr<Connection> NewConnection(const any_io_executor&);
//   awaitable<base::Status> Open(Connection&);                   // connect and handshake
//   awaitable<Exchanged> Exchange(Connection&, const Request&);  // one request, one reply
//   void Retire(Connection&);                                    // close an idle connection
//
// Threads: everything runs on the executor given at construction; not thread-safe. The state
// lives in a shared Core that running coroutines keep alive, so the owner may be destroyed while
// operations are still unwinding on the executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "engines/verdicts.h"

namespace tidegate::engines::internal {

// A connection's socket and the resolver that finds its peer; Abort() closes both at once (the
// deadline and Stop() use it). Each Protocol's Connection adds its read buffer.
template <typename Socket>
struct SocketConnection {
  explicit SocketConnection(const boost::asio::any_io_executor& ex) : resolver(ex), socket(ex) {}
  void Abort() {
    resolver.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
  }
  boost::asio::ip::tcp::resolver resolver;
  Socket socket;
};

// What one exchange on a connection came to.
struct Exchanged {
  base::Result<std::string> reply = base::MakeError("no reply");
  bool heard = false;  // at least one reply byte arrived (a failure then is never retried)
  bool keep = false;   // the connection may carry another request
};

// A short reason for an I/O error, for the log.
std::string Reason(const boost::system::error_code& ec);

template <typename Protocol>
class PooledEngine {
 public:
  using Request = typename Protocol::Request;
  using Connection = typename Protocol::Connection;
  using RawDone = std::function<void(base::Result<std::string>)>;

  PooledEngine(boost::asio::any_io_executor ex, Protocol protocol, std::size_t max_concurrency,
               std::chrono::milliseconds timeout)
      : core_(std::make_shared<Core>(std::move(ex), std::move(protocol),
                                     max_concurrency == 0 ? 1 : max_concurrency, timeout)) {}
  ~PooledEngine() {
    Stop();
    core_->alive = false;
  }
  PooledEngine(const PooledEngine&) = delete;
  PooledEngine& operator=(const PooledEngine&) = delete;

  // `done` gets the raw reply (or the error) exactly once, on the executor, never inline.
  void Submit(Request request, RawDone done) {
    auto core = core_;
    if (core->stopped) return Reject(std::move(done), "stopped");
    core->waiting.push_back(
        std::make_shared<Job>(Job{std::move(request), std::move(done), nullptr, false}));
    boost::asio::post(core->ex, [core] { core->Pump(); });
  }

  // `done` gets `reason` as its error, on the executor, without a request (unless the owner is
  // destroyed first).
  void Reject(RawDone done, std::string reason) {
    auto core = core_;
    boost::asio::post(core->ex, [core, done = std::move(done), reason = std::move(reason)] {
      if (core->alive) done(base::MakeError(reason));
    });
  }

  void Stop() { core_->Stop(); }

  const Protocol& protocol() const { return core_->protocol; }
  std::size_t in_flight() const { return core_->running.size(); }
  std::size_t idle_connections() const { return core_->idle.size(); }

 private:
  struct Job {
    Request request;
    RawDone done;                      // emptied when it has run
    std::shared_ptr<Connection> conn;  // the connection the job uses now, if any
    bool timed_out = false;

    void Finish(base::Result<std::string> result) {
      if (!done) return;
      RawDone f = std::move(done);
      done = nullptr;
      f(std::move(result));
    }
  };
  using JobPtr = std::shared_ptr<Job>;

  struct Core : std::enable_shared_from_this<Core> {
    Core(boost::asio::any_io_executor e, Protocol p, std::size_t limit, std::chrono::milliseconds t)
        : ex(std::move(e)), protocol(std::move(p)), max_concurrency(limit), timeout(t) {}

    boost::asio::any_io_executor ex;
    Protocol protocol;
    std::size_t max_concurrency;
    std::chrono::milliseconds timeout;
    std::deque<JobPtr> waiting;
    std::list<JobPtr> running;
    std::vector<std::shared_ptr<Connection>> idle;
    bool stopped = false;
    bool alive = true;  // false once the owner is destroyed: late posts run no callback

    void Pump() {
      while (!stopped && running.size() < max_concurrency && !waiting.empty()) {
        JobPtr job = std::move(waiting.front());
        waiting.pop_front();
        running.push_back(job);
        auto it = std::prev(running.end());
        auto self = this->shared_from_this();
        boost::asio::co_spawn(
            ex, Run(self, job),
            [self, job, it](std::exception_ptr e, std::optional<base::Result<std::string>> r) {
              // Run() does not throw by design; an allocation failure still ends the request.
              if (e || !r) r = base::MakeError("internal error");
              if (!self->stopped) self->running.erase(it);
              job->Finish(std::move(*r));
              self->Pump();
            });
      }
    }

    void Stop() {
      if (stopped) return;
      stopped = true;
      // A callback below may destroy the owner; this Core must outlive the loop.
      auto keep = this->shared_from_this();
      std::deque<JobPtr> queued = std::move(waiting);
      waiting.clear();
      std::list<JobPtr> started = std::move(running);
      running.clear();
      std::vector<std::shared_ptr<Connection>> pooled = std::move(idle);
      idle.clear();
      for (auto& conn : pooled) protocol.Retire(*conn);
      for (auto& job : started) {
        if (job->conn) job->conn->Abort();
      }
      for (auto& job : started) job->Finish(base::MakeError("stopped"));
      for (auto& job : queued) job->Finish(base::MakeError("stopped"));
    }

    static boost::asio::awaitable<std::optional<base::Result<std::string>>> Run(
        std::shared_ptr<Core> self, JobPtr job) {
      boost::asio::steady_timer deadline(self->ex);
      deadline.expires_after(self->timeout);
      deadline.async_wait([job](const boost::system::error_code& ec) {
        if (ec) return;
        job->timed_out = true;
        if (job->conn) job->conn->Abort();
      });
      auto failed = [&](std::string reason) -> base::Result<std::string> {
        if (job->timed_out) reason = "timed out after " + DescribeDuration(self->timeout.count());
        if (self->stopped) reason = "stopped";
        return base::MakeError(std::move(reason));
      };

      std::optional<base::Result<std::string>> result;
      for (int attempt = 0; !result; ++attempt) {
        if (job->timed_out || self->stopped) {
          result = failed("not started");
          break;
        }
        bool pooled = attempt == 0 && !self->idle.empty();
        if (pooled) {
          job->conn = std::move(self->idle.back());
          self->idle.pop_back();
        } else {
          job->conn = self->protocol.NewConnection(self->ex);
          base::Status opened = co_await self->protocol.Open(*job->conn);
          if (!opened) {
            job->conn->Abort();
            result = failed(opened.error().message);
            break;
          }
        }
        Exchanged x = co_await self->protocol.Exchange(*job->conn, job->request);
        if (x.reply.ok() && !job->timed_out && !self->stopped) {
          if (x.keep) {
            self->idle.push_back(std::move(job->conn));
          } else {
            job->conn->Abort();
          }
          result = std::move(x.reply);
          break;
        }
        job->conn->Abort();
        // A pooled connection the peer had closed while idle: once more on a fresh one.
        if (pooled && !x.heard && !job->timed_out && !self->stopped) continue;
        result = failed(x.reply.ok() ? std::string("stopped") : x.reply.error().message);
      }
      job->conn.reset();
      deadline.cancel();
      co_return result;
    }
  };

  std::shared_ptr<Core> core_;
};

}  // namespace tidegate::engines::internal
