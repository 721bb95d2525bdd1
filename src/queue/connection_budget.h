// connection_budget.h — outbound connection caps shared across destinations: per next-hop host,
// per next-hop address, and in all, within one pool.
//
// A destination's window (queue::Scheduler) caps its own connections. Many destinations may
// share a next hop, though — every domain routed to one internal mail hub, or hosted by one
// provider's MX — and Postfix's qmgr keys its windows by transport and next hop for that reason.
// The budget adds the caps that span destinations: at most `per_host` connections to one next-hop
// host name, `per_ip` to one address, and `total` in all. Each pool (the queue name of
// queue::Destination: ordinary mail, or a named queue such as the journal queue) has budgets of
// its own, so the queues never take connections from each other.
//
// A connection counts in the total from the moment it is started (resolving included), and holds
// a host and address slot from just before its connect until it closes. Pure bookkeeping: no I/O,
// not thread-safe (the delivery loop's thread only).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace tidegate::queue {

class ConnectionBudget {
 public:
  struct Caps {
    std::uint32_t per_host = 50;
    std::uint32_t per_ip = 50;
    std::uint32_t total = 500;
  };

  // May another connection of `pool` start? (its total is below caps.total)
  bool CanStart(const std::string& pool, const Caps& caps) const;
  void Started(const std::string& pool);
  void Stopped(const std::string& pool);

  // Takes a host and an address slot for a connect to `host` at `ip`; false (nothing taken) if
  // either is at its cap.
  bool Acquire(const std::string& pool, const std::string& host, const std::string& ip,
               const Caps& caps);
  void Release(const std::string& pool, const std::string& host, const std::string& ip);

  std::uint32_t started(const std::string& pool) const;
  std::uint32_t to_host(const std::string& pool, const std::string& host) const;
  std::uint32_t to_ip(const std::string& pool, const std::string& ip) const;

 private:
  using Key = std::pair<std::string, std::string>;  // (pool, host or address)
  static std::uint32_t Get(const std::map<Key, std::uint32_t>& m, const Key& k);
  static void Drop(std::map<Key, std::uint32_t>& m, const Key& k);

  std::map<std::string, std::uint32_t> started_;
  std::map<Key, std::uint32_t> hosts_;
  std::map<Key, std::uint32_t> ips_;
};

}  // namespace tidegate::queue
