// etcd_client.cc — see etcd_client.h.
#include "cluster/etcd_client.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <variant>

namespace tidegate::cluster {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::as_tuple;
using asio::use_awaitable;
using base::MakeError;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxReply = std::size_t{64} << 20;
constexpr std::string_view kAuthFailed = "authentication failed: ";

struct Endpoint {
  bool tls = false;
  std::string host, port;  // host without brackets
  std::string url;         // as configured, for messages
};

base::Result<Endpoint> ParseEndpoint(std::string_view url) {
  Endpoint e;
  e.url = std::string(url);
  std::string_view rest = url;
  if (rest.substr(0, 7) == "http://") {
    rest.remove_prefix(7);
  } else if (rest.substr(0, 8) == "https://") {
    rest.remove_prefix(8);
    e.tls = true;
  } else {
    return MakeError(fmt::format("{}: not an http:// or https:// URL", url));
  }
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string_view host = rest, port = e.tls ? "443" : "80";
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return MakeError(fmt::format("{}: bad host", url));
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return MakeError(fmt::format("{}: bad port", url));
      port = after.substr(1);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos ||
      host.find_first_of("/ \r\n\t@") != std::string_view::npos) {
    return MakeError(fmt::format("{}: bad host or port", url));
  }
  e.host = std::string(host);
  e.port = std::string(port);
  return e;
}

std::string HostHeader(const Endpoint& e) {
  bool v6 = e.host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}", v6 ? "[" : "", e.host, v6 ? "]" : "", e.port);
}

base::Result<std::shared_ptr<ssl::context>> MakeTlsContext(const EtcdOptions& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (o.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(o.ca_file, ec);
  }
  if (ec) return MakeError(fmt::format("TLS CA file {}: {}", o.ca_file, ec.message()));
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (!o.certificate.empty() || !o.key.empty()) {
    ctx->use_certificate_chain_file(o.certificate, ec);
    if (ec) return MakeError(fmt::format("TLS certificate {}: {}", o.certificate, ec.message()));
    ctx->use_private_key_file(o.key, ssl::context::pem, ec);
    if (ec) return MakeError(fmt::format("TLS key {}: {}", o.key, ec.message()));
  }
  return ctx;
}

// SNI for a name, and the peer name the certificate must match (a DNS name or an IP SAN).
bool PrepareTls(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (!ec) return X509_VERIFY_PARAM_set1_ip_asc(param, ip.to_string().c_str()) == 1;
  SSL_set_tlsext_host_name(ssl, host.c_str());
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1;
}

std::string Reason(const boost::system::error_code& ec) {
  if (ec == asio::error::connection_refused) return "connection refused";
  if (ec == asio::error::connection_reset) return "connection reset";
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == http::error::partial_message || ec == ssl::error::stream_truncated) {
    return "connection closed";
  }
  if (ec.category() == asio::error::get_ssl_category()) return "TLS: " + ec.message();
  return ec.message();
}

}  // namespace

struct EtcdClient::State {
  asio::any_io_executor executor;
  EtcdOptions options;
  std::vector<base::Result<Endpoint>> endpoints;
  std::optional<base::Result<std::shared_ptr<ssl::context>>> tls;  // made on first https use
  std::size_t preferred = 0;
  std::string token;  // the auth token in use, "" = none yet
  bool stopped = false;
  std::uint64_t next_id = 0;
  std::map<std::uint64_t, std::function<void()>> aborts;  // connections in flight
};

namespace {

using State = EtcdClient::State;

// One connection to one endpoint: resolve, connect, TLS, then HTTP. Abort() (a deadline, an
// idle watch, Stop()) closes the socket, which completes every pending operation with an error;
// why is kept for the message.
class Connection {
 public:
  enum class Why { kNone, kTimeout, kIdle, kStopped };

  Connection(std::shared_ptr<State> state, const Endpoint& endpoint)
      : state_(std::move(state)),
        endpoint_(endpoint),
        resolver_(state_->executor),
        socket_(state_->executor),
        timer_(state_->executor) {
    id_ = state_->next_id++;
    state_->aborts.emplace(id_, [this] { Abort(Why::kStopped); });
    alive_ = std::make_shared<bool>(true);
  }
  ~Connection() {
    state_->aborts.erase(id_);
    timer_.cancel();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Why why() const { return why_; }

  // Arms (or re-arms) the deadline; on expiry the connection is aborted with `why`.
  void Deadline(std::chrono::milliseconds after, Why why) {
    timer_.expires_after(after);
    // The handler may be queued already when the connection goes away: it checks `alive`.
    timer_.async_wait(
        [this, why, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
          if (!ec && alive.lock()) Abort(why);
        });
  }

  void Abort(Why why) {
    if (why_ == Why::kNone) why_ = why;
    resolver_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  // The error text for a failed operation: why it was aborted, else the socket's reason.
  std::string Failure(const boost::system::error_code& ec, std::chrono::milliseconds timeout) {
    switch (why_) {
      case Why::kStopped:
        return "stopped";
      case Why::kTimeout:
        return fmt::format("timed out after {} ms", timeout.count());
      case Why::kIdle:
        return fmt::format("no message for {} ms", timeout.count());
      case Why::kNone:
        break;
    }
    return Reason(ec);
  }

  asio::awaitable<base::Status> Open(std::chrono::milliseconds timeout) {
    auto [resolve_ec, results] =
        co_await resolver_.async_resolve(endpoint_.host, endpoint_.port, as_tuple(use_awaitable));
    if (resolve_ec || why_ != Why::kNone) {
      if (why_ != Why::kNone) co_return MakeError(Failure(resolve_ec, timeout));
      co_return MakeError(fmt::format("cannot resolve {}", endpoint_.host));
    }
    auto [connect_ec, ep] = co_await asio::async_connect(socket_, results, as_tuple(use_awaitable));
    if (connect_ec || why_ != Why::kNone) co_return MakeError(Failure(connect_ec, timeout));
    if (!endpoint_.tls) co_return base::Status::Ok();
    if (!state_->tls) state_->tls = MakeTlsContext(state_->options);
    if (!*state_->tls) co_return state_->tls->error();
    tls_.emplace(socket_, ***state_->tls);
    if (!PrepareTls(tls_->native_handle(), endpoint_.host)) {
      co_return MakeError("cannot set the TLS peer name " + endpoint_.host);
    }
    auto [hs_ec] =
        co_await tls_->async_handshake(ssl::stream_base::client, as_tuple(use_awaitable));
    if (hs_ec || why_ != Why::kNone) co_return MakeError(Failure(hs_ec, timeout));
    co_return base::Status::Ok();
  }

  http::request<http::string_body> MakeRequest(const std::string& target, std::string body,
                                               bool with_token) const {
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, HostHeader(endpoint_));
    req.set(http::field::user_agent, "tidegate");
    req.set(http::field::content_type, "application/json");
    if (with_token && !state_->token.empty()) req.set(http::field::authorization, state_->token);
    req.keep_alive(false);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
  }

  template <typename Message>
  asio::awaitable<boost::system::error_code> Write(Message& req) {
    return Run([&req](auto& stream, auto token) { return http::async_write(stream, req, token); });
  }

  template <typename Parser>
  asio::awaitable<boost::system::error_code> Read(Parser& parser) {
    return Run([this, &parser](auto& stream, auto token) {
      return http::async_read(stream, buffer_, parser, token);
    });
  }

  template <typename Parser>
  asio::awaitable<boost::system::error_code> ReadSome(Parser& parser) {
    return Run([this, &parser](auto& stream, auto token) {
      return http::async_read_some(stream, buffer_, parser, token);
    });
  }

  template <typename Parser>
  asio::awaitable<boost::system::error_code> ReadHeader(Parser& parser) {
    return Run([this, &parser](auto& stream, auto token) {
      return http::async_read_header(stream, buffer_, parser, token);
    });
  }

 private:
  // Starts `op(stream, token)` on the TLS stream or the plain socket; → its error code.
  template <typename Op>
  asio::awaitable<boost::system::error_code> Run(Op op) {
    if (tls_) {
      auto [ec, n] = co_await op(*tls_, as_tuple(use_awaitable));
      co_return ec;
    }
    auto [ec, n] = co_await op(socket_, as_tuple(use_awaitable));
    co_return ec;
  }

  std::shared_ptr<State> state_;
  const Endpoint& endpoint_;
  tcp::resolver resolver_;
  tcp::socket socket_;
  std::optional<ssl::stream<tcp::socket&>> tls_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::uint64_t id_ = 0;
  Why why_ = Why::kNone;
  std::shared_ptr<bool> alive_;
};

struct Reply {
  int status = 0;
  std::string body;
};

// One POST on one endpoint within request_timeout. An Error: no complete reply.
asio::awaitable<base::Result<Reply>> Exchange(std::shared_ptr<State> state,
                                              const Endpoint& endpoint, std::string target,
                                              std::string body, bool with_token) {
  const auto timeout = state->options.request_timeout;
  Connection conn(state, endpoint);
  conn.Deadline(timeout, Connection::Why::kTimeout);
  auto opened = co_await conn.Open(timeout);
  if (!opened) co_return opened.error();
  auto req = conn.MakeRequest(target, std::move(body), with_token);
  auto write_ec = co_await conn.Write(req);
  // A peer may answer and close before reading everything: read the reply regardless.
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReply);
  auto read_ec = co_await conn.Read(parser);
  if (conn.why() != Connection::Why::kNone) co_return MakeError(conn.Failure(read_ec, timeout));
  if (read_ec) {
    if (read_ec == http::error::body_limit) co_return MakeError("reply too large");
    co_return MakeError(conn.Failure(write_ec && !parser.got_some() ? write_ec : read_ec, timeout));
  }
  Reply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  co_return reply;
}

// POST /v3/auth/authenticate on this endpoint; the token is kept in the state.
asio::awaitable<base::Status> Authenticate(std::shared_ptr<State> state, const Endpoint& endpoint) {
  auto reply = co_await Exchange(
      state, endpoint, "/v3/auth/authenticate",
      AuthenticateRequest(state->options.username, state->options.password), false);
  if (!reply) co_return reply.error();
  auto checked = CheckHttpReply(reply->status, reply->body);
  if (!checked) co_return MakeError(std::string(kAuthFailed) + checked.error().message);
  auto token = ParseAuthenticateReply(reply->body);
  if (!token) co_return MakeError(std::string(kAuthFailed) + token.error().message);
  state->token = std::move(*token);
  co_return base::Status::Ok();
}

std::string Joined(const std::vector<std::string>& failures) {
  if (failures.size() == 1) return "etcd " + failures.front();
  std::string text = "etcd: ";
  for (std::size_t i = 0; i < failures.size(); ++i) {
    if (i) text += "; ";
    text += failures[i];
  }
  return text;
}

// Whether a failure is the member's (try the next endpoint) rather than the request's answer.
bool TryNext(const base::Error& error) {
  return EtcdErrorCode(error) < 0 || IsMemberUnavailable(error);
}

// etcd refused the credentials (an answer, final), as opposed to not answering.
bool CredentialsRefused(const base::Error& error) {
  std::string_view m = error.message;
  if (m.substr(0, kAuthFailed.size()) != kAuthFailed) return false;
  return !TryNext(MakeError(std::string(m.substr(kAuthFailed.size()))));
}

// What one try on one endpoint came to.
template <typename T>
struct Tried {
  base::Result<T> result;
  bool next = false;  // the member's failure, not an answer: try the next endpoint
  bool bare = false;  // an error to return as it is, not prefixed with the endpoint
};

// Runs `try_on(endpoint)` on the endpoints in turn from the preferred one, authenticating first
// when a username is set and renewing a refused token once per endpoint, until a try answers;
// that endpoint becomes the preferred one. The errors name the endpoint(s), one line.
template <typename T, typename TryOn>
asio::awaitable<base::Result<T>> OverEndpoints(std::shared_ptr<State> state, TryOn try_on) {
  if (state->stopped) co_return MakeError("stopped");
  if (state->endpoints.empty()) co_return MakeError("etcd: no endpoints configured");
  const bool auth = !state->options.username.empty();
  std::vector<std::string> failures;
  const std::size_t n = state->endpoints.size();
  const std::size_t first = state->preferred;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t index = (first + i) % n;
    if (!state->endpoints[index]) {
      failures.push_back(state->endpoints[index].error().message);
      continue;
    }
    const Endpoint endpoint = *state->endpoints[index];
    bool renewed = false;
    while (true) {
      if (state->stopped) co_return MakeError("stopped");
      if (auth && state->token.empty()) {
        auto authenticated = co_await Authenticate(state, endpoint);
        if (state->stopped) co_return MakeError("stopped");
        if (!authenticated) {
          auto failure = fmt::format("{}: {}", endpoint.url, authenticated.error().message);
          // A refused password is the answer; a member that cannot answer is not.
          if (CredentialsRefused(authenticated.error())) co_return MakeError("etcd " + failure);
          failures.push_back(std::move(failure));
          break;
        }
        renewed = true;
      }
      Tried<T> tried = co_await try_on(endpoint);
      if (state->stopped) co_return MakeError("stopped");
      if (!tried.result && auth && !renewed && IsAuthTokenRefused(tried.result.error())) {
        state->token.clear();  // renew once, on this endpoint
        renewed = true;
        continue;
      }
      if (tried.next) {
        failures.push_back(fmt::format("{}: {}", endpoint.url, tried.result.error().message));
        break;
      }
      state->preferred = index;
      if (tried.result || tried.bare) co_return std::move(tried.result);
      co_return MakeError(fmt::format("etcd {}: {}", endpoint.url, tried.result.error().message));
    }
  }
  co_return MakeError(Joined(failures));
}

// One unary request (a POST to `target` on each endpoint in turn); the 200 reply's body parsed
// by `parse`.
template <typename T>
asio::awaitable<base::Result<T>> Call(std::shared_ptr<State> state, std::string target,
                                      std::string body,
                                      base::Result<T> (*parse)(std::string_view)) {
  co_return co_await OverEndpoints<T>(
      state, [&](const Endpoint& endpoint) -> asio::awaitable<Tried<T>> {
        auto reply = co_await Exchange(state, endpoint, target, body, true);
        if (!reply) co_return Tried<T>{reply.error(), true};
        auto checked = CheckHttpReply(reply->status, reply->body);
        if (!checked) co_return Tried<T>{checked.error(), TryNext(checked.error())};
        co_return Tried<T>{parse(reply->body)};
      });
}

// How a watch stream on one endpoint ended, besides its error.
struct WatchEnd {
  bool created = false;    // etcd confirmed the watch (before that, another endpoint may serve)
  bool compacted = false;  // start_revision was compacted: the error is the caller's answer
  bool canceled = false;   // etcd canceled the watch (cancel_reason in the error)
};

// The watch stream on one endpoint. Returns the error the watch ends with.
asio::awaitable<base::Status> WatchOn(std::shared_ptr<State> state, const Endpoint& endpoint,
                                      std::string body,
                                      const std::function<void(WatchBatch)>& on_batch,
                                      WatchEnd* end) {
  bool* created = &end->created;
  const auto timeout = state->options.request_timeout;
  const auto idle = state->options.idle_timeout;
  Connection conn(state, endpoint);
  conn.Deadline(timeout, Connection::Why::kTimeout);
  auto opened = co_await conn.Open(timeout);
  if (!opened) co_return opened.error();
  auto req = conn.MakeRequest("/v3/watch", std::move(body), true);
  auto write_ec = co_await conn.Write(req);
  if (write_ec) co_return MakeError(conn.Failure(write_ec, timeout));

  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  auto header_ec = co_await conn.ReadHeader(parser);
  if (header_ec) co_return MakeError(conn.Failure(header_ec, timeout));
  const int status = static_cast<int>(parser.get().result_int());

  WatchStreamDecoder decoder;
  std::string error_body;  // a non-200 reply's body
  char chunk[16384];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    auto ec = co_await conn.ReadSome(parser);
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = sizeof chunk - parser.get().body().size;
    if (ec) {
      co_return MakeError(conn.Failure(ec, *created ? idle : timeout));
    }
    if (got == 0) continue;
    if (status != 200) {
      if (error_body.size() < 65536) error_body.append(chunk, got);
      continue;
    }
    decoder.Feed(std::string_view(chunk, got));
    while (true) {
      auto next = decoder.Next();
      if (!next) co_return next.error();
      if (!*next) break;
      WatchMessage& m = **next;
      if (m.canceled) {
        if (m.compact_revision > 0) {
          end->compacted = true;
          co_return MakeError(fmt::format("compacted: oldest revision {}", m.compact_revision));
        }
        end->canceled = true;
        co_return MakeError("watch canceled: " + m.cancel_reason);
      }
      if (m.created && !*created) *created = true;
      if (!m.batch.events.empty()) {
        try {
          on_batch(std::move(m.batch));
        } catch (...) {
          co_return MakeError("the watch's batch handler failed");
        }
        if (state->stopped) co_return MakeError("stopped");
      }
    }
    // Data arrived: the stream is alive; from now on silence is judged by idle_timeout.
    if (*created) conn.Deadline(idle, Connection::Why::kIdle);
  }
  if (status != 200) {
    auto checked = CheckHttpReply(status, error_body);
    co_return checked ? MakeError(fmt::format("HTTP status {}", status)) : checked.error();
  }
  co_return MakeError("the watch stream ended");
}

}  // namespace

EtcdClient::EtcdClient(asio::any_io_executor executor, EtcdOptions options)
    : state_(std::make_shared<State>()) {
  state_->executor = std::move(executor);
  for (const auto& url : options.endpoints) state_->endpoints.push_back(ParseEndpoint(url));
  state_->options = std::move(options);
}

EtcdClient::~EtcdClient() { Stop(); }

void EtcdClient::Stop() {
  state_->stopped = true;
  auto aborts = state_->aborts;  // an abort may end a connection, which erases itself
  for (auto& [id, abort] : aborts) abort();
}

std::string EtcdClient::PrefixEnd(std::string_view prefix) { return cluster::PrefixEnd(prefix); }

asio::awaitable<base::Result<RangeResult>> EtcdClient::Range(std::string key, std::string range_end,
                                                             std::int64_t revision) {
  return Call<RangeResult>(state_, "/v3/kv/range", RangeRequest(key, range_end, revision),
                           &ParseRangeReply);
}

asio::awaitable<base::Result<std::int64_t>> EtcdClient::Put(std::string key, std::string value,
                                                            std::int64_t lease) {
  return Call<std::int64_t>(state_, "/v3/kv/put", PutRequest(key, value, lease), &ParsePutReply);
}

asio::awaitable<base::Result<TxnResult>> EtcdClient::Txn(std::vector<Compare> compares,
                                                         std::vector<Op> success,
                                                         std::vector<Op> failure) {
  return Call<TxnResult>(state_, "/v3/kv/txn", TxnRequest(compares, success, failure),
                         &ParseTxnReply);
}

asio::awaitable<base::Result<std::int64_t>> EtcdClient::LeaseGrant(std::chrono::seconds ttl) {
  return Call<std::int64_t>(state_, "/v3/lease/grant", LeaseGrantRequest(ttl.count()),
                            &ParseLeaseGrantReply);
}

asio::awaitable<base::Result<std::int64_t>> EtcdClient::LeaseKeepAlive(std::int64_t lease) {
  return Call<std::int64_t>(state_, "/v3/lease/keepalive", LeaseKeepAliveRequest(lease),
                            &ParseLeaseKeepAliveReply);
}

asio::awaitable<base::Status> EtcdClient::Watch(std::string key, std::string range_end,
                                                std::int64_t start_revision,
                                                std::function<void(WatchBatch)> on_batch) {
  // Endpoints are tried until one creates the watch; its stream's end is the answer.
  auto state = state_;  // the coroutine below may outlive the client
  std::string body = WatchCreateRequest(key, range_end, start_revision);
  auto ended = co_await OverEndpoints<std::monostate>(
      state, [&](const Endpoint& endpoint) -> asio::awaitable<Tried<std::monostate>> {
        WatchEnd end;
        auto status = co_await WatchOn(state, endpoint, body, on_batch, &end);
        base::Error error = status ? MakeError("the stream ended") : status.error();
        if (end.created || end.compacted) {
          if (!end.compacted) error.message = "watch: " + error.message;
          co_return Tried<std::monostate>{std::move(error), false, end.compacted};
        }
        // Not created: this member could not serve the watch, unless etcd refused it.
        const bool refused = !TryNext(error) || end.canceled;
        co_return Tried<std::monostate>{std::move(error), !refused};
      });
  if (ended) co_return MakeError("the stream ended");  // not reached: a watch ends in an error
  co_return ended.error();
}

}  // namespace tidegate::cluster
