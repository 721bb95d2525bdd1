#include "delivery/dns_resolver.h"

#include <ares.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <chrono>

#include "delivery/dns_resolver_testing.h"

namespace tidegate::delivery {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using testing::DnsmasqServer;
using testing::RunFor;

// ---------------------------------------------------------------------------------------------
// Parsing and status mapping, with crafted packets.

std::vector<unsigned char> EncodeName(const std::string& name) {
  std::vector<unsigned char> out;
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<unsigned char>(dot - start));
    out.insert(out.end(), name.begin() + start, name.begin() + dot);
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

struct Rr {
  int type;
  std::vector<unsigned char> rdata;
};

std::vector<unsigned char> Response(const std::string& qname, int qtype,
                                    const std::vector<Rr>& answers) {
  std::vector<unsigned char> p = {
      0x12, 0x34, 0x81, 0x80, 0, 1, 0, static_cast<unsigned char>(answers.size()), 0, 0, 0, 0};
  auto name = EncodeName(qname);
  p.insert(p.end(), name.begin(), name.end());
  p.insert(p.end(), {0, static_cast<unsigned char>(qtype), 0, 1});
  for (const auto& rr : answers) {
    p.insert(p.end(), name.begin(), name.end());
    p.insert(p.end(), {0, static_cast<unsigned char>(rr.type), 0, 1, 0, 0, 1, 44});
    p.push_back(static_cast<unsigned char>(rr.rdata.size() >> 8));
    p.push_back(static_cast<unsigned char>(rr.rdata.size() & 0xff));
    p.insert(p.end(), rr.rdata.begin(), rr.rdata.end());
  }
  return p;
}

Rr Mx(std::uint16_t preference, const std::string& host) {
  Rr rr{
      15,
      {static_cast<unsigned char>(preference >> 8), static_cast<unsigned char>(preference & 0xff)}};
  auto name = EncodeName(host);
  rr.rdata.insert(rr.rdata.end(), name.begin(), name.end());
  return rr;
}

TEST(DnsParseTest, MxRecordsSortedByPreferenceAndNormalized) {
  detail::RawAnswer answer{
      ARES_SUCCESS,
      Response("d.test", 15, {Mx(20, "B.d.test"), Mx(10, "a.D.test"), Mx(10, "c.d.test")})};
  auto result = detail::ParseMxAnswer("d.test", answer);
  ASSERT_EQ(result.status, DnsStatus::kOk) << result.error;
  std::vector<MxRecord> want = {{10, "a.d.test"}, {10, "c.d.test"}, {20, "b.d.test"}};
  EXPECT_EQ(result.records, want);
}

TEST(DnsParseTest, NullMxTargetIsRoot) {
  detail::RawAnswer answer{ARES_SUCCESS, Response("nullmx.test", 15, {Mx(0, "")})};
  auto result = detail::ParseMxAnswer("nullmx.test", answer);
  ASSERT_EQ(result.status, DnsStatus::kOk) << result.error;
  ASSERT_EQ(result.records.size(), 1u);
  EXPECT_EQ(result.records[0], (MxRecord{0, "."}));
}

TEST(DnsParseTest, TruncatedPacketIsTempFail) {
  auto packet = Response("d.test", 15, {Mx(10, "mx.d.test")});
  packet.resize(packet.size() - 4);
  auto result = detail::ParseMxAnswer("d.test", detail::RawAnswer{ARES_SUCCESS, packet});
  EXPECT_EQ(result.status, DnsStatus::kTempFail);
  EXPECT_FALSE(result.error.empty());
}

TEST(DnsParseTest, AddressAnswers) {
  detail::RawAnswer a{ARES_SUCCESS,
                      Response("h.test", 1, {Rr{1, {192, 0, 2, 1}}, Rr{1, {192, 0, 2, 2}}})};
  auto v4 = detail::ParseAddressAnswer("h.test", false, a);
  ASSERT_EQ(v4.status, DnsStatus::kOk) << v4.error;
  ASSERT_EQ(v4.addresses.size(), 2u);
  EXPECT_EQ(v4.addresses[0], asio::ip::make_address("192.0.2.1"));
  EXPECT_EQ(v4.addresses[1], asio::ip::make_address("192.0.2.2"));

  std::vector<unsigned char> six(16, 0);
  six[0] = 0x20;
  six[1] = 0x01;
  six[15] = 7;
  auto v6 = detail::ParseAddressAnswer(
      "h.test", true, detail::RawAnswer{ARES_SUCCESS, Response("h.test", 28, {Rr{28, six}})});
  ASSERT_EQ(v6.status, DnsStatus::kOk) << v6.error;
  EXPECT_EQ(v6.addresses.at(0), asio::ip::make_address("2001::7"));
}

TEST(DnsParseTest, StatusMapping) {
  EXPECT_EQ(detail::StatusFromAres(ARES_ENOTFOUND), DnsStatus::kNxDomain);
  EXPECT_EQ(detail::StatusFromAres(ARES_EBADNAME), DnsStatus::kNxDomain);
  EXPECT_EQ(detail::StatusFromAres(ARES_ENODATA), DnsStatus::kNoData);
  for (int s : {ARES_ESERVFAIL, ARES_ETIMEOUT, ARES_ECONNREFUSED, ARES_EREFUSED, ARES_EBADRESP,
                ARES_EDESTRUCTION, ARES_EFORMERR}) {
    EXPECT_EQ(detail::StatusFromAres(s), DnsStatus::kTempFail) << ares_strerror(s);
  }
  auto nx = detail::ParseMxAnswer("gone.test", detail::RawAnswer{ARES_ENOTFOUND, {}});
  EXPECT_EQ(nx.status, DnsStatus::kNxDomain);
  EXPECT_NE(nx.error.find("gone.test"), std::string::npos) << nx.error;
}

TEST(DnsParseTest, CombineAddressResults) {
  using R = DnsResolver::AddrResult;
  auto v4 = asio::ip::make_address("192.0.2.1");
  auto v6 = asio::ip::make_address("2001:db8::1");
  auto ok4 = R{DnsStatus::kOk, {v4}, ""};
  auto ok6 = R{DnsStatus::kOk, {v6}, ""};
  auto temp = R{DnsStatus::kTempFail, {}, "timeout"};
  auto nodata = R{DnsStatus::kNoData, {}, "nodata"};
  auto nx = R{DnsStatus::kNxDomain, {}, "nx"};

  auto both = detail::CombineAddressResults(ok4, ok6);
  EXPECT_EQ(both.status, DnsStatus::kOk);
  EXPECT_EQ(both.addresses, (std::vector<asio::ip::address>{v4, v6}));
  EXPECT_EQ(detail::CombineAddressResults(ok4, temp).status, DnsStatus::kOk);
  EXPECT_EQ(detail::CombineAddressResults(nodata, temp).status, DnsStatus::kTempFail);
  EXPECT_EQ(detail::CombineAddressResults(nx, temp).status, DnsStatus::kTempFail);
  EXPECT_EQ(detail::CombineAddressResults(nx, nx).status, DnsStatus::kNxDomain);
  EXPECT_EQ(detail::CombineAddressResults(nodata, nodata).status, DnsStatus::kNoData);
  auto failed = detail::CombineAddressResults(nodata, temp);
  EXPECT_NE(failed.error.find("nodata"), std::string::npos);
  EXPECT_NE(failed.error.find("timeout"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Against a real dnsmasq.

std::vector<std::string> BigMxRecords() {
  // ~40 long MX names: far over 512 bytes, so the UDP answer is truncated and c-ares must
  // retry over TCP (exercising the write-readiness path).
  std::vector<std::string> out;
  for (int i = 0; i < 40; ++i) {
    out.push_back("--mx-host=big.test,a-rather-long-mail-exchanger-name-" + std::to_string(i) +
                  ".big.test," + std::to_string(i));
  }
  return out;
}

class DnsResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::DnsmasqAvailable()) return;
    std::vector<std::string> records = {
        "--mx-host=multi.test,mx2.multi.test,20",
        "--mx-host=multi.test,mx1.multi.test,10",
        "--mx-host=multi.test,broken.multi.test,5",
        "--host-record=mx1.multi.test,127.0.0.11",
        "--host-record=mx2.multi.test,127.0.0.12,::12",
        "--host-record=plain.test,127.0.0.31",
        "--mx-host=nullmx.test,.,0",
        "--txt-record=empty.test,nothing here",
    };
    auto big = BigMxRecords();
    records.insert(records.end(), big.begin(), big.end());
    auto server = DnsmasqServer::Start(records);
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
  }

  std::unique_ptr<DnsResolver> MakeResolver(std::vector<DnsServer> servers,
                                            milliseconds timeout = milliseconds(2000),
                                            int tries = 2) {
    auto r = DnsResolver::Create(io_, ResolverOptions{std::move(servers), timeout, tries});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r.value()) : nullptr;
  }
  std::unique_ptr<DnsResolver> MakeResolver() { return MakeResolver({server_->server()}); }

  static DnsmasqServer* server_;
  static std::string* start_error_;
  asio::io_context io_;
};

DnsmasqServer* DnsResolverTest::server_ = nullptr;
std::string* DnsResolverTest::start_error_ = nullptr;

TEST_F(DnsResolverTest, MxSortedByPreference) {
  auto resolver = MakeResolver();
  auto result = RunFor(io_, resolver->LookupMx("multi.test"));
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(result->status, DnsStatus::kOk) << result->error;
  std::vector<MxRecord> want = {
      {5, "broken.multi.test"}, {10, "mx1.multi.test"}, {20, "mx2.multi.test"}};
  EXPECT_EQ(result->records, want);
}

TEST_F(DnsResolverTest, NameIsCaseInsensitiveAndMayEndInDot) {
  auto resolver = MakeResolver();
  auto result = RunFor(io_, resolver->LookupMx("MULTI.Test."));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, DnsStatus::kOk) << result->error;
  EXPECT_EQ(result->records.size(), 3u);
}

TEST_F(DnsResolverTest, NullMxFromServer) {
  auto resolver = MakeResolver();
  auto result = RunFor(io_, resolver->LookupMx("nullmx.test"));
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(result->status, DnsStatus::kOk) << result->error;
  EXPECT_EQ(result->records, (std::vector<MxRecord>{{0, "."}}));
}

TEST_F(DnsResolverTest, MxNoDataWhenOnlyAddresses) {
  auto resolver = MakeResolver();
  auto result = RunFor(io_, resolver->LookupMx("plain.test"));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, DnsStatus::kNoData) << result->error;
  EXPECT_TRUE(result->records.empty());
}

TEST_F(DnsResolverTest, MxNxDomain) {
  auto resolver = MakeResolver();
  auto result = RunFor(io_, resolver->LookupMx("no-such-domain.test"));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, DnsStatus::kNxDomain) << result->error;
  EXPECT_NE(result->error.find("no-such-domain.test"), std::string::npos) << result->error;
}

TEST_F(DnsResolverTest, AddressesIpv4First) {
  auto resolver = MakeResolver();
  auto result = RunFor(io_, resolver->LookupAddresses("mx2.multi.test"));
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(result->status, DnsStatus::kOk) << result->error;
  std::vector<asio::ip::address> want = {asio::ip::make_address("127.0.0.12"),
                                         asio::ip::make_address("::12")};
  EXPECT_EQ(result->addresses, want);
}

TEST_F(DnsResolverTest, AddressesNxDomainAndNoData) {
  auto resolver = MakeResolver();
  auto nx = RunFor(io_, resolver->LookupAddresses("broken.multi.test"));
  ASSERT_TRUE(nx.has_value());
  EXPECT_EQ(nx->status, DnsStatus::kNxDomain) << nx->error;
  auto nodata = RunFor(io_, resolver->LookupAddresses("empty.test"));
  ASSERT_TRUE(nodata.has_value());
  EXPECT_EQ(nodata->status, DnsStatus::kNoData) << nodata->error;
}

TEST_F(DnsResolverTest, IpLiteralNeedsNoQuery) {
  // The resolver points at a dead port: any query would fail.
  auto resolver = MakeResolver({DnsServer{"127.0.0.1", testing::UnusedUdpPort()}});
  auto result = RunFor(io_, resolver->LookupAddresses("[::1]"));
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(result->status, DnsStatus::kOk) << result->error;
  EXPECT_EQ(result->addresses, (std::vector{asio::ip::make_address("::1")}));
}

TEST_F(DnsResolverTest, InvalidNameIsNxDomain) {
  auto resolver = MakeResolver();
  auto result = RunFor(io_, resolver->LookupMx(std::string("bad\0name.test", 13)));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, DnsStatus::kNxDomain) << result->error;
}

TEST_F(DnsResolverTest, LargeAnswerRetriedOverTcp) {
  auto resolver = MakeResolver();
  auto result = RunFor(io_, resolver->LookupMx("big.test"));
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(result->status, DnsStatus::kOk) << result->error;
  ASSERT_EQ(result->records.size(), 40u);
  EXPECT_EQ(result->records.front().preference, 0);
  EXPECT_EQ(result->records.back().preference, 39);
}

TEST_F(DnsResolverTest, ManyConcurrentLookups) {
  auto resolver = MakeResolver();
  int ok = 0;
  int done = 0;
  constexpr int kCount = 60;
  for (int i = 0; i < kCount; ++i) {
    asio::co_spawn(
        io_,
        [&, i]() -> asio::awaitable<void> {
          if (i % 2 == 0) {
            auto r = co_await resolver->LookupAddresses("mx1.multi.test");
            if (r.status == DnsStatus::kOk && r.addresses.size() == 1) ++ok;
          } else {
            auto r = co_await resolver->LookupMx("multi.test");
            if (r.status == DnsStatus::kOk && r.records.size() == 3) ++ok;
          }
          ++done;
        },
        asio::detached);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (done < kCount && std::chrono::steady_clock::now() < deadline) {
    io_.run_one_for(milliseconds(20));
  }
  EXPECT_EQ(done, kCount);
  EXPECT_EQ(ok, kCount);
}

TEST_F(DnsResolverTest, FailsOverToTheNextServer) {
  // One question: with two, c-ares 1.18 sees the ICMP error on the second send and moves
  // that one on, while the first waits for its timeout.
  auto resolver =
      MakeResolver({DnsServer{"127.0.0.1", testing::UnusedUdpPort()}, server_->server()});
  auto start = std::chrono::steady_clock::now();
  auto result = RunFor(io_, resolver->LookupMx("multi.test"));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, DnsStatus::kOk) << result->error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500));
}

TEST_F(DnsResolverTest, ServfailAndRefusedAreTempFail) {
  for (int rcode : {2, 5}) {  // SERVFAIL, REFUSED
    testing::RcodeUdpServer failing(rcode);
    auto resolver = MakeResolver({failing.server()}, milliseconds(3000), 2);
    auto start = std::chrono::steady_clock::now();
    auto result = RunFor(io_, resolver->LookupMx("multi.test"));
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->status, DnsStatus::kTempFail) << result->error;
    EXPECT_GE(failing.queries(), 1);
    // An answer, not a timeout.
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500)) << rcode;
  }
}

TEST_F(DnsResolverTest, RefusedPortIsTempFailAtOnce) {
  auto resolver =
      MakeResolver({DnsServer{"127.0.0.1", testing::UnusedUdpPort()}}, milliseconds(3000), 2);
  auto start = std::chrono::steady_clock::now();
  auto result = RunFor(io_, resolver->LookupMx("multi.test"));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, DnsStatus::kTempFail) << result->error;
  // ICMP port unreachable ends each try at once; nothing waits for the 3 s timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2500));
}

TEST_F(DnsResolverTest, SilentServerTimesOutWithinBound) {
  testing::SilentUdpServer silent;
  auto resolver = MakeResolver({silent.server()}, milliseconds(200), 2);
  auto start = std::chrono::steady_clock::now();
  auto result = RunFor(io_, resolver->LookupAddresses("mx1.multi.test"));
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, DnsStatus::kTempFail) << result->error;
  // Documented bound: timeout * (2^tries - 1) = 600 ms for one server.
  EXPECT_GE(elapsed, milliseconds(190));
  EXPECT_LT(elapsed, milliseconds(1500));
}

TEST_F(DnsResolverTest, DestroyedWithQueryInFlight) {
  testing::SilentUdpServer silent;
  auto resolver = MakeResolver({silent.server()}, milliseconds(5000), 2);
  std::optional<DnsResolver::MxResult> mx;
  std::optional<DnsResolver::AddrResult> addr;
  asio::co_spawn(io_, resolver->LookupMx("multi.test"),
                 [&](std::exception_ptr, DnsResolver::MxResult r) { mx = std::move(r); });
  asio::co_spawn(io_, resolver->LookupAddresses("mx1.multi.test"),
                 [&](std::exception_ptr, DnsResolver::AddrResult r) { addr = std::move(r); });
  // Let both queries reach the wire.
  for (int i = 0; i < 10; ++i) io_.run_one_for(milliseconds(10));
  EXPECT_FALSE(mx.has_value());
  auto start = std::chrono::steady_clock::now();
  resolver.reset();
  auto deadline = start + std::chrono::seconds(3);
  while ((!mx || !addr) && std::chrono::steady_clock::now() < deadline) {
    io_.run_one_for(milliseconds(20));
  }
  ASSERT_TRUE(mx.has_value());
  ASSERT_TRUE(addr.has_value());
  EXPECT_EQ(mx->status, DnsStatus::kTempFail);
  EXPECT_EQ(addr->status, DnsStatus::kTempFail);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  // No socket wait or timer of the resolver may keep the context busy: once the ready
  // (aborted) handlers have run, it must run out of work.
  io_.restart();
  io_.poll();
  EXPECT_TRUE(io_.stopped());
}

TEST_F(DnsResolverTest, AwaitableStartedAfterDestruction) {
  auto resolver = MakeResolver();
  auto task = resolver->LookupMx("multi.test");
  resolver.reset();
  auto result = RunFor(io_, std::move(task));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, DnsStatus::kTempFail);
}

TEST(DnsResolverCreateTest, RejectsBadOptions) {
  asio::io_context io;
  auto named = DnsResolver::Create(io, ResolverOptions{{DnsServer{"dns.example", 53}}});
  ASSERT_FALSE(named.ok());
  EXPECT_NE(named.error().message.find("dns.example"), std::string::npos);
  auto tries = DnsResolver::Create(io, ResolverOptions{{}, milliseconds(100), 0});
  EXPECT_FALSE(tries.ok());
  auto v6 = DnsResolver::Create(io, ResolverOptions{{DnsServer{"[::1]", 5353}}});
  EXPECT_TRUE(v6.ok());
  auto system = DnsResolver::Create(io, ResolverOptions{});  // /etc/resolv.conf
  EXPECT_TRUE(system.ok()) << (system.ok() ? "" : system.error().message);
}

}  // namespace
}  // namespace tidegate::delivery
