// front.h — the HTTP/1.1 front both of tidegate's web servers (admin API/Web UI, intake console)
// put between a TCP connection and their request handler: it reads requests under limits and a
// deadline, applies the framing rules of http/framing.h before any parser acts on a head, answers
// refusals itself (400/413/431, always with `Connection: close`, then closes), handles
// `Expect: 100-continue` and keep-alive, and refuses connections over a server's limit with 503.
//
// Per connection, ServeConnection() loops: read a head (one deadline, read_timeout, covers the
// idle time before it and the whole request including its body), Frame() it, parse it with Beast
// under the same limits, check Beast saw the same framing, read the body, call the handler with
// no deadline (it may take its time), write the reply under write_timeout. A closed, reset or
// timed-out connection ends the loop without a reply. Before closing, the front half-closes and
// reads what the client still sends for a short while (bounded in time and bytes), so that the
// client reads the reply instead of a reset.
//
// Threads: everything runs on the stream's executor; callbacks run there too.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "http/framing.h"

namespace tidegate::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

struct FrontOptions {
  Limits limits;
  std::chrono::milliseconds read_timeout{10000};   // idle time plus one whole request
  std::chrono::milliseconds write_timeout{10000};  // one reply
  // The closing half-close: how long and how much of the client's remaining bytes to discard.
  std::chrono::milliseconds linger_time{2000};
  std::size_t linger_bytes = 2 << 20;
};

struct Reply {
  Response response;
  bool close = false;  // close the connection after this reply even if the client keeps it
};

struct Callbacks {
  // The server's request logic. The front sets keep-alive and Content-Length on the reply.
  std::function<boost::asio::awaitable<Reply>(Request&)> handle;
  // A refusal in the server's style (its security headers); `reason` is safe to show. The
  // front adds `Connection: close`. Empty: a plain text reply.
  std::function<Response(int status, std::string reason)> error_reply;
  // True while the server shuts down: no further request on this connection. Optional.
  std::function<bool()> stopping;
  // An operational line (a refused request and why). Optional; never given request bytes.
  std::function<void(std::string)> log;
};

// Serves requests on `stream` until the client or the server ends the connection; returns with
// the stream closed.
boost::asio::awaitable<void> ServeConnection(boost::beast::tcp_stream& stream,
                                             const FrontOptions& options,
                                             const Callbacks& callbacks);

// Answers a connection over the server's limit with 503 (Retry-After: 1) and closes it, without
// waiting: a fresh socket's send buffer takes the few bytes at once.
void RejectBusy(boost::asio::ip::tcp::socket& socket);

// A plain text reply (status line, Content-Type text/plain, no-store, nosniff, body `text`).
Response PlainReply(int status, std::string text);

}  // namespace tidegate::http
