// call_ahead_test.cc — CallAhead against scripted SMTP servers on loopback (real TCP, the real
// resolver and transport as CallAhead::Create wires them).
#include "validation/call_ahead.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "delivery/dns_resolver_testing.h"

namespace tidegate::validation {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// What a scripted server answers; "" = never answers that command (a hung server).
struct ServerScript {
  std::string greeting = "220 fake.test ESMTP";
  std::string ehlo = "250-fake.test\r\n250 8BITMIME";
  std::string helo = "250 fake.test";
  std::string mail = "250 2.1.0 ok";
  std::string rcpt = "250 2.1.5 ok";
  bool hold_rcpt = false;  // RCPT replies wait until Release()
  std::shared_ptr<asio::ssl::context> tls =
      nullptr;  // set: STARTTLS offered, with this certificate
};

// A scripted SMTP server on 127.0.0.1 at a free port: records every command per connection and
// how many connections were open at once (open: from the accept until QUIT or the close).
class FakeSmtpServer {
 public:
  struct State {
    ServerScript script;
    std::vector<std::shared_ptr<std::vector<std::string>>> sessions;  // commands per connection
    int open = 0;
    int max_open = 0;
    int held = 0;          // RCPTs waiting for Release()
    int tls_sessions = 0;  // STARTTLS handshakes completed
    std::vector<std::shared_ptr<asio::steady_timer>> gates;
  };

  FakeSmtpServer(asio::io_context& io, ServerScript script)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        state_(std::make_shared<State>()) {
    state_->script = std::move(script);
    asio::co_spawn(io, Accept(), asio::detached);
  }
  ~FakeSmtpServer() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  State& state() { return *state_; }
  // The commands of connection i.
  std::vector<std::string> commands(std::size_t i) const { return *state_->sessions.at(i); }
  // Held RCPTs are answered now, later ones at once.
  void Release() {
    state_->script.hold_rcpt = false;
    for (auto& gate : state_->gates) gate->cancel();
  }

 private:
  asio::awaitable<void> Accept() {
    auto state = state_;  // the coroutine may outlive the server object
    while (true) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(acceptor_.get_executor(), Serve(state, std::move(socket)), asio::detached);
    }
  }

  static asio::awaitable<void> Serve(std::shared_ptr<State> state, tcp::socket socket) {
    auto commands = std::make_shared<std::vector<std::string>>();
    state->sessions.push_back(commands);
    ++state->open;
    state->max_open = std::max(state->max_open, state->open);
    bool counted = true;
    co_await Session(state, socket, *commands, counted);
    if (counted) --state->open;
  }

  static asio::awaitable<void> Session(std::shared_ptr<State> state, tcp::socket& socket,
                                       std::vector<std::string>& commands, bool& counted) {
    const ServerScript& script = state->script;
    if (script.greeting.empty() || !co_await Say(socket, script.greeting)) {
      std::string sink;
      co_await asio::async_read_until(socket, asio::dynamic_buffer(sink), "\x04", kUse);
      co_return;  // never greets: waits until the client closes
    }
    if (!co_await Commands(state, socket, commands, counted)) co_return;
    // STARTTLS was answered 220: the same loop goes on over TLS.
    asio::ssl::stream<tcp::socket&> tls(socket, *script.tls);
    auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::server, kUse);
    if (ec) co_return;
    ++state->tls_sessions;
    co_await Commands(state, tls, commands, counted);
  }

  template <typename Stream>
  static asio::awaitable<bool> Say(Stream& stream, const std::string& reply) {
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(reply + "\r\n"), kUse);
    co_return !ec;
  }

  // Answers commands until the connection ends (false) or STARTTLS was accepted (true).
  template <typename Stream>
  static asio::awaitable<bool> Commands(std::shared_ptr<State> state, Stream& stream,
                                        std::vector<std::string>& commands, bool& counted) {
    const ServerScript& script = state->script;
    std::string buffer;
    while (true) {
      auto [ec, n] =
          co_await asio::async_read_until(stream, asio::dynamic_buffer(buffer), "\r\n", kUse);
      if (ec) co_return false;
      std::string line = buffer.substr(0, n - 2);
      buffer.erase(0, n);
      commands.push_back(line);
      const std::string verb = line.substr(0, 4);
      std::string reply = "500 5.5.1 what";
      if (verb == "EHLO") {
        reply = script.ehlo;
        // Extensions follow the first line (our name).
        if (script.tls) reply.insert(reply.find("\r\n") + 2, "250-STARTTLS\r\n");
      }
      if (verb == "HELO") reply = script.helo;
      if (verb == "MAIL") reply = script.mail;
      if (verb == "STAR" && script.tls) {
        co_return co_await Say(stream, "220 2.0.0 go ahead");
      }
      if (verb == "RCPT") {
        if (script.hold_rcpt) {
          auto gate =
              std::make_shared<asio::steady_timer>(stream.get_executor(), Clock::time_point::max());
          state->gates.push_back(gate);
          ++state->held;
          co_await gate->async_wait(kUse);
          --state->held;
        }
        reply = script.rcpt;
      }
      if (verb == "QUIT") {
        // The client is done with this connection: no longer counted as open from here (its
        // close reaches us only after it may have opened the next one).
        --state->open;
        counted = false;
        reply = "221 2.0.0 bye";
      }
      if (verb == "DATA") reply = "354 go ahead";
      if (reply.empty()) continue;  // hung
      if (!co_await Say(stream, reply) || verb == "QUIT") co_return false;
    }
  }

  static constexpr auto kUse = asio::as_tuple(asio::use_awaitable);
  tcp::acceptor acceptor_;
  std::shared_ptr<State> state_;
};

// A loopback port where nothing listens (connections are refused).
std::uint16_t RefusedPort() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// A server TLS context with a fresh self-signed certificate (openssl req), or null.
std::shared_ptr<asio::ssl::context> SelfSignedContext() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("call_ahead_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string key = (dir / "key.pem").string();
  const std::string cert = (dir / "cert.pem").string();
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=localhost -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) return nullptr;
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert, ec);
  if (!ec) context->use_private_key_file(key, asio::ssl::context::pem, ec);
  std::filesystem::remove_all(dir);
  return ec ? nullptr : context;
}

mail::Address Addr(std::string local, std::string domain) {
  mail::Address a;
  a.local = std::move(local);
  a.domain = std::move(domain);
  return a;
}

class CallAheadTest : public ::testing::Test {
 protected:
  CallAheadTest() {
    config_.hostname = "gw.test";
    config_.dns.servers = {{"127.0.0.1", delivery::testing::UnusedUdpPort()}};
    config_.dns.timeout = 200ms;
    config_.recipient_validation.call_ahead = config::CallAheadValidation{
        .domains = {}, .timeout = 3s, .on_failure = config::OnLookupFailure::kTempFail};
  }

  void Route(const std::string& domain, std::vector<std::uint16_t> ports) {
    auto& hosts = config_.smtp_routes[domain];
    for (auto port : ports) hosts.push_back({"127.0.0.1", port});
  }
  void Make(std::size_t cap = CallAhead::kDefaultMaxPerNextHop) {
    auto made = CallAhead::Create(io_, config_, cap);
    ASSERT_TRUE(made) << made.error().message;
    call_ahead_ = std::move(*made);
  }
  // Runs the loop until `done` or `limit`.
  bool RunUntil(const std::function<bool()>& done, Clock::duration limit = 10s) {
    const auto deadline = Clock::now() + limit;
    while (!done() && Clock::now() < deadline) {
      if (io_.stopped()) io_.restart();
      io_.run_one_for(20ms);
    }
    return done();
  }
  // One lookup, run to its answer.
  std::optional<Answer> Find(const mail::Address& address) {
    std::optional<Answer> answer;
    call_ahead_->Find(address, [&answer](Answer a) { answer = std::move(a); });
    RunUntil([&] { return answer.has_value(); });
    return answer;
  }
  // Waits until every connection to `server` is closed (the probe's QUIT or close arrived).
  bool Closed(FakeSmtpServer& server) {
    return RunUntil([&] { return !server.state().sessions.empty() && server.state().open == 0; });
  }
  std::optional<Answer> ProbeOnce(ServerScript script, std::vector<std::string>* commands,
                                  const mail::Address& address = Addr("user", "probe.test"));

  asio::io_context io_;
  config::GatewayConfig config_;
  std::unique_ptr<CallAhead> call_ahead_;
};

const std::vector<std::string> kProbe = {"EHLO gw.test", "MAIL FROM:<>",
                                         "RCPT TO:<user@probe.test>", "QUIT"};

// One probe of `address` (a route to one server with `script`) run to its answer; the commands
// that server received, once the probe's connection is closed, in *commands.
std::optional<Answer> CallAheadTest::ProbeOnce(ServerScript script,
                                               std::vector<std::string>* commands,
                                               const mail::Address& address) {
  FakeSmtpServer server(io_, std::move(script));
  Route("probe.test", {server.port()});
  Make();
  auto answer = Find(address);
  EXPECT_TRUE(Closed(server)) << "the probe's connection stays open";
  EXPECT_EQ(server.state().sessions.size(), 1u);
  if (!server.state().sessions.empty()) *commands = server.commands(0);
  return answer;
}

TEST_F(CallAheadTest, AcceptedRecipientIsKnown) {
  std::vector<std::string> commands;
  auto answer = ProbeOnce({}, &commands, Addr("user", "Probe.Test"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome, Outcome::kKnown) << answer->reason;
  EXPECT_EQ(call_ahead_->method(), Method::kCallAhead);
  EXPECT_EQ(commands, (std::vector<std::string>{"EHLO gw.test", "MAIL FROM:<>",
                                                "RCPT TO:<user@Probe.Test>", "QUIT"}));
}

TEST_F(CallAheadTest, StartTlsWhenOffered) {
  // delivery.tls: preferred (the default), as the mail queue: encrypt, do not verify.
  auto tls = SelfSignedContext();
  ASSERT_TRUE(tls) << "openssl could not make a certificate";
  FakeSmtpServer server(io_, {.tls = tls});
  Route("probe.test", {server.port()});
  Make();
  auto answer = Find(Addr("user", "probe.test"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome, Outcome::kKnown) << answer->reason;
  ASSERT_TRUE(Closed(server));
  EXPECT_EQ(server.state().tls_sessions, 1);
  EXPECT_EQ(server.commands(0),
            (std::vector<std::string>{"EHLO gw.test", "STARTTLS", "EHLO gw.test", "MAIL FROM:<>",
                                      "RCPT TO:<user@probe.test>", "QUIT"}));
}

TEST_F(CallAheadTest, RefusedRecipientIsUnknownWithTheReply) {
  std::vector<std::string> commands;
  auto answer = ProbeOnce({.rcpt = "550 5.1.1 <user@probe.test>: no such user"}, &commands);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome, Outcome::kUnknown);
  EXPECT_EQ(answer->reason, "550 5.1.1 <user@probe.test>: no such user");
  EXPECT_EQ(commands, kProbe);  // QUIT after the answer, never DATA
}

TEST_F(CallAheadTest, TemporaryRefusalIsAFailure) {
  std::vector<std::string> commands;
  auto answer = ProbeOnce({.rcpt = "451 4.3.0 try later"}, &commands);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome, Outcome::kFailure);
  EXPECT_EQ(answer->reason, "RCPT: 451 4.3.0 try later");
  EXPECT_EQ(commands, kProbe);
}

TEST_F(CallAheadTest, RefusedGreetingIsAFailure) {
  std::vector<std::string> commands;
  auto answer = ProbeOnce({.greeting = "554 5.3.2 not now"}, &commands);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome, Outcome::kFailure);
  EXPECT_EQ(answer->reason, "greeting: server greeting 554 5.3.2 not now");
  for (const auto& command : commands) EXPECT_EQ(command, "QUIT");  // a courtesy QUIT at most
}

TEST_F(CallAheadTest, RefusedMailIsAFailureWithoutRcpt) {
  std::vector<std::string> commands;
  auto answer = ProbeOnce({.mail = "553 5.7.1 no null senders"}, &commands);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome, Outcome::kFailure);
  EXPECT_EQ(answer->reason, "MAIL: 553 5.7.1 no null senders");
  EXPECT_EQ(commands, (std::vector<std::string>{"EHLO gw.test", "MAIL FROM:<>", "QUIT"}));
}

TEST_F(CallAheadTest, HeloWhenEhloIsRefused) {
  std::vector<std::string> commands;
  auto answer = ProbeOnce({.ehlo = "502 5.5.2 no EHLO here"}, &commands);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome, Outcome::kKnown) << answer->reason;
  EXPECT_EQ(commands, (std::vector<std::string>{"EHLO gw.test", "HELO gw.test", "MAIL FROM:<>",
                                                "RCPT TO:<user@probe.test>", "QUIT"}));
}

TEST_F(CallAheadTest, ServerThatNeverAnswersFailsWithinTheTimeout) {
  for (const ServerScript& script : {ServerScript{.greeting = ""}, ServerScript{.rcpt = ""}}) {
    FakeSmtpServer server(io_, script);
    Route("probe.test", {server.port()});
    config_.recipient_validation.call_ahead->timeout = 700ms;
    Make();
    const auto start = Clock::now();
    auto answer = Find(Addr("user", "probe.test"));
    const auto took = Clock::now() - start;
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->outcome, Outcome::kFailure);
    EXPECT_NE(answer->reason.find("timeout"), std::string::npos) << answer->reason;
    EXPECT_GE(took, 650ms);
    EXPECT_LT(took, 700ms + 500ms);
    EXPECT_TRUE(Closed(server)) << "the probe's socket stays open";
    config_.smtp_routes.clear();
  }
}

TEST_F(CallAheadTest, NextRouteHostAfterARefusedConnection) {
  FakeSmtpServer server(io_, {});
  Route("probe.test", {RefusedPort(), server.port()});
  Make();
  auto answer = Find(Addr("user", "probe.test"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome, Outcome::kKnown) << answer->reason;
  ASSERT_TRUE(Closed(server));
  EXPECT_EQ(server.state().sessions.size(), 1u);
}

TEST_F(CallAheadTest, RefusedConnectionIsAFailure) {
  Route("probe.test", {RefusedPort()});
  Make();
  auto answer = Find(Addr("user", "probe.test"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome, Outcome::kFailure);
  EXPECT_NE(answer->reason.find("connect to 127.0.0.1:"), std::string::npos) << answer->reason;
}

TEST_F(CallAheadTest, ProbesPerNextHopAreCappedAndQueuedInOrder) {
  FakeSmtpServer server(io_, {.hold_rcpt = true});
  Route("probe.test", {server.port()});
  Make(3);
  std::vector<std::optional<Answer>> answers(8);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    call_ahead_->Find(Addr("u" + std::to_string(i), "probe.test"),
                      [&answers, i](Answer a) { answers[i] = std::move(a); });
  }
  ASSERT_TRUE(RunUntil([&] { return server.state().held == 3; }));
  // Nothing else may connect while three probes hold their slots.
  RunUntil([] { return false; }, 300ms);
  EXPECT_EQ(server.state().sessions.size(), 3u);
  std::vector<std::string> first;
  for (std::size_t i = 0; i < 3; ++i) first.push_back(server.commands(i).at(2));
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<std::string>{"RCPT TO:<u0@probe.test>", "RCPT TO:<u1@probe.test>",
                                             "RCPT TO:<u2@probe.test>"}));
  server.Release();
  ASSERT_TRUE(RunUntil([&] {
    for (const auto& a : answers) {
      if (!a) return false;
    }
    return true;
  }));
  for (const auto& a : answers) EXPECT_EQ(a->outcome, Outcome::kKnown) << a->reason;
  EXPECT_EQ(server.state().max_open, 3);
  EXPECT_EQ(server.state().sessions.size(), 8u);
}

TEST_F(CallAheadTest, DestroyedWithProbesInFlight) {
  FakeSmtpServer server(io_, {.hold_rcpt = true});
  Route("probe.test", {server.port()});
  Make();
  std::vector<std::optional<Answer>> answers(3);
  for (std::size_t i = 0; i < 2; ++i) {
    call_ahead_->Find(Addr("u" + std::to_string(i), "probe.test"),
                      [&answers, i](Answer a) { answers[i] = std::move(a); });
  }
  ASSERT_TRUE(RunUntil([&] { return server.state().held == 2; }));
  // One more that has not even started its coroutine.
  call_ahead_->Find(Addr("u2", "probe.test"), [&answers](Answer a) { answers[2] = std::move(a); });
  call_ahead_.reset();
  for (const auto& a : answers) EXPECT_FALSE(a) << "answered inside the destructor";
  ASSERT_TRUE(RunUntil([&] { return answers[0] && answers[1] && answers[2]; }));
  for (const auto& a : answers) {
    EXPECT_EQ(a->outcome, Outcome::kFailure);
    EXPECT_EQ(a->reason, "shutting down");
  }
  server.Release();  // the held RCPTs meet closed sockets
  EXPECT_TRUE(RunUntil([&] { return server.state().open == 0; }));
  EXPECT_EQ(server.state().sessions.size(), 2u);
}

TEST_F(CallAheadTest, AddressWithControlCharactersIsNeverSent) {
  Route("probe.test", {RefusedPort()});
  Make();
  auto answer = Find(Addr("a\r\nDATA", "probe.test"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome, Outcome::kFailure);
  EXPECT_EQ(answer->reason, "address cannot be probed");
}

TEST_F(CallAheadTest, MxRecordsAndDeliveryPortAndNxDomain) {
  if (!delivery::testing::DnsmasqAvailable()) GTEST_SKIP() << "dnsmasq is missing";
  FakeSmtpServer server(io_, {});
  auto dns = delivery::testing::DnsmasqServer::Start(
      {"--mx-host=probe.test,mx1.probe.test,10", "--host-record=mx1.probe.test,127.0.0.1"});
  ASSERT_TRUE(dns) << dns.error().message;
  config_.dns.servers = {{"127.0.0.1", (*dns)->port()}};
  config_.delivery.port = server.port();  // MX hosts are reached on delivery.port
  Make();
  auto answer = Find(Addr("user", "probe.test"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->outcome, Outcome::kKnown) << answer->reason;
  ASSERT_TRUE(Closed(server));
  EXPECT_EQ(server.commands(0), kProbe);

  auto missing = Find(Addr("user", "missing.test"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->outcome, Outcome::kFailure);
  EXPECT_NE(missing->reason.find("nxdomain"), std::string::npos) << missing->reason;
}

TEST(ReplyReasonTest, PrintableAndShort) {
  smtp::ServerReply reply;
  reply.code = 550;
  reply.enhanced = "5.1.1";
  reply.lines = {"5.1.1 bad\x01user " + std::string(300, 'x')};
  const std::string reason = ReplyReason(reply);
  EXPECT_EQ(reason.rfind("550 5.1.1 bad?user xxx", 0), 0u) << reason;
  EXPECT_LE(reason.size(), 110u);
}

}  // namespace
}  // namespace tidegate::validation
