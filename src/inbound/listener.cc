// listener.cc — see listener.h.
#include "inbound/listener.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "inbound/session.h"
#include "telemetry/mail_log.h"

namespace tidegate::inbound {

namespace asio = boost::asio;

base::Result<std::shared_ptr<asio::ssl::context>> MakeServerTlsContext(
    const config::TlsFiles& files) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                   ec);
  if (ec) return base::MakeError("TLS options: " + ec.message());
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->use_certificate_chain_file(files.certificate, ec);
  if (ec) return base::MakeError("TLS certificate " + files.certificate + ": " + ec.message());
  ctx->use_private_key_file(files.key, asio::ssl::context::pem, ec);
  if (ec) return base::MakeError("TLS key " + files.key + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return base::MakeError("TLS key " + files.key + " does not match " + files.certificate);
  }
  return ctx;
}

Listener::Listener(asio::io_context& io, config::Listener settings, SessionServices* services)
    : io_(io), acceptor_(io), runtime_(std::make_shared<ListenerRuntime>()), services_(services) {
  runtime_->settings = std::move(settings);
}

Listener::~Listener() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

base::Status Listener::UpdateConfig(const config::Listener& settings) {
  std::shared_ptr<asio::ssl::context> tls;
  if (settings.tls) {
    auto ctx = MakeServerTlsContext(*settings.tls);
    if (!ctx) return base::MakeError("listener " + settings.name + ": " + ctx.error().message);
    tls = *ctx;
  }
  runtime_->settings = settings;
  runtime_->tls = std::move(tls);
  return base::Status::Ok();
}

base::Status Listener::Start() {
  const config::Listener settings = runtime_->settings;
  if (base::Status s = UpdateConfig(settings); !s) return s;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(settings.bind.host, ec);
  if (ec) {
    return base::MakeError("listener " + settings.name + ": bad address " + settings.bind.host);
  }
  asio::ip::tcp::endpoint endpoint(address, settings.bind.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return base::MakeError("listener " + settings.name + ": cannot listen on " +
                           settings.bind.str() + ": " + ec.message());
  }
  runtime_->bound_ip = address.to_string();
  AcceptLoop();
  return base::Status::Ok();
}

void Listener::AcceptLoop() {
  asio::co_spawn(
      io_,
      [this, runtime = runtime_]() -> asio::awaitable<void> {
        while (!runtime->stopping) {
          auto [ec, socket] =
              co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
          if (runtime->stopping) break;
          if (ec) {
            if (ec == asio::error::operation_aborted) break;
            // EMFILE and friends: back off briefly instead of spinning.
            asio::steady_timer pause(io_, std::chrono::milliseconds(50));
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
          }
          boost::system::error_code ignored;
          socket.set_option(asio::ip::tcp::no_delay(true), ignored);
          auto session = std::make_shared<Session>(std::move(socket), runtime, services_);
          asio::co_spawn(io_, session->Run(), asio::detached);
        }
      },
      asio::detached);
}

void Listener::Stop() {
  runtime_->stopping = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (Session* s : runtime_->sessions) s->Shutdown();
}

asio::ip::tcp::endpoint Listener::local_endpoint() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec);
}

}  // namespace tidegate::inbound
