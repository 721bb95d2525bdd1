// dns_resolver_testing.h — test support for DNS: a real dnsmasq on loopback, a UDP port that
// never answers, and a helper that runs an awaitable to completion with a time limit.
//
// Test-only (linked into unit tests, never into tidegate). DnsmasqServer owns its child process:
// the destructor kills it (SIGTERM, then SIGKILL) and reaps it. Readiness is checked with a raw
// UDP query of our own, so the fixture does not depend on the resolver under test.
// Single-threaded use, like the tests themselves.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/result.h"
#include "delivery/dns_resolver.h"

namespace tidegate::delivery::testing {

inline constexpr const char* kDnsmasqPath = "/usr/sbin/dnsmasq";

bool DnsmasqAvailable();

// dnsmasq serving only what `records` say (dnsmasq options such as "--mx-host=a.test,mx.a.test,10"
// or "--host-record=mx.a.test,127.0.0.2"), authoritative-like for *.test: any other name under
// test/ is NXDOMAIN. Listens on 127.0.0.1 at a free port, UDP and TCP.
class DnsmasqServer {
 public:
  static base::Result<std::unique_ptr<DnsmasqServer>> Start(std::vector<std::string> records);
  ~DnsmasqServer();
  DnsmasqServer(const DnsmasqServer&) = delete;
  DnsmasqServer& operator=(const DnsmasqServer&) = delete;

  std::uint16_t port() const { return port_; }
  DnsServer server() const { return DnsServer{"127.0.0.1", port_}; }

 private:
  DnsmasqServer(pid_t pid, std::uint16_t port) : pid_(pid), port_(port) {}
  pid_t pid_;
  std::uint16_t port_;
};

// A bound UDP socket on 127.0.0.1 that never reads: queries sent to it time out.
class SilentUdpServer {
 public:
  SilentUdpServer();
  ~SilentUdpServer();
  SilentUdpServer(const SilentUdpServer&) = delete;
  SilentUdpServer& operator=(const SilentUdpServer&) = delete;
  std::uint16_t port() const { return port_; }
  DnsServer server() const { return DnsServer{"127.0.0.1", port_}; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// A UDP DNS "server" on 127.0.0.1 that answers every query with the same RCODE and no records
// (2 = SERVFAIL, 5 = REFUSED), from a thread of its own; stopped and joined by the destructor.
class RcodeUdpServer {
 public:
  explicit RcodeUdpServer(int rcode);
  ~RcodeUdpServer();
  RcodeUdpServer(const RcodeUdpServer&) = delete;
  RcodeUdpServer& operator=(const RcodeUdpServer&) = delete;
  std::uint16_t port() const { return port_; }
  DnsServer server() const { return DnsServer{"127.0.0.1", port_}; }
  int queries() const { return queries_.load(); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

// A loopback UDP port with nothing bound to it (queries get ICMP port unreachable).
std::uint16_t UnusedUdpPort();

// Runs `io` until `task` completes or `limit` passes; nullopt on the time limit.
template <typename T>
std::optional<T> RunFor(boost::asio::io_context& io, boost::asio::awaitable<T> task,
                        std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  std::optional<T> result;
  boost::asio::co_spawn(io, std::move(task), [&result](std::exception_ptr e, T value) {
    if (!e) result = std::move(value);
  });
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!result && std::chrono::steady_clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return result;
}

}  // namespace tidegate::delivery::testing
