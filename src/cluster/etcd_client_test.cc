// etcd_client_test.cc — EtcdClient's I/O driver without etcd: a loopback port that accepts and
// never answers, a closed port, bad endpoints, Stop() and the destructor with requests in
// flight (the real etcd is tests/e2e/test_etcd_client.py's).
#include "cluster/etcd_client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace tidegate::cluster {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

// A listening socket nobody accepts from: connects succeed (the backlog), nothing answers.
struct SilentPeer {
  explicit SilentPeer(asio::io_context& io) : acceptor(io, tcp::endpoint(tcp::v4(), 0)) {}
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  }
  tcp::acceptor acceptor;
};

std::string ClosedPortUrl(asio::io_context& io) {
  tcp::acceptor a(io, tcp::endpoint(tcp::v4(), 0));
  return "http://127.0.0.1:" + std::to_string(a.local_endpoint().port());  // closed on return
}

// co_spawn with a completion handler wants a default-constructible result; Result has none.
template <typename T>
asio::awaitable<void> Into(asio::awaitable<T> op, std::optional<T>* out) {
  out->emplace(co_await std::move(op));
}

template <typename T>
T RunOne(asio::io_context& io, asio::awaitable<T> op) {
  std::optional<T> out;
  asio::co_spawn(io, Into(std::move(op), &out), asio::detached);
  io.run();
  io.restart();
  EXPECT_TRUE(out.has_value());
  return std::move(*out);
}

TEST(EtcdClientTest, TimeoutAndRefusalPerEndpointNamedOnOneLine) {
  asio::io_context io;
  SilentPeer silent(io);
  const std::string closed = ClosedPortUrl(io);
  EtcdOptions options;
  options.endpoints = {closed, silent.url()};
  options.request_timeout = milliseconds(300);
  EtcdClient client(io.get_executor(), options);
  const auto began = std::chrono::steady_clock::now();
  auto r = RunOne(io, client.Range("k"));
  const auto took = std::chrono::steady_clock::now() - began;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "etcd: " + closed + ": connection refused; " + silent.url() +
                                   ": timed out after 300 ms");
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(2000));
}

TEST(EtcdClientTest, BadEndpointsAreErrorsNotCrashes) {
  asio::io_context io;
  EtcdOptions options;
  options.endpoints = {"ftp://127.0.0.1:1", "http://", "http://host:99999999", "http://[::1"};
  EtcdClient client(io.get_executor(), options);
  auto r = RunOne(io, client.Put("k", "v"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("ftp://127.0.0.1:1: not an http:// or https:// URL"),
            std::string::npos);
  EXPECT_NE(r.error().message.find("http://[::1: bad host"), std::string::npos);

  EtcdClient none(io.get_executor(), EtcdOptions{});
  auto n = RunOne(io, none.Range("k"));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().message, "etcd: no endpoints configured");
}

TEST(EtcdClientTest, HttpsWithAMissingCaFileIsAnError) {
  asio::io_context io;
  SilentPeer silent(io);
  EtcdOptions options;
  options.endpoints = {"https://127.0.0.1:" +
                       std::to_string(silent.acceptor.local_endpoint().port())};
  options.ca_file = "/nonexistent/ca.pem";
  EtcdClient client(io.get_executor(), options);
  auto r = RunOne(io, client.Range("k"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("TLS CA file /nonexistent/ca.pem"), std::string::npos)
      << r.error().message;
}

TEST(EtcdClientTest, StopCancelsRequestsAndWatchesInFlightAndRefusesNewOnes) {
  asio::io_context io;
  SilentPeer silent(io);
  EtcdOptions options;
  options.endpoints = {silent.url()};
  options.request_timeout = milliseconds(10000);
  EtcdClient client(io.get_executor(), options);
  std::optional<base::Result<RangeResult>> range;
  std::optional<base::Status> watch;
  asio::co_spawn(io, Into(client.Range("k"), &range), asio::detached);
  asio::co_spawn(io, Into(client.Watch("k", "", 0, [](WatchBatch) {}), &watch), asio::detached);
  asio::steady_timer timer(io, milliseconds(100));
  timer.async_wait([&](boost::system::error_code) { client.Stop(); });
  const auto began = std::chrono::steady_clock::now();
  io.run();
  io.restart();
  EXPECT_LT(std::chrono::steady_clock::now() - began, milliseconds(2000));
  ASSERT_TRUE(range && watch);
  ASSERT_FALSE(range->ok());
  EXPECT_EQ(range->error().message, "stopped");
  ASSERT_FALSE(watch->ok());
  EXPECT_EQ(watch->error().message, "stopped");
  auto after = RunOne(io, client.LeaseGrant(std::chrono::seconds(5)));
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().message, "stopped");
}

TEST(EtcdClientTest, DestroyedWithARequestInFlight) {
  // The request's coroutine outlives the client: it completes with "stopped" and touches
  // nothing freed (the sanitizer build runs this test).
  asio::io_context io;
  SilentPeer silent(io);
  EtcdOptions options;
  options.endpoints = {silent.url()};
  options.request_timeout = milliseconds(10000);
  auto client = std::make_unique<EtcdClient>(io.get_executor(), options);
  std::optional<base::Result<std::int64_t>> put;
  asio::co_spawn(io, Into(client->Put("k", "v"), &put), asio::detached);
  asio::steady_timer timer(io, milliseconds(50));
  timer.async_wait([&](boost::system::error_code) { client.reset(); });
  const auto began = std::chrono::steady_clock::now();
  io.run();
  EXPECT_LT(std::chrono::steady_clock::now() - began, milliseconds(2000));  // not the 10 s
  ASSERT_TRUE(put);
  ASSERT_FALSE(put->ok());
  EXPECT_EQ(put->error().message, "stopped");
}

TEST(EtcdClientTest, PrefixEnd) { EXPECT_EQ(EtcdClient::PrefixEnd("/tidegate/"), "/tidegate0"); }

}  // namespace
}  // namespace tidegate::cluster
