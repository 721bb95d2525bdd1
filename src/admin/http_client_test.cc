// http_client_test.cc — the CLI's HTTP client against a real admin server.
#include "admin/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include "admin/server_test_util.h"

namespace tidegate::admin::testing {
namespace {

using std::chrono::milliseconds;

TEST_F(AdminServerTest, HttpCallWithBasicAuth) {
  StartServer();
  auto r = HttpCall("127.0.0.1", port_, "GET", "/api/v1/echo?x=1", kUser, kPassword);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(r->body)["user"], kUser);

  auto post =
      HttpCall("127.0.0.1", port_, "POST", "/api/v1/echo", kUser, kPassword, "{\"enable\":true}");
  ASSERT_TRUE(post);
  EXPECT_EQ(nlohmann::json::parse(post->body)["body"], "{\"enable\":true}");

  auto wrong = HttpCall("127.0.0.1", port_, "GET", "/api/v1/echo", kUser, "nope");
  ASSERT_TRUE(wrong);  // an answer, just not a welcome one
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(nlohmann::json::parse(wrong->body)["error"], "authentication required");
}

TEST(HttpCall, RefusedConnectionNamesTheAddressNotThePassword) {
  // A port that was just free: bind, read the number, close.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  std::uint16_t port = a.local_endpoint().port();
  a.close();
  auto r = HttpCall("127.0.0.1", port, "GET", "/api/v1/status", "admin", "pw-secret", "",
                    "application/json", milliseconds(2000));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos);
  EXPECT_EQ(r.error().message.find("pw-secret"), std::string::npos);
}

TEST(HttpCall, TimesOutOnASilentServer) {
  boost::asio::io_context io;
  // Listens (the kernel completes the handshake) but never answers.
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto start = std::chrono::steady_clock::now();
  auto r = HttpCall("127.0.0.1", a.local_endpoint().port(), "GET", "/", "admin", "pw", "",
                    "application/json", milliseconds(300));
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("did not answer"), std::string::npos) << r.error().message;
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, milliseconds(3000));
}

TEST(HttpCall, RefusesHeaderInjection) {
  EXPECT_FALSE(HttpCall("127.0.0.1", 1, "GET", "/x\r\nEvil: 1", "", ""));
  EXPECT_FALSE(HttpCall("127.0.0.1", 1, "GET", "no-slash", "", ""));
  EXPECT_FALSE(HttpCall("127.0.0.1", 1, "GET", "/", "admin", "pw\r\n"));
}

}  // namespace
}  // namespace tidegate::admin::testing
