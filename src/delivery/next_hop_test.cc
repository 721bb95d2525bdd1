#include "delivery/next_hop.h"

#include <gtest/gtest.h>

#include <set>

#include "delivery/dns_resolver_testing.h"

namespace tidegate::delivery {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using testing::DnsmasqServer;
using testing::RunFor;

asio::ip::address Ip(const char* text) { return asio::ip::make_address(text); }

// ---------------------------------------------------------------------------------------------
// Pure parts.

TEST(NextHopPureTest, OrderMxRecordsSortsAndShufflesTies) {
  std::vector<MxRecord> records = {{20, "c"}, {10, "a1"}, {10, "a2"},
                                   {0, "."},  {10, "a3"}, {30, "d"}};
  std::set<std::string> firsts;
  for (unsigned seed = 0; seed < 40; ++seed) {
    std::mt19937 rng(seed);
    auto ordered = OrderMxRecords(records, rng);
    ASSERT_EQ(ordered.size(), 5u);  // the root target is dropped
    std::set<std::string> group = {ordered[0].host, ordered[1].host, ordered[2].host};
    EXPECT_EQ(group, (std::set<std::string>{"a1", "a2", "a3"}));
    EXPECT_EQ(ordered[3], (MxRecord{20, "c"}));
    EXPECT_EQ(ordered[4], (MxRecord{30, "d"}));
    firsts.insert(ordered[0].host);
  }
  EXPECT_EQ(firsts.size(), 3u) << "equal preferences must not always come in the same order";
}

TEST(NextHopPureTest, IsNullMx) {
  EXPECT_TRUE(IsNullMx({{0, "."}}));
  EXPECT_FALSE(IsNullMx({{0, "."}, {10, "mx.example"}}));
  EXPECT_FALSE(IsNullMx({{10, "mx.example"}}));
  EXPECT_FALSE(IsNullMx({}));
}

TEST(NextHopPureTest, FindRouteExactThenClosestParent) {
  Routes routes = {{"example.com", {{"127.0.0.1", 2626}}},
                   {".example.org", {{"127.0.0.2", 25}}},
                   {".b.example.org", {{"127.0.0.3", 25}}}};
  ASSERT_NE(FindRoute(routes, "Example.COM."), nullptr);
  EXPECT_EQ(FindRoute(routes, "example.com")->at(0).port, 2626);
  EXPECT_EQ(FindRoute(routes, "sub.example.com"), nullptr);  // exact keys match exactly
  EXPECT_EQ(FindRoute(routes, "example.org"), nullptr);      // ".x" is for subdomains only
  ASSERT_NE(FindRoute(routes, "a.example.org"), nullptr);
  EXPECT_EQ(FindRoute(routes, "a.example.org")->at(0).host, "127.0.0.2");
  EXPECT_EQ(FindRoute(routes, "a.b.example.org")->at(0).host, "127.0.0.3");
  EXPECT_EQ(FindRoute(routes, "other.net"), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Against a real dnsmasq.

class NextHopTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::DnsmasqAvailable()) return;
    auto server = DnsmasqServer::Start({
        "--mx-host=multi.test,mx2.multi.test,20",
        "--mx-host=multi.test,mx1.multi.test,10",
        "--mx-host=multi.test,broken.multi.test,5",
        "--host-record=mx1.multi.test,127.0.0.11",
        "--host-record=mx2.multi.test,127.0.0.12,::12",
        "--mx-host=equal.test,e1.equal.test,10",
        "--mx-host=equal.test,e2.equal.test,10",
        "--mx-host=equal.test,e3.equal.test,10",
        "--host-record=e1.equal.test,127.0.0.21",
        "--host-record=e2.equal.test,127.0.0.22",
        "--host-record=e3.equal.test,127.0.0.23",
        "--host-record=plain.test,127.0.0.31,::31",
        "--mx-host=nullmx.test,.,0",
        "--txt-record=empty.test,nothing here",
        "--mx-host=dead.test,nowhere.dead.test,10",
        "--mx-host=dead.test,gone.dead.test,20",
        "--mx-host=dup.test,d1.dup.test,10",
        "--mx-host=dup.test,d2.dup.test,20",
        "--host-record=d1.dup.test,127.0.0.51",
        "--host-record=d2.dup.test,127.0.0.51",
        "--host-record=route-host.test,127.0.0.41",
    });
    if (server.ok()) {
      server_ = std::move(server.value()).release();
    } else {
      start_error_ = new std::string(server.error().message);
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    if (!testing::DnsmasqAvailable()) GTEST_SKIP() << testing::kDnsmasqPath << " is missing";
    ASSERT_NE(server_, nullptr) << (start_error_ ? *start_error_ : "");
    resolver_ = MakeResolver({server_->server()});
    ASSERT_NE(resolver_, nullptr);
  }

  std::unique_ptr<DnsResolver> MakeResolver(std::vector<DnsServer> servers,
                                            milliseconds timeout = milliseconds(2000),
                                            int tries = 2) {
    auto r = DnsResolver::Create(io_, ResolverOptions{std::move(servers), timeout, tries});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r.value()) : nullptr;
  }

  NextHop Resolve(const std::string& domain, const Routes& routes = {}, std::uint16_t port = 25) {
    auto hop = RunFor(io_, ResolveNextHop(*resolver_, domain, routes, port));
    EXPECT_TRUE(hop.has_value()) << "ResolveNextHop did not finish";
    return hop.value_or(NextHop{});
  }

  static DnsmasqServer* server_;
  static std::string* start_error_;
  asio::io_context io_;
  std::unique_ptr<DnsResolver> resolver_;
};

DnsmasqServer* NextHopTest::server_ = nullptr;
std::string* NextHopTest::start_error_ = nullptr;

TEST_F(NextHopTest, MxByPreferenceSkippingHostsThatDoNotResolve) {
  NextHop hop = Resolve("multi.test");
  ASSERT_EQ(hop.status, DnsStatus::kOk) << hop.error;
  EXPECT_FALSE(hop.null_mx);
  ASSERT_EQ(hop.hosts.size(), 3u);
  EXPECT_EQ(hop.hosts[0].host, "mx1.multi.test");
  EXPECT_EQ(hop.hosts[0].address, Ip("127.0.0.11"));
  EXPECT_EQ(hop.hosts[0].preference, 10);
  EXPECT_EQ(hop.hosts[1].host, "mx2.multi.test");
  EXPECT_EQ(hop.hosts[1].address, Ip("127.0.0.12"));
  EXPECT_EQ(hop.hosts[2].address, Ip("::12"));
  EXPECT_EQ(hop.hosts[2].preference, 20);
  for (const auto& h : hop.hosts) EXPECT_EQ(h.port, 25);
}

TEST_F(NextHopTest, DefaultPortApplies) {
  NextHop hop = Resolve("multi.test", {}, 2525);
  ASSERT_EQ(hop.status, DnsStatus::kOk) << hop.error;
  ASSERT_FALSE(hop.hosts.empty());
  for (const auto& h : hop.hosts) EXPECT_EQ(h.port, 2525);
}

TEST_F(NextHopTest, EqualPreferencesAreShuffled) {
  std::set<std::string> firsts;
  for (int i = 0; i < 30; ++i) {
    NextHop hop = Resolve("equal.test");
    ASSERT_EQ(hop.status, DnsStatus::kOk) << hop.error;
    ASSERT_EQ(hop.hosts.size(), 3u);
    firsts.insert(hop.hosts[0].host);
  }
  EXPECT_GT(firsts.size(), 1u);
}

TEST_F(NextHopTest, NoMxUsesTheDomainsAddresses) {
  NextHop hop = Resolve("plain.test");
  ASSERT_EQ(hop.status, DnsStatus::kOk) << hop.error;
  ASSERT_EQ(hop.hosts.size(), 2u);
  EXPECT_EQ(hop.hosts[0].host, "plain.test");
  EXPECT_EQ(hop.hosts[0].address, Ip("127.0.0.31"));
  EXPECT_EQ(hop.hosts[1].address, Ip("::31"));
  EXPECT_EQ(hop.hosts[0].preference, 0);
}

TEST_F(NextHopTest, NxDomain) {
  NextHop hop = Resolve("no-such-domain.test");
  EXPECT_EQ(hop.status, DnsStatus::kNxDomain) << hop.error;
  EXPECT_TRUE(hop.hosts.empty());
}

TEST_F(NextHopTest, NullMx) {
  NextHop hop = Resolve("nullmx.test");
  EXPECT_TRUE(hop.null_mx);
  EXPECT_EQ(hop.status, DnsStatus::kOk);
  EXPECT_TRUE(hop.hosts.empty());
  EXPECT_NE(hop.error.find("null MX"), std::string::npos) << hop.error;
}

TEST_F(NextHopTest, NeitherMxNorAddressIsNoData) {
  NextHop hop = Resolve("empty.test");
  EXPECT_EQ(hop.status, DnsStatus::kNoData) << hop.error;
  EXPECT_TRUE(hop.hosts.empty());
}

TEST_F(NextHopTest, NoMxHostResolvesIsTempFail) {
  NextHop hop = Resolve("dead.test");
  EXPECT_EQ(hop.status, DnsStatus::kTempFail);
  EXPECT_NE(hop.error.find("nowhere.dead.test"), std::string::npos) << hop.error;
  EXPECT_NE(hop.error.find("gone.dead.test"), std::string::npos) << hop.error;
}

TEST_F(NextHopTest, SameAddressTriedOnce) {
  NextHop hop = Resolve("dup.test");
  ASSERT_EQ(hop.status, DnsStatus::kOk) << hop.error;
  ASSERT_EQ(hop.hosts.size(), 1u);
  EXPECT_EQ(hop.hosts[0].host, "d1.dup.test");
}

TEST_F(NextHopTest, RoutesBypassDns) {
  // Any DNS query would fail: the resolver points at a dead port.
  resolver_ = MakeResolver({DnsServer{"127.0.0.1", testing::UnusedUdpPort()}});
  Routes routes = {{"routed.example", {{"127.0.0.1", 2626}, {"::1", 0}}}};
  NextHop hop = Resolve("Routed.Example.", routes);
  ASSERT_EQ(hop.status, DnsStatus::kOk) << hop.error;
  ASSERT_EQ(hop.hosts.size(), 2u);
  EXPECT_EQ(hop.hosts[0].address, Ip("127.0.0.1"));
  EXPECT_EQ(hop.hosts[0].port, 2626);
  EXPECT_EQ(hop.hosts[0].preference, 0);
  EXPECT_EQ(hop.hosts[1].address, Ip("::1"));
  EXPECT_EQ(hop.hosts[1].port, 25);  // port 0 = default
  EXPECT_EQ(hop.hosts[1].preference, 1);
  // The same resolver cannot resolve by DNS, proving the route was not a lucky lookup.
  EXPECT_EQ(Resolve("multi.test").status, DnsStatus::kTempFail);
}

TEST_F(NextHopTest, RouteHostNamesAreResolved) {
  Routes routes = {{"multi.test", {{"no-such-host.test", 2626}, {"route-host.test", 2627}}}};
  NextHop hop = Resolve("multi.test", routes);
  ASSERT_EQ(hop.status, DnsStatus::kOk) << hop.error;
  ASSERT_EQ(hop.hosts.size(), 1u);  // not the MX hosts
  EXPECT_EQ(hop.hosts[0].host, "route-host.test");
  EXPECT_EQ(hop.hosts[0].address, Ip("127.0.0.41"));
  EXPECT_EQ(hop.hosts[0].port, 2627);
}

TEST_F(NextHopTest, UnresolvableRouteIsTempFailNeverNxDomain) {
  Routes routes = {{"routed.example", {{"no-such-host.test", 25}}}};
  NextHop hop = Resolve("routed.example", routes);
  EXPECT_EQ(hop.status, DnsStatus::kTempFail);
  EXPECT_NE(hop.error.find("no-such-host.test"), std::string::npos) << hop.error;
}

TEST_F(NextHopTest, RoutesNeedNotOutliveTheCall) {
  auto routes = std::make_unique<Routes>(Routes{{"gone.example", {{"127.0.0.7", 2525}}}});
  auto task = ResolveNextHop(*resolver_, "gone.example", *routes);
  routes.reset();
  auto hop = RunFor(io_, std::move(task));
  ASSERT_TRUE(hop.has_value());
  ASSERT_EQ(hop->status, DnsStatus::kOk) << hop->error;
  EXPECT_EQ(hop->hosts.at(0).address, Ip("127.0.0.7"));
}

TEST_F(NextHopTest, AddressLiteralDomains) {
  NextHop v4 = Resolve("[127.0.0.9]");
  ASSERT_EQ(v4.status, DnsStatus::kOk) << v4.error;
  EXPECT_EQ(v4.hosts.at(0).address, Ip("127.0.0.9"));
  NextHop v6 = Resolve("[IPv6:::1]", {}, 2525);
  ASSERT_EQ(v6.status, DnsStatus::kOk) << v6.error;
  EXPECT_EQ(v6.hosts.at(0).address, Ip("::1"));
  EXPECT_EQ(v6.hosts.at(0).port, 2525);
  EXPECT_EQ(Resolve("[not-an-address]").status, DnsStatus::kNxDomain);
  EXPECT_EQ(Resolve("[::1]").status, DnsStatus::kNxDomain);  // RFC 5321 wants the IPv6: tag
}

TEST_F(NextHopTest, TimeoutIsTempFailInBoundedTime) {
  testing::SilentUdpServer silent;
  resolver_ = MakeResolver({silent.server()}, milliseconds(200), 1);
  auto start = std::chrono::steady_clock::now();
  NextHop hop = Resolve("multi.test");
  EXPECT_EQ(hop.status, DnsStatus::kTempFail) << hop.error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500));
}

TEST_F(NextHopTest, ServfailIsTempFail) {
  testing::RcodeUdpServer failing(2);
  resolver_ = MakeResolver({failing.server()}, milliseconds(2000), 1);
  NextHop hop = Resolve("multi.test");
  EXPECT_EQ(hop.status, DnsStatus::kTempFail) << hop.error;
  EXPECT_TRUE(hop.hosts.empty());
}

TEST_F(NextHopTest, ResolverDestroyedMidway) {
  testing::SilentUdpServer silent;
  resolver_ = MakeResolver({silent.server()}, milliseconds(5000), 2);
  std::optional<NextHop> hop;
  asio::co_spawn(io_, ResolveNextHop(*resolver_, "multi.test", {}),
                 [&](std::exception_ptr, NextHop h) { hop = std::move(h); });
  for (int i = 0; i < 10; ++i) io_.run_one_for(milliseconds(10));
  ASSERT_FALSE(hop.has_value());
  resolver_.reset();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!hop && std::chrono::steady_clock::now() < deadline) io_.run_one_for(milliseconds(20));
  ASSERT_TRUE(hop.has_value());
  EXPECT_EQ(hop->status, DnsStatus::kTempFail);
}

}  // namespace
}  // namespace tidegate::delivery
