// fake_peer.cc — see fake_peer.h.
#include "engines/testing/fake_peer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fstream>
#include <sstream>

#include "engines/verdicts.h"

namespace tidegate::engines::testing {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

FakePeer::FakePeer(asio::io_context& io, Handler handler)
    : io_(io), handler_(std::move(handler)), acceptor_(io) {
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, Accept(), asio::detached);
}

FakePeer::~FakePeer() {
  *alive_ = false;
  Close();
}

void FakePeer::Close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto& weak : sockets_) {
    if (auto socket = weak.lock()) socket->close(ignored);
  }
}

asio::awaitable<void> FakePeer::Accept() {
  auto alive = alive_;
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(as_tuple(use_awaitable));
    if (ec || !*alive) co_return;
    auto shared = std::make_shared<tcp::socket>(std::move(socket));
    sockets_.push_back(shared);
    ++accepted_;
    max_open_ = std::max(max_open_, ++open_now_);
    asio::co_spawn(io_, Serve(std::move(shared)), asio::detached);
  }
}

asio::awaitable<void> FakePeer::Serve(std::shared_ptr<tcp::socket> socket) {
  auto alive = alive_;
  Handler handler = handler_;
  co_await handler(*socket);
  if (!*alive) co_return;
  boost::system::error_code ignored;
  socket->close(ignored);
  --open_now_;
}

bool RunUntil(asio::io_context& io, const std::function<bool()>& done,
              std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(10));
  }
  return done();
}

std::uint16_t RefusingPort() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

void Reset(tcp::socket& socket) {
  boost::system::error_code ignored;
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
}

asio::awaitable<std::string> ReadUntil(tcp::socket& socket, std::string& buffer,
                                       std::string_view delimiter) {
  auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer),
                                                 std::string(delimiter), as_tuple(use_awaitable));
  if (ec) co_return std::string();
  std::string out = buffer.substr(0, n);
  buffer.erase(0, n);
  co_return out;
}

asio::awaitable<std::string> ReadExactly(tcp::socket& socket, std::string& buffer, std::size_t n) {
  while (buffer.size() < n) {
    char chunk[65536];
    auto [ec, got] = co_await socket.async_read_some(asio::buffer(chunk), as_tuple(use_awaitable));
    if (ec) break;
    buffer.append(chunk, got);
  }
  std::string out = buffer.substr(0, std::min(n, buffer.size()));
  buffer.erase(0, out.size());
  co_return out;
}

asio::awaitable<bool> Write(tcp::socket& socket, std::string data) {
  auto [ec, n] = co_await asio::async_write(socket, asio::buffer(data), as_tuple(use_awaitable));
  co_return !ec;
}

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(TIDEGATE_ENGINES_TESTDATA) + "/" + name, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  EXPECT_FALSE(out.str().empty()) << name;
  return out.str();
}

void ExpectTimedOut(const std::string& message, std::chrono::steady_clock::duration took,
                    std::chrono::milliseconds timeout) {
  EXPECT_EQ(message, "timed out after " + DescribeDuration(timeout.count()));
  EXPECT_GE(took, timeout);
  EXPECT_LT(took, std::chrono::seconds(3));
}

asio::awaitable<void> Sleep(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(as_tuple(use_awaitable));
}

}  // namespace tidegate::engines::testing
