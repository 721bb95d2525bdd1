#include "http/front.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <string>
#include <thread>

#include "http/testing/raw_client.h"

namespace tidegate::http {
namespace {

namespace asio = boost::asio;
using testing::RawClient;
using tcp = asio::ip::tcp;

// A front on 127.0.0.1:port 0 whose handler answers 200 with "<method> <target> <body>".
class FrontTest : public ::testing::Test {
 protected:
  void Start(FrontOptions options = {}) {
    options_ = options;
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    callbacks_.handle = [this](Request& request) -> asio::awaitable<Reply> {
      ++handled_;
      Response res{boost::beast::http::status::ok, request.version()};
      res.body() = std::string(request.method_string()) + " " + std::string(request.target()) +
                   " " + request.body();
      co_return Reply{std::move(res), request.target() == "/close"};
    };
    asio::co_spawn(
        io_,
        [this]() -> asio::awaitable<void> {
          for (;;) {
            tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
            asio::co_spawn(
                io_,
                [this, socket = std::move(socket)]() mutable -> asio::awaitable<void> {
                  boost::beast::tcp_stream stream(std::move(socket));
                  co_await ServeConnection(stream, options_, callbacks_);
                },
                asio::detached);
          }
        },
        asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::uint16_t port_ = 0;
  FrontOptions options_;
  Callbacks callbacks_;
  std::atomic<int> handled_{0};
  std::thread thread_;
};

constexpr const char* kSecond = "GET /second HTTP/1.1\r\nHost: x\r\n\r\n";

TEST_F(FrontTest, SmugglingAttemptsAre400AndTheRestIsNeverServed) {
  Start();
  for (std::string te : {"gzip", "identity", "xchunked", "chunked, identity"}) {
    for (bool with_length : {false, true}) {
      RawClient raw(port_);
      ASSERT_TRUE(raw.connected());
      std::string body = with_length ? "Content-Length: 3\r\n\r\nabc" : "\r\n";
      raw.Send("POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + "\r\n" + body +
               kSecond);
      auto r = raw.Read();
      ASSERT_TRUE(r) << te;
      EXPECT_EQ(r->status, 400) << te;
      EXPECT_TRUE(r->Has("Connection: close")) << te;
      std::string rest;
      EXPECT_TRUE(raw.WaitClosed(&rest)) << te;
      EXPECT_EQ(rest, "") << te;  // no second reply
    }
  }
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(FrontTest, OversizedHeadIs431AndTheClientReadsIt) {
  Start();
  RawClient raw(port_);
  // 1 MiB of header: the front answers after 16 KiB and reads (discards) the rest, so the
  // client's send completes and the reply is not lost to a reset.
  ASSERT_TRUE(
      raw.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n"));
  auto r = raw.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(r->Has("Connection: close"));
  EXPECT_TRUE(raw.WaitClosed());
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(FrontTest, BodiesKeepAliveAndLimits) {
  FrontOptions options;
  options.limits.max_body = 10;
  Start(options);
  RawClient raw(port_);
  // Pipelined: a Content-Length body, a chunked body, a plain GET.
  raw.Send(
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
      "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(raw.Read()->body, "POST /a abc");
  EXPECT_EQ(raw.Read()->body, "POST /b de");
  EXPECT_EQ(raw.Read()->body, "GET /c ");
  // The handler can end the connection.
  raw.Send("GET /close HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(kSecond));
  auto closing = raw.Read();
  ASSERT_TRUE(closing);
  EXPECT_TRUE(closing->Has("Connection: close"));
  std::string rest;
  EXPECT_TRUE(raw.WaitClosed(&rest));
  EXPECT_EQ(rest, "");

  // Over max_body: announced, or found while reading chunks.
  RawClient big(port_);
  big.Send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890");
  EXPECT_EQ(big.Read()->status, 413);
  EXPECT_TRUE(big.WaitClosed());
  RawClient chunks(port_);
  chunks.Send(
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n" +
      std::string(kSecond));
  EXPECT_EQ(chunks.Read()->status, 413);
  EXPECT_TRUE(chunks.WaitClosed(&rest));
  EXPECT_EQ(rest, "");
  // A malformed chunk is 400.
  RawClient bad_chunk(port_);
  bad_chunk.Send("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  EXPECT_EQ(bad_chunk.Read()->status, 400);
  EXPECT_TRUE(bad_chunk.WaitClosed());
  EXPECT_EQ(handled_.load(), 4);
}

TEST_F(FrontTest, IdleAndSlowClientsAreCutOffWithoutAReply) {
  FrontOptions options;
  options.read_timeout = std::chrono::milliseconds(200);
  Start(options);
  RawClient idle(port_);
  std::string rest;
  EXPECT_TRUE(idle.WaitClosed(&rest));
  EXPECT_EQ(rest, "");
  RawClient slow(port_);
  slow.Send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab");
  EXPECT_TRUE(slow.WaitClosed(&rest));
  EXPECT_EQ(rest, "");
  EXPECT_EQ(handled_.load(), 0);
}

}  // namespace
}  // namespace tidegate::http
