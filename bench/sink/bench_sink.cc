// bench_sink.cc — a counting SMTP sink with STARTTLS, for the side-by-side benchmark (bench/).
//
// Postfix's smtp-sink is the reference next hop, but it cannot speak TLS, and the journal leg to the
// threat-defense intake is always TLS for tidegate (CONTRACT: the TDC verifies the intake's
// certificate). Both systems under test deliver their journal copies here, so the TLS leg costs them
// the same. It reuses tidegate's inbound SMTP listener (the same protocol code the gateway and intake
// use) with an acceptor that counts and discards: like smtp-sink, nothing is written to disk and the
// 250 comes at once.
//
// Output: like `smtp-sink -c`, the running count as "mesg=K" on stdout, rewritten with \r whenever it
// changed (checked every 20 ms), and a final line on SIGTERM/SIGINT. One io thread.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/clock.h"
#include "base/filesystem.h"
#include "config/config.h"
#include "inbound/acceptor.h"
#include "inbound/listener.h"
#include "telemetry/mail_log.h"

namespace {

using namespace tidegate;

class CountingAcceptor : public inbound::MessageAcceptor {
 public:
  void Accept(inbound::ReceivedMessage message,
              std::function<void(inbound::AcceptResult)> done) override {
    messages_.fetch_add(1, std::memory_order_relaxed);
    recipients_.fetch_add(message.recipients.size(), std::memory_order_relaxed);
    done(inbound::AcceptResult{});
  }
  std::uint64_t messages() const { return messages_.load(std::memory_order_relaxed); }
  std::uint64_t recipients() const { return recipients_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> messages_{0};
  std::atomic<std::uint64_t> recipients_{0};
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-sink: counting SMTP sink with STARTTLS (benchmark only)"};
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string cert, key, log_dir = "/tmp";
  std::uint32_t max_connections = 1000;
  app.add_option("--host", host, "address to listen on");
  app.add_option("--port", port, "port to listen on")->required();
  app.add_option("--cert", cert, "PEM certificate chain (STARTTLS offered when given)");
  app.add_option("--key", key, "PEM private key");
  app.add_option("--log-dir", log_dir, "where the sink's own warning log goes");
  app.add_option("--max-connections", max_connections, "concurrent sessions");
  CLI11_PARSE(app, argc, argv);

  telemetry::MailLogOptions log_options;
  log_options.path = log_dir + "/bench-sink." + std::to_string(port) + ".current";
  log_options.version = "tidegate bench-sink";
  log_options.min_level = telemetry::Level::kWarning;  // per-message lines would cost CPU
  auto log = telemetry::MailLog::Open(log_options);
  if (!log) {
    std::cerr << "bench-sink: " << log.error().message << "\n";
    return 1;
  }

  boost::asio::io_context io(1);
  CountingAcceptor acceptor;
  std::atomic<std::uint64_t> ids{0};
  auto policy = std::make_shared<inbound::SessionPolicy>();
  policy->hostname = "bench-sink.local";
  policy->check_recipient = [](const mail::Address&) { return smtp::RcptVerdict::kAccept; };

  inbound::SessionServices services;
  services.next_icid = [&ids] { return ++ids; };
  services.next_mid = [&ids] { return ++ids; };
  services.log = log->get();
  services.acceptor = &acceptor;
  services.clock = &base::SystemClock::Instance();
  services.policy = [policy] { return policy; };

  config::Listener settings;
  settings.name = "BenchSink";
  settings.bind = config::Endpoint{host, port};
  if (!cert.empty()) {
    settings.tls = config::TlsFiles{};
    settings.tls->certificate = cert;
    settings.tls->key = key;
  }
  settings.max_message_size = std::uint64_t{200} << 20;
  settings.max_connections = max_connections;
  settings.max_recipients = 100000;
  inbound::Listener listener(io, settings, &services);
  if (base::Status s = listener.Start(); !s) {
    std::cerr << "bench-sink: " << s.error().message << "\n";
    return 1;
  }

  std::uint64_t shown = ~std::uint64_t{0};
  auto show = [&](const char* end) {
    std::uint64_t n = acceptor.messages();
    if (n == shown && *end != '\n') return;
    shown = n;
    std::printf("mesg=%llu rcpt=%llu%s", static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(acceptor.recipients()), end);
    std::fflush(stdout);
  };
  boost::asio::steady_timer ticker(io);
  std::function<void()> tick = [&] {
    show("\r");
    ticker.expires_after(std::chrono::milliseconds(20));
    ticker.async_wait([&](boost::system::error_code ec) {
      if (!ec) tick();
    });
  };
  tick();
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) {
    show("\n");
    listener.Stop();
    ticker.cancel();
    io.stop();
  });
  std::signal(SIGPIPE, SIG_IGN);
  io.run();
  return 0;
}
