// ldap_lookup_test.cc — LdapLookup's pool and lifetime without a directory: a loopback socket
// that listens and never answers (the kernel completes the TCP handshakes). The answers of a
// real slapd are tested end to end: tests/e2e/test_ldap_lookup.py.
#include "validation/ldap_lookup.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tidegate::validation {
namespace {

using namespace std::chrono_literals;

// A listening socket on 127.0.0.1:<free port> that never accepts nor answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  std::string uri() const { return "ldap://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

config::LdapValidation Settings(const std::string& uri, config::Duration timeout) {
  config::LdapValidation settings;
  settings.uris = {uri};
  settings.base = "dc=example,dc=com";
  settings.timeout = timeout;
  return settings;
}

TEST(LdapLookup, MethodIsLdap) {
  SilentListener listener;
  LdapLookup lookup(Settings(listener.uri(), 1s), 1);
  EXPECT_EQ(lookup.method(), Method::kLdap);
  EXPECT_STREQ(MethodName(lookup.method()), "ldap");
}

// Lookups run on the workers, never on the caller's thread, and end at the timeout.
TEST(LdapLookup, AnswersOnAWorkerWithinTheTimeout) {
  SilentListener listener;
  LdapLookup lookup(Settings(listener.uri(), 700ms), 2);
  std::promise<std::pair<Answer, std::thread::id>> answered;
  auto start = std::chrono::steady_clock::now();
  lookup.Find(mail::Address{"alice", "example.com"}, [&](Answer answer) {
    answered.set_value({std::move(answer), std::this_thread::get_id()});
  });
  auto future = answered.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  auto elapsed = std::chrono::steady_clock::now() - start;
  auto [answer, thread] = future.get();
  EXPECT_NE(thread, std::this_thread::get_id());
  EXPECT_EQ(answer.outcome, Outcome::kFailure);
  EXPECT_EQ(answer.reason, "timeout after 700ms");
  EXPECT_GE(elapsed, 650ms);
  EXPECT_LT(elapsed, 1700ms);
}

// The destructor answers what is still queued "shutting down" at once, lets the running lookup
// end (at most one timeout) and joins: every `done` ran exactly once when it returns.
TEST(LdapLookup, DestructorAnswersQueuedLookupsAndWaitsAtMostATimeout) {
  SilentListener listener;
  std::atomic<int> calls{0};
  std::atomic<int> shutting_down{0};
  std::optional<LdapLookup> lookup;
  lookup.emplace(Settings(listener.uri(), 1s), 1);
  for (int i = 0; i < 5; ++i) {
    lookup->Find(mail::Address{"alice", "example.com"}, [&](Answer answer) {
      ++calls;
      if (answer.outcome == Outcome::kFailure && answer.reason == "shutting down") {
        ++shutting_down;
      }
    });
  }
  auto start = std::chrono::steady_clock::now();
  lookup.reset();
  auto destroying = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(calls.load(), 5);
  EXPECT_GE(shutting_down.load(), 4);  // one may already be running on the worker
  EXPECT_LT(destroying, 2s);
}

}  // namespace
}  // namespace tidegate::validation
