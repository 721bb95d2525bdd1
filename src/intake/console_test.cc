#include "intake/console.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <regex>

#include "http/testing/raw_client.h"
#include "intake/console_pages.h"
#include "spool/testing/test_util.h"
#include "telemetry/mail_log.h"

namespace tidegate::intake {
namespace {

namespace http = boost::beast::http;
namespace http_testing = ::tidegate::http::testing;
using spool::testing::TempDir;

// "admin:s3cret" and "admin:wrong".
constexpr const char* kGoodAuth = "Basic YWRtaW46czNjcmV0";
constexpr const char* kBadAuth = "Basic YWRtaW46d3Jvbmc=";

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cfg = config::ParseIntakeConfig(
        "hostname: intake.example.net\nlisten: 127.0.0.1:0\ndata_dir: " + dir_.path() +
            "\naccounts:\n  - {name: demo, intake_address: aaaa@intake.example.net}\n",
        dir_.path() + "/intake.yaml");
    ASSERT_TRUE(cfg) << cfg.error().message;
    config_ = *cfg;
    store_ = Store::Open(dir_.path(), &base::PosixFilesystem()).value();
    accounts_ = AccountDirectory::Load(*config_, store_.get(), &clock_).value();
    telemetry::MailLogOptions options;
    options.path = dir_.path() + "/mail_logs/mail.current";
    log_ = telemetry::MailLog::Open(options).value();
    console_ = std::make_unique<Console>(
        ConsoleOptions{.bind = {"127.0.0.1", 0}, .user = "admin", .password = "s3cret"},
        store_.get(), accounts_.get(), log_.get());
  }

  HttpResponse Get(const std::string& target, const char* auth = kGoodAuth,
                   const std::string& cookie = "") {
    HttpRequest req{http::verb::get, target, 11};
    if (auth) req.set(http::field::authorization, auth);
    if (!cookie.empty()) req.set(http::field::cookie, cookie);
    return console_->Handle(req);
  }

  HttpResponse Post(const std::string& target, const std::string& body, const std::string& cookie,
                    const char* auth = kGoodAuth) {
    HttpRequest req{http::verb::post, target, 11};
    req.set(http::field::authorization, auth);
    req.set(http::field::content_type, "application/x-www-form-urlencoded");
    if (!cookie.empty()) req.set(http::field::cookie, cookie);
    req.body() = body;
    return console_->Handle(req);
  }

  // The session cookie and CSRF token a browser gets from the setup page.
  std::pair<std::string, std::string> LoadSetupForm() {
    HttpResponse page = Get("/setup");
    EXPECT_EQ(page.result(), http::status::ok);
    std::string set_cookie(page[http::field::set_cookie]);
    std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
    std::smatch m;
    const std::string body = page.body();
    const std::regex token("name=\"csrf_token\" value=\"([0-9a-f]+)\"");
    EXPECT_TRUE(std::regex_search(body, m, token));
    return {cookie, m.size() > 1 ? m[1].str() : ""};
  }

  void StoreMessage(std::uint64_t id, const std::string& subject) {
    MessageRecord m;
    m.id = id;
    m.account = "demo";
    m.received_at = clock_.Now();
    m.remote_ip = "192.0.2.7";
    m.sender = "alice@example.org";
    m.recipients = {"bob@example.com"};
    m.subject = subject;
    m.message_id = "<q1@example.org>";
    m.journal = true;
    ASSERT_TRUE(store_->SaveMessage(m, "Subject: " + subject + "\r\nX-A: <b>\r\n\r\nbody\r\n"));
  }

  TempDir dir_;
  base::FakeClock clock_;
  std::shared_ptr<const config::IntakeConfig> config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<AccountDirectory> accounts_;
  std::unique_ptr<telemetry::MailLog> log_;
  std::unique_ptr<Console> console_;
};

TEST_F(ConsoleTest, NothingAnswersWithoutTheRightCredentials) {
  for (const char* target : {"/", "/setup", "/accounts/demo", "/api/v1/accounts",
                             "/api/v1/messages?account=demo", "/no/such/page"}) {
    for (const char* auth : {static_cast<const char*>(nullptr), kBadAuth, "Basic !!!",
                             "Bearer YWRtaW46czNjcmV0", "Basic YWRtaW46czNjcmV0eA=="}) {
      HttpResponse res = Get(target, auth);
      EXPECT_EQ(res.result(), http::status::unauthorized) << target << " " << (auth ? auth : "");
      EXPECT_NE(res[http::field::www_authenticate].find("Basic realm="), std::string::npos);
      EXPECT_EQ(res.body().find("aaaa@intake"), std::string::npos);
    }
  }
  EXPECT_EQ(Post("/setup", "name=x", "", kBadAuth).result(), http::status::unauthorized);
  EXPECT_EQ(Get("/").result(), http::status::ok);
}

TEST_F(ConsoleTest, ApiListsAccountsAndMessages) {
  StoreMessage(5, "quarterly numbers");
  HttpResponse accounts = Get("/api/v1/accounts");
  ASSERT_EQ(accounts.result(), http::status::ok);
  auto list = nlohmann::json::parse(accounts.body());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "demo");
  EXPECT_EQ(list[0]["intake_address"], "aaaa@intake.example.net");
  EXPECT_EQ(list[0]["messages"], 1);

  HttpResponse messages = Get("/api/v1/messages?account=demo");
  ASSERT_EQ(messages.result(), http::status::ok);
  EXPECT_EQ(messages[http::field::content_type], "application/json");
  auto msgs = nlohmann::json::parse(messages.body());
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0]["id"], 5);
  EXPECT_EQ(msgs[0]["message_id"], "<q1@example.org>");
  EXPECT_EQ(msgs[0]["sender"], "alice@example.org");
  EXPECT_EQ(msgs[0]["recipients"], nlohmann::json::array({"bob@example.com"}));
  EXPECT_EQ(msgs[0]["remote_ip"], "192.0.2.7");
  EXPECT_EQ(msgs[0]["subject"], "quarterly numbers");
  EXPECT_EQ(msgs[0]["journal"], true);
  EXPECT_EQ(msgs[0]["received_at"], IsoTime(clock_.Now()));

  EXPECT_EQ(Get("/api/v1/messages?account=nobody").result(), http::status::not_found);
  EXPECT_EQ(Get("/api/v1/messages").result(), http::status::bad_request);
  auto one = nlohmann::json::parse(Get("/api/v1/messages/5").body());
  EXPECT_NE(one["headers"].get<std::string>().find("X-A: <b>"), std::string::npos);
}

TEST_F(ConsoleTest, PagesEscapeEveryValueAndRefresh) {
  StoreMessage(6, "<script>alert(1)</script>");
  HttpResponse page = Get("/accounts/demo");
  ASSERT_EQ(page.result(), http::status::ok);
  EXPECT_EQ(page.body().find("<script>"), std::string::npos);
  EXPECT_NE(page.body().find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.body().find("http-equiv=\"refresh\""), std::string::npos);
  EXPECT_NE(page.body().find("192.0.2.7"), std::string::npos);
  EXPECT_NE(page.body().find("&lt;q1@example.org&gt;"), std::string::npos);
  EXPECT_NE(page["Content-Security-Policy"].find("default-src 'none'"),
            std::string::npos);

  HttpResponse detail = Get("/messages/6");
  ASSERT_EQ(detail.result(), http::status::ok);
  EXPECT_NE(detail.body().find("X-A: &lt;b&gt;"), std::string::npos);
  EXPECT_EQ(detail.body().find("<script>"), std::string::npos);
  EXPECT_EQ(Get("/messages/99").result(), http::status::not_found);
  EXPECT_EQ(Get("/accounts/nobody").result(), http::status::not_found);
  EXPECT_EQ(HtmlEscape("a&<>\"'"), "a&amp;&lt;&gt;&quot;&#39;");
}

TEST_F(ConsoleTest, SetupNeedsTheSessionsCsrfToken) {
  const std::string answers =
      "name=acme&gateway=yes&header_choice=custom&custom_header=X-Real-IP&direction=incoming"
      "&visibility=visibility-only";
  auto [cookie, token] = LoadSetupForm();
  ASSERT_FALSE(cookie.empty());
  ASSERT_EQ(token.size(), 64u);
  // No token, a wrong token, or the right token without its session: 403, nothing created.
  EXPECT_EQ(Post("/setup", answers, cookie).result(), http::status::forbidden);
  EXPECT_EQ(Post("/setup", answers + "&csrf_token=" + std::string(64, 'a'), cookie).result(),
            http::status::forbidden);
  EXPECT_EQ(Post("/setup", answers + "&csrf_token=" + token, "").result(),
            http::status::forbidden);
  auto [other_cookie, other_token] = LoadSetupForm();
  EXPECT_EQ(Post("/setup", answers + "&csrf_token=" + token, other_cookie).result(),
            http::status::forbidden);
  EXPECT_FALSE(accounts_->FindByName("acme"));

  HttpResponse done = Post("/setup", answers + "&csrf_token=" + token, cookie);
  ASSERT_EQ(done.result(), http::status::ok) << done.body();
  auto account = accounts_->FindByName("acme");
  ASSERT_TRUE(account);
  EXPECT_EQ(account->remote_ip_header, "X-Real-IP");
  EXPECT_NE(done.body().find(account->intake_address), std::string::npos);
  EXPECT_NE(Get("/").body().find(account->intake_address), std::string::npos);
  EXPECT_NE(Get("/accounts/acme").body().find(account->intake_address), std::string::npos);

  // A second account with the same name is refused, with the form shown again.
  HttpResponse again = Post("/setup", answers + "&csrf_token=" + token, cookie);
  EXPECT_EQ(again.result(), http::status::bad_request);
  EXPECT_NE(again.body().find("already exists"), std::string::npos);
}

TEST_F(ConsoleTest, ServesOverTcp) {
  ASSERT_TRUE(console_->Start());
  ASSERT_NE(console_->port(), 0);
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), console_->port()});
  const std::string request =
      "GET /api/v1/accounts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  boost::asio::write(socket, boost::asio::buffer(request));
  std::string response;
  boost::system::error_code ec;
  boost::asio::read(socket, boost::asio::dynamic_buffer(response), ec);
  EXPECT_EQ(response.rfind("HTTP/1.1 401", 0), 0u) << response;
  EXPECT_NE(response.find("WWW-Authenticate: Basic"), std::string::npos);
  console_->Stop();
}

// Issue 14: the console served a request whose Transfer-Encoding was not exactly `chunked` and
// kept the connection, so the bytes after it ran as a second request (request smuggling).
TEST_F(ConsoleTest, SmugglingAttemptsAre400AndNothingAfterIsServed) {
  ASSERT_TRUE(console_->Start());
  const std::string second =
      "GET /api/v1/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: " + std::string(kGoodAuth) +
      "\r\n\r\n";
  for (std::string te : {"gzip", "identity", "xchunked", "chunked, identity"}) {
    for (bool with_length : {false, true}) {
      http_testing::RawClient raw(console_->port());
      ASSERT_TRUE(raw.connected());
      const std::string rest_of_head =
          with_length ? "Content-Length: 4\r\n\r\nname" : std::string("\r\n");
      raw.Send("POST /setup HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + "\r\n" +
               rest_of_head + second);
      auto r = raw.Read();
      ASSERT_TRUE(r) << te << " " << with_length;
      EXPECT_EQ(r->status, 400) << te << " " << with_length;
      EXPECT_TRUE(r->Has("Connection: close")) << te;
      std::string rest;
      EXPECT_TRUE(raw.WaitClosed(&rest)) << te;
      EXPECT_EQ(rest, "") << te << ": the second request was answered";
    }
  }
  console_->Stop();
}

// Issue 14: the console closed the connection without a word on malformed or oversized
// requests; it answers like the admin server now.
TEST_F(ConsoleTest, MalformedOrOversizedRequestsGetAReplyThenTheConnectionCloses) {
  ASSERT_TRUE(console_->Start());
  struct Case {
    std::string request;
    int status;
  };
  const std::string line = "POST /setup HTTP/1.1\r\nHost: x\r\n";
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n", 431},
      {line + "Content-Length: 4\r\nContent-Length: 5\r\n\r\nname", 400},
      {line + "Content-Length: 4\r\nContent-Length: 4\r\n\r\nname", 400},
      {line + "Transfer-Encoding : chunked\r\n\r\n4\r\nname\r\n0\r\n\r\n", 400},
      {line + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nname\r\n0\r\n\r\n", 400},
      {line + "Content-Length: " + std::to_string(128 * 1024) + "\r\n\r\n", 413},
      {"GET / HTTP/9.9\r\n\r\n", 400},
  };
  for (const Case& c : cases) {
    http_testing::RawClient raw(console_->port());
    raw.Send(c.request);  // may fail part way: the reply is what counts
    auto r = raw.Read();
    if (!r) {
      ADD_FAILURE() << "no reply (" << c.status << " expected) to " << c.request.substr(0, 80);
      continue;
    }
    EXPECT_EQ(r->status, c.status) << c.request.substr(0, 80);
    EXPECT_TRUE(r->Has("Connection: close")) << c.request.substr(0, 80);
    EXPECT_TRUE(r->Has("X-Content-Type-Options: nosniff")) << c.request.substr(0, 80);
    EXPECT_TRUE(raw.WaitClosed()) << c.request.substr(0, 80);
  }
  console_->Stop();
}

TEST(ConsoleAuth, ParsesBasicAndRejectsMalformedInput) {
  auto creds = ParseBasicAuthorization("basic YWRtaW46czNjcmV0");
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->user, "admin");
  EXPECT_EQ(creds->password, "s3cret");
  auto colon = ParseBasicAuthorization("Basic dTpwOnE=");  // "u:p:q": the password keeps ':'
  ASSERT_TRUE(colon);
  EXPECT_EQ(colon->password, "p:q");
  EXPECT_FALSE(ParseBasicAuthorization("Basic"));
  EXPECT_FALSE(ParseBasicAuthorization("Basic dXNlcg=="));  // no ':'
  EXPECT_FALSE(DecodeBase64("YW=u"));
  EXPECT_FALSE(DecodeBase64("abc"));
  EXPECT_EQ(DecodeBase64("YWI="), "ab");
  EXPECT_EQ(DecodeBase64(""), "");
}

TEST(ConsoleAuth, PasswordFileIsItsFirstLine) {
  TempDir dir;
  const std::string path = dir.path() + "/pw";
  ASSERT_TRUE(base::PosixFilesystem().WriteFileAtomic(path, "hunter2\nsecond line\n"));
  EXPECT_EQ(*ReadPasswordFile(path), "hunter2");
  ASSERT_TRUE(base::PosixFilesystem().WriteFileAtomic(path, "\n"));
  EXPECT_FALSE(ReadPasswordFile(path));
  EXPECT_FALSE(ReadPasswordFile(dir.path() + "/missing"));
}

}  // namespace
}  // namespace tidegate::intake
