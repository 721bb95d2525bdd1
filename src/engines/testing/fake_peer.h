// fake_peer.h — test support: a scripted TCP peer on 127.0.0.1 (port 0) inside the test's own
// io_context, standing in for rspamd or clamd in the clients' unit tests. Each accepted
// connection runs the test's handler coroutine; the peer counts connections accepted, open now
// and open at most at once (what the concurrency tests assert on), and can close every socket.
//
// Single-threaded: the peer and the client under test share one io_context, run by the test with
// RunUntil() (which waits for an event, bounded in time, rather than sleeping). Also the tests'
// shared helpers: recorded replies (Testdata) and the deadline check (ExpectTimedOut).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

namespace tidegate::engines::testing {

class FakePeer {
 public:
  using Handler = std::function<boost::asio::awaitable<void>(boost::asio::ip::tcp::socket&)>;

  FakePeer(boost::asio::io_context& io, Handler handler);
  ~FakePeer();

  std::uint16_t port() const { return port_; }
  std::size_t accepted() const { return accepted_; }
  std::size_t open_now() const { return open_now_; }
  std::size_t max_open() const { return max_open_; }
  std::size_t closed() const { return accepted_ - open_now_; }

  // Closes the listener and every connection (handlers then end with errors).
  void Close();

 private:
  boost::asio::awaitable<void> Accept();
  boost::asio::awaitable<void> Serve(std::shared_ptr<boost::asio::ip::tcp::socket> socket);

  boost::asio::io_context& io_;
  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::list<std::weak_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::uint16_t port_ = 0;
  std::size_t accepted_ = 0, open_now_ = 0, max_open_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Runs `io` until `done()` holds or `limit` passes; returns done().
bool RunUntil(boost::asio::io_context& io, const std::function<bool()>& done,
              std::chrono::milliseconds limit = std::chrono::seconds(10));

// A port on 127.0.0.1 that refuses connections (bound once, then closed).
std::uint16_t RefusingPort();

// Resets the connection (RST) instead of closing it gracefully.
void Reset(boost::asio::ip::tcp::socket& socket);

// Reads until `delimiter` (included), or "" on error/EOF; `buffer` keeps what follows.
boost::asio::awaitable<std::string> ReadUntil(boost::asio::ip::tcp::socket& socket,
                                              std::string& buffer, std::string_view delimiter);
// Reads exactly `n` bytes (from `buffer` first), or fewer on error/EOF.
boost::asio::awaitable<std::string> ReadExactly(boost::asio::ip::tcp::socket& socket,
                                                std::string& buffer, std::size_t n);
// Writes `data`; false on error.
boost::asio::awaitable<bool> Write(boost::asio::ip::tcp::socket& socket, std::string data);
// The content of src/engines/testdata/<name> (replies recorded from the real engines).
std::string Testdata(const std::string& name);

// Expects `message` to be the deadline's reason for `timeout`, and the request to have taken at
// least `timeout` and well under 3 s (bounded: the deadline fired, nothing else ended it).
void ExpectTimedOut(const std::string& message, std::chrono::steady_clock::duration took,
                    std::chrono::milliseconds timeout);

// Waits `delay` on the socket's executor.
boost::asio::awaitable<void> Sleep(std::chrono::milliseconds delay);

}  // namespace tidegate::engines::testing
