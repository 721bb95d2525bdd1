// listener.cc — see listener.h.
#include "inbound/listener.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "inbound/server_tls.h"
#include "inbound/session.h"
#include "telemetry/mail_log.h"

namespace tidegate::inbound {

namespace asio = boost::asio;

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
