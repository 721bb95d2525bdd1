// rspamd_client_test.cc — RspamdClient against a scripted HTTP peer on loopback (testing/
// fake_peer.h): the request it sends, verdicts, keep-alive reuse, a pooled connection the peer
// closed, refused, reset mid-reply, a hang (the deadline), garbage, an oversized reply, the
// concurrency limit, Stop() with requests pending.
#include "engines/rspamd_client.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
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
using testing::Testdata;

struct HttpRequest {
  std::string head, body;
};

// One request from the client, or nullopt when it closed.
awaitable<std::optional<HttpRequest>> ReadRequest(tcp::socket& socket, std::string& buffer) {
  HttpRequest r;
  r.head = co_await testing::ReadUntil(socket, buffer, "\r\n\r\n");
  if (r.head.empty()) co_return std::nullopt;
  std::size_t length = 0;
  std::size_t at = r.head.find("Content-Length: ");
  if (at != std::string::npos) length = std::stoul(r.head.substr(at + 16));
  r.body = co_await testing::ReadExactly(socket, buffer, length);
  co_return r;
}

std::string Response(const std::string& body, int status = 200, bool close = false) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
         (close ? "Connection: close\r\n" : "") + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

const std::string kGtube = Testdata("rspamd_checkv2_gtube.json");
const std::string kClean = Testdata("rspamd_checkv2_clean.json");

class RspamdClientTest : public ::testing::Test {
 protected:
  RspamdOptions Options(std::uint16_t port) {
    RspamdOptions o;
    o.port = port;
    o.timeout = std::chrono::milliseconds(500);
    return o;
  }
  Envelope TestEnvelope() {
    Envelope e;
    e.mid = 1234;
    e.client_ip = "192.0.2.7";
    e.helo = "mx.example.com";
    e.sender = "alice@example.com";
    e.recipients = {"bob@example.org", "carol@example.org"};
    e.hostname = "gw.example.net";
    return e;
  }
  // Runs one Check to its end.
  base::Result<SpamResult> CheckOnce(RspamdClient& client, Envelope envelope = {}) {
    std::optional<base::Result<SpamResult>> out;
    client.Check(envelope, message_, [&](base::Result<SpamResult> r) { out = std::move(r); });
    EXPECT_TRUE(RunUntil(io_, [&] { return out.has_value(); }));
    if (!out) return base::MakeError("no answer");
    return std::move(*out);
  }

  asio::io_context io_;
  std::shared_ptr<const std::string> message_ =
      std::make_shared<const std::string>("Subject: hi\r\n\r\nbody\r\n");
};

TEST_F(RspamdClientTest, SendsTheEnvelopeAndParsesTheVerdict) {
  std::vector<HttpRequest> seen;
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    while (auto r = co_await ReadRequest(s, buffer)) {
      seen.push_back(*r);
      co_await testing::Write(s, Response(kGtube));
    }
  });
  RspamdClient client(io_.get_executor(), Options(peer.port()));
  auto r = CheckOnce(client, TestEnvelope());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->verdict, SpamVerdict::kPositive);
  EXPECT_EQ(r->symbols, std::vector<std::string>{"GTUBE"});
  ASSERT_EQ(seen.size(), 1u);
  const std::string& head = seen[0].head;
  EXPECT_EQ(head.rfind("POST /checkv2 HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nHost: 127.0.0.1:" + std::to_string(peer.port()) + "\r\n"),
            std::string::npos);
  for (const char* line :
       {"\r\nIP: 192.0.2.7\r\n", "\r\nHelo: mx.example.com\r\n", "\r\nFrom: alice@example.com\r\n",
        "\r\nRcpt: bob@example.org\r\n", "\r\nRcpt: carol@example.org\r\n",
        "\r\nQueue-Id: 1234\r\n", "\r\nHostname: gw.example.net\r\n"}) {
    EXPECT_NE(head.find(line), std::string::npos) << line << " in " << head;
  }
  EXPECT_EQ(seen[0].body, *message_);

  // The null sender is sent as <>.
  Envelope null_sender = TestEnvelope();
  null_sender.sender = "";
  ASSERT_TRUE(CheckOnce(client, null_sender).ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_NE(seen[1].head.find("\r\nFrom: <>\r\n"), std::string::npos) << seen[1].head;
}

TEST_F(RspamdClientTest, RefusesAnEnvelopeThatWouldSplitAHeader) {
  FakePeer peer(io_, [&](tcp::socket&) -> awaitable<void> { co_return; });
  RspamdClient client(io_.get_executor(), Options(peer.port()));
  Envelope e = TestEnvelope();
  e.helo = "x\r\nRcpt: victim@example.com";
  bool inline_call = true;
  std::optional<base::Result<SpamResult>> out;
  client.Check(e, message_, [&](base::Result<SpamResult> r) {
    EXPECT_FALSE(inline_call);
    out = std::move(r);
  });
  inline_call = false;
  ASSERT_TRUE(RunUntil(io_, [&] { return out.has_value(); }));
  ASSERT_FALSE(out->ok());
  EXPECT_EQ(out->error().message, "bad envelope");
  EXPECT_EQ(peer.accepted(), 0u);
}

TEST_F(RspamdClientTest, KeepAliveCarriesSeveralRequestsOnOneConnection) {
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    while (co_await ReadRequest(s, buffer)) co_await testing::Write(s, Response(kClean));
  });
  RspamdClient client(io_.get_executor(), Options(peer.port()));
  for (int i = 0; i < 4; ++i) {
    auto r = CheckOnce(client);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->verdict, SpamVerdict::kNegative);
  }
  EXPECT_EQ(peer.accepted(), 1u);
  EXPECT_EQ(client.idle_connections(), 1u);
}

TEST_F(RspamdClientTest, ConnectionCloseRepliesAreNotPooled) {
  // rspamd 3.4's normal worker answers every request with Connection: close.
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    if (co_await ReadRequest(s, buffer)) co_await testing::Write(s, Response(kClean, 200, true));
  });
  RspamdClient client(io_.get_executor(), Options(peer.port()));
  ASSERT_TRUE(CheckOnce(client).ok());
  ASSERT_TRUE(CheckOnce(client).ok());
  EXPECT_EQ(peer.accepted(), 2u);
  EXPECT_EQ(client.idle_connections(), 0u);
}

TEST_F(RspamdClientTest, PooledConnectionThePeerClosedIsRetriedTransparently) {
  // The peer's keep-alive timeout: it answers one request keep-alive, then closes while idle.
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    if (co_await ReadRequest(s, buffer)) co_await testing::Write(s, Response(kClean));
  });
  RspamdClient client(io_.get_executor(), Options(peer.port()));
  ASSERT_TRUE(CheckOnce(client).ok());
  ASSERT_TRUE(RunUntil(io_, [&] { return peer.closed() == 1; }));
  ASSERT_EQ(client.idle_connections(), 1u);
  auto r = CheckOnce(client);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(peer.accepted(), 2u);
}

TEST_F(RspamdClientTest, RefusedIsUnavailable) {
  RspamdClient client(io_.get_executor(), Options(testing::RefusingPort()));
  auto r = CheckOnce(client);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "connection refused");
}

TEST_F(RspamdClientTest, ResetMidReplyIsUnavailableAndNotRetried) {
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    if (!co_await ReadRequest(s, buffer)) co_return;
    std::string full = Response(kClean);
    co_await testing::Write(s, full.substr(0, full.size() / 2));
    co_await testing::Sleep(std::chrono::milliseconds(20));
    testing::Reset(s);
  });
  RspamdClient client(io_.get_executor(), Options(peer.port()));
  auto r = CheckOnce(client);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "connection reset");
  EXPECT_EQ(peer.accepted(), 1u);
}

TEST_F(RspamdClientTest, HangTimesOutWithinTheDeadline) {
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    co_await ReadRequest(s, buffer);
    co_await testing::Sleep(std::chrono::seconds(5));
  });
  RspamdOptions o = Options(peer.port());
  o.timeout = std::chrono::milliseconds(300);
  RspamdClient client(io_.get_executor(), o);
  auto start = std::chrono::steady_clock::now();
  auto r = CheckOnce(client);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  testing::ExpectTimedOut(r.error().message, took, o.timeout);
}

TEST_F(RspamdClientTest, GarbageRepliesAreUnavailable) {
  struct Case {
    std::string reply, reason;
  };
  const Case cases[] = {
      {Response("<html>oops</html>"), "malformed reply: not JSON"},
      {Response(R"({"error":"invalid command"})", 500), "HTTP status 500"},
      {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "malformed reply"},
      {Response(R"({"action":"discard","score":1,"required_score":2})"),
       "malformed reply: unknown action"},
  };
  for (const Case& c : cases) {
    FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
      std::string buffer;
      if (co_await ReadRequest(s, buffer)) co_await testing::Write(s, c.reply);
    });
    RspamdClient client(io_.get_executor(), Options(peer.port()));
    auto r = CheckOnce(client);
    ASSERT_FALSE(r.ok()) << c.reply;
    EXPECT_EQ(r.error().message, c.reason);
  }
}

TEST_F(RspamdClientTest, OversizedReplyIsUnavailable) {
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    if (!co_await ReadRequest(s, buffer)) co_return;
    co_await testing::Write(s, "HTTP/1.1 200 OK\r\nContent-Length: 2097152\r\n\r\n");
    co_await testing::Write(s, std::string(2 << 20, ' '));
  });
  RspamdOptions o = Options(peer.port());
  o.max_reply = 1 << 20;
  RspamdClient client(io_.get_executor(), o);
  auto r = CheckOnce(client);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "reply too large");
}

TEST_F(RspamdClientTest, ConcurrencyLimitHoldsRequestsInTheClient) {
  std::size_t serving = 0, max_serving = 0;
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    while (co_await ReadRequest(s, buffer)) {
      max_serving = std::max(max_serving, ++serving);
      co_await testing::Sleep(std::chrono::milliseconds(30));
      --serving;
      co_await testing::Write(s, Response(kClean));
    }
  });
  RspamdOptions o = Options(peer.port());
  o.max_concurrency = 2;
  o.timeout = std::chrono::seconds(5);
  RspamdClient client(io_.get_executor(), o);
  std::vector<int> order;
  int ok = 0;
  for (int i = 0; i < 7; ++i) {
    client.Check({}, message_, [&, i](base::Result<SpamResult> r) {
      order.push_back(i);
      ok += r.ok();
    });
  }
  ASSERT_TRUE(RunUntil(io_, [&] { return order.size() == 7; }));
  EXPECT_EQ(ok, 7);
  EXPECT_EQ(peer.max_open(), 2u);
  EXPECT_EQ(max_serving, 2u);
}

TEST_F(RspamdClientTest, WaitingRequestsStartInOrder) {
  std::vector<std::string> seen;
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    while (auto r = co_await ReadRequest(s, buffer)) {
      std::size_t at = r->head.find("Queue-Id: ");
      seen.push_back(r->head.substr(at + 10, r->head.find("\r\n", at) - at - 10));
      co_await testing::Write(s, Response(kClean));
    }
  });
  RspamdOptions o = Options(peer.port());
  o.max_concurrency = 1;
  RspamdClient client(io_.get_executor(), o);
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) {
    Envelope e;
    e.mid = static_cast<std::uint64_t>(i);
    client.Check(e, message_, [&, i](base::Result<SpamResult>) { order.push_back(i); });
  }
  ASSERT_TRUE(RunUntil(io_, [&] { return order.size() == 5; }));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(seen, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
}

TEST_F(RspamdClientTest, StopRunsPendingCallbacksAndNoneAfter) {
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    co_await ReadRequest(s, buffer);
    co_await ReadRequest(s, buffer);  // never answers; ends when the client closes
  });
  RspamdOptions o = Options(peer.port());
  o.max_concurrency = 1;
  o.timeout = std::chrono::seconds(5);
  auto client = std::make_unique<RspamdClient>(io_.get_executor(), o);
  std::vector<std::string> errors;
  for (int i = 0; i < 3; ++i) {
    client->Check({}, message_, [&](base::Result<SpamResult> r) {
      errors.push_back(r.ok() ? "ok" : r.error().message);
    });
  }
  ASSERT_TRUE(RunUntil(io_, [&] { return peer.accepted() == 1 && client->in_flight() == 1; }));
  client->Stop();
  EXPECT_EQ(errors, (std::vector<std::string>{"stopped", "stopped", "stopped"}));
  // The running request's connection is closed at once, not left to its deadline.
  EXPECT_TRUE(RunUntil(
      io_, [&] { return peer.closed() == 1; }, std::chrono::seconds(2)));
  client.reset();
  RunUntil(
      io_, [] { return false; }, std::chrono::milliseconds(200));
  EXPECT_EQ(errors.size(), 3u);
}

TEST_F(RspamdClientTest, DestroyedClientRunsNoLaterCallback) {
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    if (co_await ReadRequest(s, buffer)) co_await testing::Write(s, Response(kClean));
  });
  auto client = std::make_unique<RspamdClient>(io_.get_executor(), Options(peer.port()));
  int calls = 0;
  client->Check({}, message_, [&](base::Result<SpamResult> r) {
    ++calls;
    EXPECT_FALSE(r.ok());
  });
  client.reset();  // before the request even started: its callback ran inside, with "stopped"
  EXPECT_EQ(calls, 1);
  RunUntil(
      io_, [] { return false; }, std::chrono::milliseconds(200));
  EXPECT_EQ(calls, 1);
}

TEST_F(RspamdClientTest, ProbePingsAndReportsUnavailable) {
  std::string target;
  FakePeer peer(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    if (auto r = co_await ReadRequest(s, buffer)) {
      target = r->head.substr(0, r->head.find("\r\n"));
      co_await testing::Write(s,
                              "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 6\r\n"
                              "Content-Type: text/plain\r\n\r\npong\r\n");
    }
  });
  RspamdClient client(io_.get_executor(), Options(peer.port()));
  std::optional<base::Status> status;
  client.Probe([&](base::Status s) { status = s; });
  ASSERT_TRUE(RunUntil(io_, [&] { return status.has_value(); }));
  EXPECT_TRUE(status->ok()) << status->error().message;
  EXPECT_EQ(target, "GET /ping HTTP/1.1");

  // A 200 that is not pong (another service on the port) fails the test.
  FakePeer other(io_, [&](tcp::socket& s) -> awaitable<void> {
    std::string buffer;
    if (co_await ReadRequest(s, buffer)) co_await testing::Write(s, Response("{}"));
  });
  RspamdClient wrong(io_.get_executor(), Options(other.port()));
  status.reset();
  wrong.Probe([&](base::Status s) { status = s; });
  ASSERT_TRUE(RunUntil(io_, [&] { return status.has_value(); }));
  ASSERT_FALSE(status->ok());
  EXPECT_EQ(status->error().message, "malformed reply: not pong");

  RspamdClient refused(io_.get_executor(), Options(testing::RefusingPort()));
  status.reset();
  refused.Probe([&](base::Status s) { status = s; });
  ASSERT_TRUE(RunUntil(io_, [&] { return status.has_value(); }));
  ASSERT_FALSE(status->ok());
  EXPECT_EQ(status->error().message, "connection refused");
}

}  // namespace
}  // namespace tidegate::engines
