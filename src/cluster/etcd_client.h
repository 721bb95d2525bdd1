// etcd_client.h — an asynchronous etcd v3 client over etcd's JSON gateway (etcd 3.4, HTTP/1.1
// or HTTPS), for cluster mode's configuration store and machine registry (CONTRACT §11).
//
// What it does: Range, Put, Txn, LeaseGrant, LeaseKeepAlive (one round trip each, one
// connection each, `Connection: close`) and Watch (one long-lived streamed response). The JSON
// is built and parsed by etcd_protocol.h (pure, fuzzed); this file is the thin I/O driver.
//
// Endpoints and failover: each request tries the endpoints in turn, starting at the last one
// that answered, until one answers. "Answers" means an HTTP reply that is not an etcd
// Unavailable/DeadlineExceeded/5xx; a connect failure, a reset, a timeout or such a reply sends
// the request to the next endpoint. An etcd error (a failed precondition, an unknown lease, a
// refused password) is returned at once. Beware: a Txn or Put that timed out after it was sent
// may have been applied before it is tried on the next member (a guarded Txn then reports
// `succeeded = false`; re-read before acting on it). Errors are one line and name the
// endpoint(s): "etcd http://127.0.0.1:2379: connection refused; https://…: timed out after
// 2000 ms".
//
// Authentication (username non-empty): POST /v3/auth/authenticate on the endpoint in use, then
// `Authorization: <token>` on every request; a refused token (expired, or issued by another
// member: simple tokens are per member) is renewed once per request.
//
// Watch liveness: a member that is killed closes its connections (the kernel does), so a
// stream ends at once with "connection closed"; a member that hangs or is cut off stays silent.
// The watch asks for progress notifications (progress_notify) and counts a stream silent for
// `idle_timeout` (default 15 s) as failed ("no message for 15000 ms"); the caller re-watches
// from its last revision + 1. Run the members with
// `--experimental-watch-progress-notify-interval` at most a third of idle_timeout (the test
// fixture uses 2 s) or quiet streams are re-made every idle_timeout (harmless, a little traffic).
//
// Threads and ownership: everything runs on the executor given; call from it only (it must be
// one thread or a strand). The client may be destroyed while requests are suspended: the
// destructor calls Stop(), and the coroutines keep the shared state alive until they finish.
// Nothing throws into the event loop: every failure is a base::Error value.
// Use: co_await the calls from a coroutine on that executor. (co_spawn with a completion handler
// cannot take them directly: it wants a default-constructible result, which base::Result is not;
// etcd_client_test.cc's Into() wraps one.)
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "cluster/etcd_protocol.h"

namespace tidegate::cluster {

struct EtcdOptions {
  std::vector<std::string> endpoints;     // "http://127.0.0.1:2379" or "https://host:port"
  std::string ca_file, certificate, key;  // https: CA to verify the server; optional client
                                          // cert/key
  std::string username, password;         // "" = no auth; else POST /v3/auth/authenticate, then
                                          // header "Authorization: <token>"; re-authenticate once
                                          // when the token is refused
  std::chrono::milliseconds request_timeout{2000};  // connect+request+reply, per endpoint try
  std::chrono::milliseconds idle_timeout{15000};    // a watch stream silent this long failed
};

class EtcdClient {
 public:
  EtcdClient(boost::asio::any_io_executor executor, EtcdOptions options);
  ~EtcdClient();  // calls Stop()
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // Each request tries the endpoints in turn (starting at the last one that worked) until one
  // answers or all failed; an error message names the endpoint(s) and reason, one line.
  boost::asio::awaitable<base::Result<RangeResult>> Range(std::string key,
                                                          std::string range_end = {},
                                                          std::int64_t revision = 0);
  boost::asio::awaitable<base::Result<std::int64_t>> Put(std::string key, std::string value,
                                                         std::int64_t lease = 0);  // → revision
  boost::asio::awaitable<base::Result<TxnResult>> Txn(std::vector<Compare> compares,
                                                      std::vector<Op> success,
                                                      std::vector<Op> failure = {});
  boost::asio::awaitable<base::Result<std::int64_t>> LeaseGrant(std::chrono::seconds ttl);  // → id
  // One keepalive round trip → the remaining TTL (0 = the lease is gone).
  boost::asio::awaitable<base::Result<std::int64_t>> LeaseKeepAlive(std::int64_t lease);
  // Streams /v3/watch for [key, range_end) from start_revision (0 = now): calls on_batch for
  // each batch with events (not for the "created" or progress messages). Returns when the
  // stream ends or fails (the error; "compacted: oldest revision N" when start_revision was
  // compacted) or when Stop() is called (an error "stopped"). The caller re-watches from last
  // revision + 1. Endpoints are tried in turn until one creates the watch; after that the
  // stream stays on that member. Liveness: see the top of this file (idle_timeout).
  boost::asio::awaitable<base::Status> Watch(std::string key, std::string range_end,
                                             std::int64_t start_revision,
                                             std::function<void(WatchBatch)> on_batch);
  // Cancels every request and watch in flight (they complete with an error "stopped") and
  // refuses new ones. Safe from the client's executor.
  void Stop();
  // The range_end that selects every key starting with prefix (etcd's "prefix end").
  static std::string PrefixEnd(std::string_view prefix);

  struct State;  // the shared state the coroutines hold (etcd_client.cc)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace tidegate::cluster
