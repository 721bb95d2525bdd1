// http_message.h — Request and Response as the admin server's handlers see them, and the
// Handler signature.
//
// A Request is built by the Server for one HTTP request after it passed the Host check and
// authentication; the handler owns it for the duration of its call (it may co_await). A Response
// is a plain value the handler returns; the Server adds the security headers (no-store, nosniff,
// DENY framing, CSP) to every response and drops any header whose name or value could split the
// response (CR, LF, NUL). Plain values: safe to move between threads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tidegate::admin {

struct Request {
  std::string method;                        // "GET", "POST", ...
  std::string target;                        // as received: path and query, still encoded
  std::string path;                          // percent-decoded, without the query
  std::string subpath;                       // for "/prefix/*" routes: the part after "/prefix/"
  std::map<std::string, std::string> query;  // decoded
  std::string body;
  std::map<std::string, std::string> form;  // parsed application/x-www-form-urlencoded body
  std::string content_type;                 // the header, as sent
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string user;                                          // the authenticated user
  bool via_session = false;  // cookie (Web UI) rather than HTTP Basic
  std::string csrf_token;    // the session's token, for rendering forms
  std::string remote_ip;

  // The first header of that name (case-insensitive), or "".
  std::string header(std::string_view name) const;
  // A query parameter or "" (convenience for handlers).
  std::string param(std::string_view name) const;
  // A form field or "".
  std::string field(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  // `j` serialized; invalid UTF-8 in strings is replaced, never thrown about.
  static Response Json(int status, const nlohmann::json& j);
  static Response Html(int status, std::string html);
  static Response Text(int status, std::string text);
  // 302 by default; 303 after a form post (POST-redirect-GET). `location` must be a path on this
  // server or an absolute URL; CR/LF in it are removed.
  static Response Redirect(std::string location, int status = 302);
  // {"error": message}. Messages are shown to the client: never put a secret in one.
  static Response Error(int status, std::string message);
};

// A route's handler. Runs on the admin server's io thread; may co_await (e.g. a config commit).
// An exception escaping it becomes a 500 with a generic message (and a log line).
using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

}  // namespace tidegate::admin
