// server_test_util.h — test support: a real admin Server on 127.0.0.1 port 0 with a few demo
// routes, run on its own io thread. The raw socket client is http/testing/raw_client.h.
//
// Test-only. The fixture's helpers are called from the test thread; they reach the server only
// over sockets, or through OnIo() for its io-thread state.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "admin/http_client.h"
#include "admin/layout.h"
#include "admin/server.h"
#include "admin/text_codec.h"
#include "http/testing/raw_client.h"

namespace tidegate::admin::testing {

inline constexpr const char* kUser = "admin";
inline constexpr const char* kPassword = "correct-horse-battery";

using ::tidegate::http::testing::RawClient;
using ::tidegate::http::testing::RawResponse;

// What a browser holds after logging in.
struct Browser {
  std::string session;  // cookie value
  std::string csrf;     // the session's token, read from a rendered page
  std::string Cookie() const { return "tidegate_session=" + session; }
};

inline std::string SetCookieNamed(const ClientResponse& r, std::string_view name) {
  for (const auto& [key, value] : r.headers) {
    if (key == "set-cookie" && value.starts_with(std::string(name) + "=")) return value;
  }
  return {};
}

inline std::string CookieValueOf(const std::string& set_cookie) {
  std::size_t eq = set_cookie.find('=');
  std::size_t semi = set_cookie.find(';');
  return set_cookie.substr(eq + 1, semi - eq - 1);
}

inline std::string CsrfFromHtml(const std::string& html) {
  // No std::regex: GCC 12 warns inside it under the sanitizer build (-Werror).
  constexpr std::string_view kField = "name=\"csrf_token\" value=\"";
  std::size_t at = html.find(kField);
  if (at == std::string::npos) return {};
  std::string token = html.substr(at + kField.size(), 64);
  if (token.size() != 64 || token.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return {};
  }
  return token;
}

class AdminServerTest : public ::testing::Test {
 protected:
  void StartServer(const std::function<void(ServerOptions&)>& adjust = {}) {
    ServerOptions options;
    options.bind_host = "127.0.0.1";
    options.port = 0;
    options.user = kUser;
    options.password = kPassword;
    options.log = [this](std::string line) {
      std::lock_guard lock(mu_);
      logs_.push_back(std::move(line));
    };
    options.audit = [this](std::string line) {
      std::lock_guard lock(mu_);
      audits_.push_back(std::move(line));
    };
    if (adjust) adjust(options);
    server_ = std::make_unique<Server>(io_, options);
    RegisterDemoRoutes();
    if (extra_routes_) extra_routes_(*server_);
    base::Status started = server_->Start();
    ASSERT_TRUE(started) << started.error().message;
    port_ = server_->port();
    ASSERT_NE(port_, 0);
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (server_) server_->Stop();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  void RegisterDemoRoutes() {
    namespace asio = boost::asio;
    auto echo = [](Request& r) -> asio::awaitable<Response> {
      co_return Response::Json(200, {{"user", r.user},
                                     {"via_session", r.via_session},
                                     {"method", r.method},
                                     {"path", r.path},
                                     {"subpath", r.subpath},
                                     {"query", r.query},
                                     {"form", r.form},
                                     {"body", r.body},
                                     {"remote_ip", r.remote_ip}});
    };
    server_->Api("GET", "/api/v1/echo", echo);
    server_->Api("POST", "/api/v1/echo", [this, echo](Request& r) -> asio::awaitable<Response> {
      server_->Audit(r, "echo " + r.body);
      co_return co_await echo(r);
    });
    server_->Api("GET", "/api/v1/items/*", echo);
    server_->Api("GET", "/api/v1/items/special", [](Request&) -> asio::awaitable<Response> {
      co_return Response::Json(200, {{"special", true}});
    });
    server_->Api("GET", "/api/v1/slow", [](Request&) -> asio::awaitable<Response> {
      asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
      co_await timer.async_wait(asio::use_awaitable);
      co_return Response::Json(200, {{"slow", true}});
    });
    server_->Api("GET", "/api/v1/throw", [](Request&) -> asio::awaitable<Response> {
      throw std::runtime_error("boom");
      co_return Response::Json(200, {});
    });
    server_->Page("GET", "/ui/status", [](Request& r) -> asio::awaitable<Response> {
      co_return Response::Html(200, Layout(r, "Delivery Status", "<p>figures</p>"));
    });
    server_->Page("POST", "/ui/tdc", [](Request& r) -> asio::awaitable<Response> {
      co_return Response::Html(
          200, Layout(r, "Saved", "<p>saved " + HtmlEscape(r.field("address")) + "</p>"));
    });
  }

  ClientRequest Req(std::string method, std::string target) const {
    ClientRequest r;
    r.port = port_;
    r.method = std::move(method);
    r.target = std::move(target);
    r.timeout = std::chrono::seconds(10);
    return r;
  }

  ClientResponse Call(const ClientRequest& request) const {
    auto r = HttpCall(request);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : ClientResponse{};
  }

  ClientResponse CallBasic(std::string method, std::string target, std::string body = "") const {
    ClientRequest r = Req(std::move(method), std::move(target));
    r.user = kUser;
    r.password = kPassword;
    r.body = std::move(body);
    return Call(r);
  }

  // The login flow a browser goes through; expects it to succeed.
  Browser LogIn() {
    Browser b;
    ClientResponse form = Call(Req("GET", "/login"));
    EXPECT_EQ(form.status, 200);
    std::string login_token = CsrfFromHtml(form.body);
    EXPECT_EQ(CookieValueOf(SetCookieNamed(form, "tidegate_login")), login_token);
    ClientRequest post = Req("POST", "/login");
    post.content_type = "application/x-www-form-urlencoded";
    post.headers.emplace_back("Cookie", "tidegate_login=" + login_token);
    post.body = "csrf_token=" + login_token + "&user=" + kUser +
                "&password=" + PercentEncode(kPassword) + "&next=%2Fui%2Fstatus";
    ClientResponse done = Call(post);
    EXPECT_EQ(done.status, 303);
    b.session = CookieValueOf(SetCookieNamed(done, "tidegate_session"));
    ClientRequest page = Req("GET", "/ui/status");
    page.headers.emplace_back("Cookie", b.Cookie());
    ClientResponse status = Call(page);
    EXPECT_EQ(status.status, 200);
    b.csrf = CsrfFromHtml(status.body);
    EXPECT_EQ(b.csrf.size(), 64u);
    return b;
  }

  ClientRequest AsBrowser(const Browser& b, std::string method, std::string target) const {
    ClientRequest r = Req(std::move(method), std::move(target));
    r.headers.emplace_back("Cookie", b.Cookie());
    return r;
  }

  // Runs f on the io thread and returns its result (for io-thread-only state such as stats()).
  template <typename F>
  auto OnIo(F f) {
    std::promise<decltype(f())> promise;
    boost::asio::post(io_, [&] { promise.set_value(f()); });
    return promise.get_future().get();
  }

  std::vector<std::string> Logs() {
    std::lock_guard lock(mu_);
    return logs_;
  }
  std::vector<std::string> Audits() {
    std::lock_guard lock(mu_);
    return audits_;
  }

  boost::asio::io_context io_;
  // Routes a test adds before the server starts (e.g. the webui module's pages).
  std::function<void(Server&)> extra_routes_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<std::string> logs_;
  std::vector<std::string> audits_;
};

}  // namespace tidegate::admin::testing
