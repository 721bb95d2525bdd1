// console.cc — see console.h.
#include "intake/console.h"

#include <fmt/format.h>

#include <charconv>
#include <map>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "http/front.h"
#include "intake/console_pages.h"
#include "mail/headers.h"
#include "telemetry/mail_log.h"

namespace tidegate::intake {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::string_view kSessionCookie = "tidegate_intake_session";
constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
constexpr std::size_t kMaxBodyBytes = 64 * 1024;
constexpr auto kIoTimeout = std::chrono::seconds(30);
constexpr int kMaxConnections = 64;
// The account page shows the newest messages; the API returns all of them.
constexpr std::size_t kPageMessages = 200;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding (and '+' as space in form data); nullopt on a malformed escape.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// key=value&... → first value of each key. Malformed pairs are skipped.
std::map<std::string, std::string> ParseForm(std::string_view s) {
  std::map<std::string, std::string> out;
  while (!s.empty()) {
    const size_t amp = s.find('&');
    std::string_view pair = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view() : s.substr(amp + 1);
    const size_t eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (key && value) out.emplace(std::move(*key), std::move(*value));
  }
  return out;
}

std::optional<std::string> CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view item = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const size_t eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == name) {
      return std::string(item.substr(eq + 1));
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> ParseId(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0) return std::nullopt;
  return v;
}

HttpResponse Make(const HttpRequest& req, http::status status, std::string content_type,
                  std::string body) {
  HttpResponse res{status, req.version()};
  res.set(http::field::server, "tidegate-intake");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Content-Security-Policy",
          "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
          "frame-ancestors 'none'; base-uri 'none'");
  res.body() = std::move(body);
  return res;
}

HttpResponse Html(const HttpRequest& req, http::status status, std::string body) {
  return Make(req, status, "text/html; charset=utf-8", std::move(body));
}

HttpResponse Json(const HttpRequest& req, http::status status, const nlohmann::json& value) {
  return Make(req, status, "application/json",
              value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

HttpResponse HtmlError(const HttpRequest& req, http::status status, std::string_view detail) {
  return Html(req, status,
              ErrorPage(static_cast<int>(status), std::string(http::obsolete_reason(status)),
                        detail));
}

HttpResponse JsonError(const HttpRequest& req, http::status status, std::string message) {
  return Json(req, status, nlohmann::json{{"error", std::move(message)}});
}

}  // namespace

Console::Console(ConsoleOptions options, Store* store, AccountDirectory* accounts,
                 telemetry::MailLog* log)
    : options_(std::move(options)),
      store_(store),
      accounts_(accounts),
      log_(log),
      auth_(options_.user, options_.password) {}

Console::~Console() { Stop(); }

HttpResponse Console::Handle(const HttpRequest& req) {
  if (!auth_.Check(req[http::field::authorization])) {
    HttpResponse res = HtmlError(req, http::status::unauthorized,
                                 "The intake console needs its user name and password.");
    res.set(http::field::www_authenticate, "Basic realm=\"tidegate intake\", charset=\"UTF-8\"");
    return res;
  }
  std::string session;
  bool new_session = false;
  auto cookie = CookieValue(req[http::field::cookie], kSessionCookie);
  if (cookie && ConsoleAuth::IsSessionId(*cookie)) {
    session = *cookie;
  } else {
    session = ConsoleAuth::NewSessionId();
    new_session = true;
  }
  HttpResponse res = Route(req, session);
  if (new_session) {
    res.set(http::field::set_cookie, fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict",
                                                 kSessionCookie, session));
  }
  return res;
}

HttpResponse Console::Route(const HttpRequest& req, const std::string& session) {
  std::string_view target = req.target();
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const auto query =
      ParseForm(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
  const bool get = req.method() == http::verb::get;
  const bool api = path.starts_with("/api/");

  if (path == "/setup") {
    if (req.method() == http::verb::post) return Setup(req, session);
    if (!get) return HtmlError(req, http::status::method_not_allowed, "Use GET or POST.");
    return Html(req, http::status::ok, SetupPage(auth_.CsrfToken(session), SetupForm{}, ""));
  }
  if (!get) {
    HttpResponse res = api ? JsonError(req, http::status::method_not_allowed, "use GET")
                           : HtmlError(req, http::status::method_not_allowed, "Use GET.");
    res.set(http::field::allow, "GET");
    return res;
  }

  auto counts = store_->CountByAccount();
  if (!counts) {
    return api ? JsonError(req, http::status::internal_server_error, counts.error().message)
               : HtmlError(req, http::status::internal_server_error, counts.error().message);
  }
  const auto count_of = [&](const std::string& name) -> std::uint64_t {
    auto it = counts->find(name);
    return it == counts->end() ? 0 : it->second;
  };

  if (path == "/" || path == "/accounts") {
    return Html(req, http::status::ok, AccountsPage(accounts_->List(), *counts));
  }
  if (path.starts_with("/accounts/")) {
    auto name = PercentDecode(path.substr(10), false);
    auto account = name ? accounts_->FindByName(*name) : std::nullopt;
    if (!account) return HtmlError(req, http::status::not_found, "No such account.");
    auto messages = store_->ListMessages(account->name, kPageMessages);
    if (!messages) {
      return HtmlError(req, http::status::internal_server_error, messages.error().message);
    }
    return Html(req, http::status::ok,
                MessagesPage(*account, *messages, count_of(account->name)));
  }
  if (path.starts_with("/messages/")) {
    std::string_view rest = path.substr(10);
    const bool raw = rest.ends_with("/raw");
    if (raw) rest.remove_suffix(4);
    auto id = ParseId(rest);
    auto found = id ? store_->FindMessage(*id) : base::Result<std::optional<MessageRecord>>(
                                                     std::optional<MessageRecord>());
    if (!found) return HtmlError(req, http::status::internal_server_error, found.error().message);
    if (!found->has_value()) return HtmlError(req, http::status::not_found, "No such message.");
    const MessageRecord& m = **found;
    auto bytes = store_->ReadRaw(m);
    if (!bytes) return HtmlError(req, http::status::internal_server_error, bytes.error().message);
    if (raw) {
      // Served as a download, never rendered: the content is whatever a sender wrote.
      HttpResponse res = Make(req, http::status::ok, "application/octet-stream", *bytes);
      res.set(http::field::content_disposition,
              fmt::format("attachment; filename=\"message-{}.eml\"", m.id));
      return res;
    }
    return Html(req, http::status::ok, MessagePage(m, mail::HeaderSection(*bytes)));
  }
  if (path == "/api/v1/accounts") {
    nlohmann::json list = nlohmann::json::array();
    for (const AccountRecord& a : accounts_->List()) {
      list.push_back(AccountJson(a, count_of(a.name)));
    }
    return Json(req, http::status::ok, list);
  }
  if (path == "/api/v1/messages") {
    auto it = query.find("account");
    if (it == query.end()) {
      return JsonError(req, http::status::bad_request, "the account parameter is required");
    }
    auto account = accounts_->FindByName(it->second);
    if (!account) return JsonError(req, http::status::not_found, "no such account");
    auto messages = store_->ListMessages(account->name);
    if (!messages) {
      return JsonError(req, http::status::internal_server_error, messages.error().message);
    }
    nlohmann::json list = nlohmann::json::array();
    for (const MessageRecord& m : *messages) list.push_back(MessageJson(m));
    return Json(req, http::status::ok, list);
  }
  if (path.starts_with("/api/v1/messages/")) {
    auto id = ParseId(path.substr(17));
    if (!id) return JsonError(req, http::status::not_found, "no such message");
    auto found = store_->FindMessage(*id);
    if (!found) return JsonError(req, http::status::internal_server_error, found.error().message);
    if (!found->has_value()) return JsonError(req, http::status::not_found, "no such message");
    nlohmann::json value = MessageJson(**found);
    auto bytes = store_->ReadRaw(**found);
    if (bytes) value["headers"] = std::string(mail::HeaderSection(*bytes));
    return Json(req, http::status::ok, value);
  }
  return api ? JsonError(req, http::status::not_found, "no such endpoint")
             : HtmlError(req, http::status::not_found, "No such page.");
}

HttpResponse Console::Setup(const HttpRequest& req, const std::string& session) {
  auto form = ParseForm(req.body());
  const auto field = [&](const char* name) -> std::string {
    auto it = form.find(name);
    return it == form.end() ? std::string() : it->second;
  };
  if (!auth_.CheckCsrf(session, field("csrf_token"))) {
    return HtmlError(req, http::status::forbidden,
                     "The form has expired or did not come from this console. Load it again.");
  }
  SetupForm answers;
  answers.name = field("name");
  answers.gateway_in_front = field("gateway") != "no";
  answers.custom_header = field("header_choice") == "custom";
  answers.header = field("custom_header");
  std::string error;
  if (field("gateway") != "yes" && field("gateway") != "no") {
    error = "Say whether a gateway is in front.";
  } else if (field("direction") != "incoming") {
    error = "The message direction can only be incoming.";
  } else if (field("visibility") != "visibility-only") {
    error = "This intake offers visibility only.";
  }
  if (error.empty()) {
    NewAccount request;
    request.name = answers.name;
    request.gateway_in_front = answers.gateway_in_front;
    request.remote_ip_header =
        answers.custom_header ? answers.header : std::string(kDefaultRemoteIpHeader);
    auto created = accounts_->Create(request);
    if (created) {
      log_->Info(fmt::format("Intake account {} created in the console, Message Intake Address {}",
                             created->name, created->intake_address));
      return Html(req, http::status::ok, SetupDonePage(*created));
    }
    error = created.error().message;
  }
  return Html(req, http::status::bad_request, SetupPage(auth_.CsrfToken(session), answers, error));
}

base::Status Console::Start() {
  io_ = std::make_unique<asio::io_context>(1);
  acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(*io_);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options_.bind.host, ec);
  if (ec) return base::MakeError("console: bad address " + options_.bind.host);
  asio::ip::tcp::endpoint endpoint(address, options_.bind.port);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return base::MakeError("console: cannot listen on " + options_.bind.str() + ": " +
                           ec.message());
  }
  port_ = acceptor_->local_endpoint(ec).port();
  AcceptLoop();
  thread_ = std::thread([this] { io_->run(); });
  return base::Status::Ok();
}

void Console::AcceptLoop() {
  asio::co_spawn(
      *io_,
      [this]() -> asio::awaitable<void> {
        while (acceptor_->is_open()) {
          auto [ec, socket] =
              co_await acceptor_->async_accept(asio::as_tuple(asio::use_awaitable));
          if (ec == asio::error::operation_aborted || !acceptor_->is_open()) break;
          if (ec) {
            // EMFILE and friends: back off briefly instead of spinning.
            asio::steady_timer pause(*io_, std::chrono::milliseconds(50));
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
          }
          if (connections_.load() >= kMaxConnections) {
            tidegate::http::RejectBusy(socket);
            continue;
          }
          asio::co_spawn(
              *io_,
              [this, socket = std::move(socket)]() mutable -> asio::awaitable<void> {
                ++connections_;
                beast::tcp_stream stream(std::move(socket));
                tidegate::http::FrontOptions front;
                front.limits.max_header_bytes = kMaxHeaderBytes;
                front.limits.max_body = kMaxBodyBytes;
                front.read_timeout = kIoTimeout;
                front.write_timeout = kIoTimeout;
                tidegate::http::Callbacks callbacks;
                callbacks.handle =
                    [this](HttpRequest& req) -> asio::awaitable<tidegate::http::Reply> {
                  co_return tidegate::http::Reply{Handle(req), false};
                };
                callbacks.error_reply = [](int status, std::string reason) {
                  HttpRequest req;
                  return Make(req, static_cast<http::status>(status), "text/plain; charset=utf-8",
                              reason + "\n");
                };
                co_await tidegate::http::ServeConnection(stream, front, callbacks);
                --connections_;
              },
              asio::detached);
        }
      },
      asio::detached);
}

void Console::Stop() {
  if (!io_) return;
  io_->stop();
  if (thread_.joinable()) thread_.join();
  // Destroying the io_context destroys the suspended connection coroutines while every member
  // they use is still alive.
  acceptor_.reset();
  io_.reset();
}

}  // namespace tidegate::intake
