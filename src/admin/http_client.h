// http_client.h — a small synchronous HTTP/1.1 client for the operator commands (CLI) that talk
// to the running gateway's admin API with HTTP Basic.
//
// Each call opens one connection, sends one request, reads one response and closes; it runs its
// own private io_context, so it may be called from any thread that is not an io_context thread
// of the caller (it blocks). Nothing throws. Errors name the address, never the password.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace tidegate::admin {

struct ClientResponse {
  int status = 0;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  // The first header of that name (case-insensitive), or "". With several (Set-Cookie) see
  // `headers`.
  std::string header(std::string_view name) const;
};

struct ClientRequest {
  std::string host = "127.0.0.1";  // IP literal or name
  std::uint16_t port = 8080;
  std::string method = "GET";
  std::string target = "/";  // path and query, already percent-encoded
  std::string user;          // with a user, an Authorization: Basic header is sent
  std::string password;
  std::string body;
  std::string content_type;  // sent with a body ("application/json" if empty)
  // Extra headers; a "Host" here replaces the default host:port.
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{30000};  // for the whole exchange, connect included
  std::size_t max_response_body = std::size_t{64} << 20;
};

// Performs the exchange. A response with any status is a success; an Error means no complete
// response arrived (refused, timed out, malformed, over max_response_body).
base::Result<ClientResponse> HttpCall(const ClientRequest& request);

// The CLI's shorthand: Basic auth with `user`/`password`.
base::Result<ClientResponse> HttpCall(const std::string& host, std::uint16_t port,
                                      const std::string& method, const std::string& target,
                                      const std::string& user, const std::string& password,
                                      const std::string& body = "",
                                      const std::string& content_type = "application/json",
                                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace tidegate::admin
