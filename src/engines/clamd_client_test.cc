// clamd_client_test.cc — ClamdClient against a scripted clamd on loopback (testing/fake_peer.h):
// the zIDSESSION/zINSTREAM framing, verdicts, one session for many scans, zEND, a pooled session
// clamd closed (IdleTimeout), the size limit answered while we still write, refused, reset
// mid-reply, a hang (the deadline), garbage, an oversized reply, the concurrency limit, Stop().
#include "engines/clamd_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "engines/testing/fake_peer.h"

namespace tidegate::engines {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using testing::FakePeer;
using testing::RunUntil;

const std::string kEicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

// What the scripted clamd saw.
struct Seen {
  std::vector<std::string> streams;
  std::vector<std::size_t> chunk_sizes;
  std::vector<std::string> commands;
  std::size_t ends = 0;  // zEND
};

// How the scripted clamd answers a stream: the reply text without the id prefix and NUL, or
// nullopt to close the connection instead.
using Answer = std::function<std::optional<std::string>(const std::string& stream)>;

std::optional<std::string> ByContent(const std::string& stream) {
  if (stream.find(kEicar) != std::string::npos) {
    return "stream: Eicar-Test-Signature.UNOFFICIAL FOUND";
  }
  return "stream: OK";
}

// clamd's session protocol, scripted: zIDSESSION, then numbered commands; at most `scans` scans
// answered per connection (clamd's IdleTimeout is simulated by closing after them).
FakePeer::Handler Clamd(Seen& seen, Answer answer = ByContent, std::size_t scans = 1000,
                        std::size_t stream_max = std::size_t{1} << 30) {
  return [&seen, answer, scans, stream_max](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    std::string first = co_await testing::ReadUntil(s, buffer, std::string_view("\0", 1));
    seen.commands.push_back(first);
    if (first != std::string("zIDSESSION\0", 11)) co_return;
    std::uint64_t id = 0;
    std::size_t answered = 0;
    while (answered < scans) {
      std::string command = co_await testing::ReadUntil(s, buffer, std::string_view("\0", 1));
      if (command.empty()) co_return;
      seen.commands.push_back(command);
      std::string prefix = std::to_string(++id) + ": ";
      if (command == std::string("zEND\0", 5)) {
        ++seen.ends;
        co_return;
      }
      if (command == std::string("zPING\0", 6)) {
        co_await testing::Write(s, prefix + std::string("PONG\0", 5));
        continue;
      }
      std::string stream;
      for (;;) {
        std::string length = co_await testing::ReadExactly(s, buffer, 4);
        if (length.size() != 4) co_return;
        std::size_t n = (std::size_t{static_cast<unsigned char>(length[0])} << 24) |
                        (std::size_t{static_cast<unsigned char>(length[1])} << 16) |
                        (std::size_t{static_cast<unsigned char>(length[2])} << 8) |
                        std::size_t{static_cast<unsigned char>(length[3])};
        if (n == 0) break;
        seen.chunk_sizes.push_back(n);
        if (stream.size() + n > stream_max) {
          // clamd: answer, then close with the rest unread (the client's write fails).
          co_await testing::Write(
              s, prefix + std::string("INSTREAM size limit exceeded. ERROR\0", 36));
          co_return;
        }
        stream += co_await testing::ReadExactly(s, buffer, n);
      }
      seen.streams.push_back(stream);
      std::optional<std::string> reply = answer(stream);
      if (!reply) co_return;
      co_await testing::Write(s, prefix + *reply + std::string(1, '\0'));
      ++answered;
    }
  };
}

class ClamdClientTest : public ::testing::Test {
 protected:
  ClamdOptions Options(std::uint16_t port) {
    ClamdOptions o;
    o.address = "127.0.0.1:" + std::to_string(port);
    o.timeout = std::chrono::milliseconds(500);
    return o;
  }
  base::Result<VirusResult> ScanOnce(ClamdClient& client, std::string message) {
    std::optional<base::Result<VirusResult>> out;
    client.Scan(std::make_shared<const std::string>(std::move(message)),
                [&](base::Result<VirusResult> r) { out = std::move(r); });
    EXPECT_TRUE(RunUntil(io_, [&] { return out.has_value(); }));
    if (!out) return base::MakeError("no answer");
    return std::move(*out);
  }

  asio::io_context io_;
};

TEST_F(ClamdClientTest, StreamsInChunksAndParsesVerdicts) {
  Seen seen;
  FakePeer peer(io_, Clamd(seen));
  ClamdOptions o = Options(peer.port());
  o.chunk_size = 1000;
  ClamdClient client(io_.get_executor(), o);
  std::string clean(2500, 'c');
  auto negative = ScanOnce(client, clean);
  ASSERT_TRUE(negative.ok()) << negative.error().message;
  EXPECT_EQ(negative->verdict, VirusVerdict::kNegative);
  ASSERT_EQ(seen.streams.size(), 1u);
  EXPECT_EQ(seen.streams[0], clean);
  EXPECT_EQ(seen.chunk_sizes, (std::vector<std::size_t>{1000, 1000, 500}));

  auto positive = ScanOnce(client, "Subject: x\r\n\r\n" + kEicar + "\r\n");
  ASSERT_TRUE(positive.ok()) << positive.error().message;
  EXPECT_EQ(positive->verdict, VirusVerdict::kPositive);
  EXPECT_EQ(positive->detail, "Eicar-Test-Signature.UNOFFICIAL");

  auto empty = ScanOnce(client, "");
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_EQ(seen.streams.back(), "");
}

TEST_F(ClamdClientTest, OneSessionCarriesManyScansAndEndsWithZend) {
  Seen seen;
  FakePeer peer(io_, Clamd(seen));
  auto client = std::make_unique<ClamdClient>(io_.get_executor(), Options(peer.port()));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ScanOnce(*client, "clean").ok());
  EXPECT_EQ(peer.accepted(), 1u);
  EXPECT_EQ(seen.commands.front(), std::string("zIDSESSION\0", 11));
  EXPECT_EQ(client->idle_connections(), 1u);
  client.reset();
  ASSERT_TRUE(RunUntil(io_, [&] { return seen.ends == 1; }));
}

TEST_F(ClamdClientTest, ReplyForAnotherCommandIsUnavailable) {
  Seen seen;
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    co_await testing::ReadUntil(s, buffer, std::string_view("\0", 1));
    co_await testing::ReadUntil(s, buffer, std::string_view("\0", 1));
    co_await testing::Write(s, std::string("7: stream: OK\0", 14));
    co_await testing::Sleep(std::chrono::seconds(1));
  });
  ClamdClient client(io_.get_executor(), Options(peer.port()));
  auto r = ScanOnce(client, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "malformed reply: not this command's");
}

TEST_F(ClamdClientTest, PooledSessionClamdClosedIsRetriedTransparently) {
  Seen seen;
  FakePeer peer(io_, Clamd(seen, ByContent, /*scans=*/1));
  ClamdClient client(io_.get_executor(), Options(peer.port()));
  ASSERT_TRUE(ScanOnce(client, "one").ok());
  ASSERT_TRUE(RunUntil(io_, [&] { return peer.closed() == 1; }));
  ASSERT_EQ(client.idle_connections(), 1u);
  auto r = ScanOnce(client, "two");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(peer.accepted(), 2u);
  EXPECT_EQ(seen.streams, (std::vector<std::string>{"one", "two"}));
}

TEST_F(ClamdClientTest, SizeLimitErrorIsUnscannableEvenThoughTheWriteFailed) {
  Seen seen;
  FakePeer peer(io_, Clamd(seen, ByContent, 1000, /*stream_max=*/64 << 10));
  ClamdOptions o = Options(peer.port());
  o.timeout = std::chrono::seconds(5);
  ClamdClient client(io_.get_executor(), o);
  auto r = ScanOnce(client, std::string(16 << 20, 'x'));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->verdict, VirusVerdict::kUnscannable);
  EXPECT_EQ(r->detail, "INSTREAM size limit exceeded.");
  EXPECT_EQ(client.idle_connections(), 0u);  // clamd closed that session
}

TEST_F(ClamdClientTest, UnixSocketAddress) {
  // The same protocol over a unix socket (`unix:/path`).
  std::string path = ::testing::TempDir() + "clamd-test-" + std::to_string(::getpid()) + ".sock";
  std::remove(path.c_str());
  asio::local::stream_protocol::acceptor acceptor(io_,
                                                  asio::local::stream_protocol::endpoint(path));
  std::string got;
  acceptor.async_accept([&](boost::system::error_code ec, asio::local::stream_protocol::socket s) {
    if (ec) return;
    auto socket = std::make_shared<asio::local::stream_protocol::socket>(std::move(s));
    auto buffer = std::make_shared<std::string>();
    asio::async_read_until(*socket, asio::dynamic_buffer(*buffer), std::string("zPING\0", 6),
                           [socket, buffer, &got](boost::system::error_code e, std::size_t) {
                             if (e) return;
                             got = *buffer;
                             asio::write(*socket, asio::buffer(std::string("1: PONG\0", 8)), e);
                           });
  });
  ClamdOptions o;
  o.address = "unix:" + path;
  ClamdClient client(io_.get_executor(), o);
  std::optional<base::Status> status;
  client.Probe([&](base::Status s) { status = s; });
  ASSERT_TRUE(RunUntil(io_, [&] { return status.has_value(); }));
  EXPECT_TRUE(status->ok()) << status->error().message;
  EXPECT_EQ(got, std::string("zIDSESSION\0zPING\0", 17));
  std::remove(path.c_str());
}

TEST_F(ClamdClientTest, RefusedAndBadAddressAreUnavailable) {
  ClamdClient refused(io_.get_executor(), Options(testing::RefusingPort()));
  auto r = ScanOnce(refused, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "connection refused");

  ClamdOptions o;
  o.address = "no-port-here";
  ClamdClient bad(io_.get_executor(), o);
  r = ScanOnce(bad, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "bad address");
}

TEST_F(ClamdClientTest, ResetMidReplyIsUnavailableAndNotRetried) {
  Seen seen;
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    co_await testing::ReadUntil(s, buffer, std::string_view("\0", 1));
    co_await testing::ReadUntil(s, buffer, std::string_view("\0", 1));
    co_await testing::ReadUntil(s, buffer, std::string_view("\0\0\0\0", 4));  // the terminator
    co_await testing::Write(s, "1: stream: O");
    co_await testing::Sleep(std::chrono::milliseconds(20));
    testing::Reset(s);
  });
  ClamdClient client(io_.get_executor(), Options(peer.port()));
  auto r = ScanOnce(client, "abc");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "connection reset");
  EXPECT_EQ(peer.accepted(), 1u);
}

TEST_F(ClamdClientTest, HangTimesOutWithinTheDeadline) {
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    co_await testing::ReadUntil(s, buffer, std::string_view("\0", 1));
    co_await testing::Sleep(std::chrono::seconds(5));
  });
  ClamdOptions o = Options(peer.port());
  o.timeout = std::chrono::milliseconds(300);
  ClamdClient client(io_.get_executor(), o);
  auto start = std::chrono::steady_clock::now();
  auto r = ScanOnce(client, "abc");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  testing::ExpectTimedOut(r.error().message, took, o.timeout);
}

TEST_F(ClamdClientTest, GarbageAndOversizedRepliesAreUnavailable) {
  struct Case {
    std::string reply, reason;
  };
  const Case cases[] = {
      // The scripted clamd puts the `1: ` prefix in front of these.
      {"UNKNOWN COMMAND", "malformed reply: not a scan reply"},
      {"stream: two words FOUND", "malformed reply: bad signature name"},
      {"stream: \x01 FOUND", "malformed reply: control character"},
      {"stream: " + std::string(5000, 'A') + " FOUND", "reply too large"},
  };
  for (const Case& c : cases) {
    Seen seen;
    FakePeer peer(io_, Clamd(seen, [&](const std::string&) { return c.reply; }));
    ClamdClient client(io_.get_executor(), Options(peer.port()));
    std::optional<base::Result<VirusResult>> out;
    client.Scan(std::make_shared<const std::string>("x"),
                [&](base::Result<VirusResult> r) { out = std::move(r); });
    ASSERT_TRUE(RunUntil(io_, [&] { return out.has_value(); }));
    ASSERT_FALSE(out->ok()) << c.reply;
    EXPECT_EQ(out->error().message, c.reason);
  }
}

TEST_F(ClamdClientTest, ConcurrencyLimitHoldsRequestsInTheClient) {
  Seen seen;
  FakePeer peer(io_, Clamd(seen));
  ClamdOptions o = Options(peer.port());
  o.max_concurrency = 3;
  o.timeout = std::chrono::seconds(5);
  ClamdClient client(io_.get_executor(), o);
  int done = 0, ok = 0;
  for (int i = 0; i < 10; ++i) {
    client.Scan(std::make_shared<const std::string>(std::string(200 << 10, 'a')),
                [&](base::Result<VirusResult> r) {
                  ++done;
                  ok += r.ok();
                });
  }
  ASSERT_TRUE(RunUntil(io_, [&] { return done == 10; }));
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(peer.max_open(), 3u);
  EXPECT_EQ(seen.streams.size(), 10u);
}

TEST_F(ClamdClientTest, StopRunsPendingCallbacksAndNoneAfter) {
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    co_await testing::ReadUntil(s, buffer, std::string_view("\0", 1));
    co_await testing::Sleep(std::chrono::seconds(5));
  });
  ClamdOptions o = Options(peer.port());
  o.max_concurrency = 1;
  o.timeout = std::chrono::seconds(5);
  auto client = std::make_unique<ClamdClient>(io_.get_executor(), o);
  std::vector<std::string> errors;
  for (int i = 0; i < 3; ++i) {
    client->Scan(std::make_shared<const std::string>("x"), [&](base::Result<VirusResult> r) {
      errors.push_back(r.ok() ? "ok" : r.error().message);
    });
  }
  ASSERT_TRUE(RunUntil(io_, [&] { return peer.accepted() == 1 && client->in_flight() == 1; }));
  client->Stop();
  EXPECT_EQ(errors, (std::vector<std::string>{"stopped", "stopped", "stopped"}));
  std::optional<base::Status> after;
  client->Probe([&](base::Status s) { after = s; });  // after Stop: fails, on the executor
  EXPECT_FALSE(after.has_value());
  ASSERT_TRUE(RunUntil(io_, [&] { return after.has_value(); }));
  EXPECT_EQ(after->error().message, "stopped");
  client.reset();
  RunUntil(
      io_, [] { return false; }, std::chrono::milliseconds(200));
  EXPECT_EQ(errors.size(), 3u);
}

TEST_F(ClamdClientTest, ProbePings) {
  Seen seen;
  FakePeer peer(io_, Clamd(seen));
  ClamdClient client(io_.get_executor(), Options(peer.port()));
  std::optional<base::Status> status;
  client.Probe([&](base::Status s) { status = s; });
  ASSERT_TRUE(RunUntil(io_, [&] { return status.has_value(); }));
  EXPECT_TRUE(status->ok()) << status->error().message;
  EXPECT_EQ(seen.commands.back(), std::string("zPING\0", 6));

  // Something else answering on the port.
  FakePeer other(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    co_await testing::ReadUntil(s, buffer, std::string_view("zPING\0", 6));
    co_await testing::Write(s, std::string("1: PANG\0", 8));
  });
  ClamdClient wrong(io_.get_executor(), Options(other.port()));
  status.reset();
  wrong.Probe([&](base::Status s) { status = s; });
  ASSERT_TRUE(RunUntil(io_, [&] { return status.has_value(); }));
  ASSERT_FALSE(status->ok());
  EXPECT_EQ(status->error().message, "malformed reply: not PONG");
}

}  // namespace
}  // namespace tidegate::engines
