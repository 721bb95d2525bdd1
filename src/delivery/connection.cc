// connection.cc — one outbound delivery connection's I/O (see connection.h).
#include "delivery/connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tidegate::delivery {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using namespace boost::asio::experimental::awaitable_operators;  // `||` of two awaitables

namespace {

// How long an idle connection may take to hear out what its peer sent unasked.
constexpr auto kIdleHearing = std::chrono::seconds(1);
// How long a polite QUIT may take.
constexpr auto kQuitTimeout = std::chrono::seconds(5);

smtp::ClientOptions SessionOptions(const ConnectionSettings& s) {
  smtp::ClientOptions options;
  options.helo_name = s.helo_name;
  options.tls = s.tls;
  options.tls_available = true;
  return options;
}

}  // namespace

Connection::Connection(std::unique_ptr<Transport> transport, ConnectionSettings settings,
                       telemetry::DeliveryReport& report, telemetry::ReportStyle style,
                       std::function<std::uint64_t()> next_id)
    : transport_(std::move(transport)),
      settings_(std::move(settings)),
      report_(report),
      style_(std::move(style)),
      next_id_(std::move(next_id)),
      session_(SessionOptions(settings_)) {}

Connection::~Connection() { Close(); }

void Connection::Close() {
  transport_->Close();
  if (slot_) {
    settings_.release(*slot_);
    slot_.reset();
  }
}

bool Connection::cut() const {
  return want_ == Want::kFailed && session_.failure() == smtp::ClientSession::Failure::kConnection;
}

asio::awaitable<Opened> Connection::Open(const std::vector<HostCandidate>& hosts) {
  std::string error;
  const auto each = settings_.connect_timeout;
  bool connected = false;
  const HostCandidate* last = nullptr;
  for (const HostCandidate& candidate : hosts) {
    if (settings_.acquire && !settings_.acquire(candidate)) continue;  // at its cap: the next
    last = &candidate;
    const std::vector<HostCandidate> one{candidate};
    connected = co_await transport_->Connect(one, each, Clock::now() + each, error);
    if (settings_.acquire) {
      if (connected) {
        slot_ = candidate;
      } else {
        settings_.release(candidate);
      }
    }
    if (connected) break;
  }
  if (last == nullptr) co_return Opened{.outcome = Opened::Outcome::kNoCapacity, .failure = {}};
  if (!connected) {
    report_.Report(style_,
                   telemetry::ConnectionError{.dcid = 0,
                                              .ip = last->address.to_string(),
                                              .port = last->port,
                                              .details = error,
                                              .interface = transport_->local_ip(),
                                              .kind = telemetry::ConnectionErrorKind::kNetwork,
                                              .permanent = false,
                                              .summary = {}});
    co_return Opened{.outcome = Opened::Outcome::kFailed, .failure = ClassifyConnect(*last, error)};
  }
  dcid_ = next_id_();
  const HostCandidate& host = transport_->peer();
  report_.Report(style_, telemetry::ConnectionOpened{.dcid = dcid_,
                                                     .interface = transport_->local_ip(),
                                                     .ip = host.address.to_string(),
                                                     .port = host.port});
  // Until we have written something we are waiting for the greeting: connect_timeout covers it
  // (docs/configuration.md), not command_timeout, so a peer that accepts TCP and never speaks (a
  // blackholed intake) is given up after 30 s by default, not 5 minutes.
  want_ = co_await Drive(Clock::time_point::max(), Clock::now() + settings_.connect_timeout);
  if (want_ == Want::kReady) co_return Opened{.outcome = Opened::Outcome::kReady, .failure = {}};

  Classified c = ClassifySessionFailure(session_, settings_.tls_failure_permanent);
  const bool tls = c.failure.cls == queue::FailureClass::kTls;
  report_.Report(style_, telemetry::ConnectionError{
                             .dcid = dcid_,
                             .ip = host.address.to_string(),
                             .port = host.port,
                             .details = session_.failure_reason(),
                             .interface = transport_->local_ip(),
                             .kind = tls ? telemetry::ConnectionErrorKind::kTls
                                         : telemetry::ConnectionErrorKind::kProtocol,
                             .permanent = c.failure.cls == queue::FailureClass::kPermanent,
                             .summary = c.text});
  std::string courtesy = session_.TakeOutput();
  if (!courtesy.empty()) co_await transport_->Write(courtesy, Clock::now() + kQuitTimeout);
  co_return Opened{.outcome = Opened::Outcome::kFailed, .failure = std::move(c)};
}

asio::awaitable<void> Connection::Send(smtp::Envelope envelope, std::string body,
                                       Clock::time_point deadline) {
  want_ = session_.StartTransaction(std::move(envelope), std::move(body));
  want_ = co_await Drive(deadline);
}

asio::awaitable<Connection::Want> Connection::Drive(Clock::time_point deadline,
                                                    Clock::time_point greeting_deadline) {
  std::string input;
  Want want = session_.want();
  auto read_limit = std::min(deadline, greeting_deadline);
  while (true) {
    const auto now = Clock::now();
    std::string output = session_.TakeOutput();
    if (!output.empty()) {
      read_limit = deadline;
      auto st =
          co_await transport_->Write(output, std::min(deadline, now + settings_.data_timeout));
      if (st == Transport::IoStatus::kTimeout)
        session_.OnTimeout();
      else if (st != Transport::IoStatus::kOk)
        session_.OnDisconnected();
      want = session_.want();
    }
    switch (want) {
      case Want::kRead:
      case Want::kWrite: {
        input.clear();
        // The reply to the final dot may take as long as the server's content checks:
        // data_timeout (docs/configuration.md); every other reply command_timeout.
        const auto reply_timeout =
            session_.awaiting_data_reply() ? settings_.data_timeout : settings_.command_timeout;
        auto st =
            co_await transport_->Read(input, std::min(read_limit, Clock::now() + reply_timeout));
        if (st == Transport::IoStatus::kOk) {
          want = session_.OnBytes(input);
        } else {
          if (st == Transport::IoStatus::kTimeout)
            session_.OnTimeout();
          else
            session_.OnDisconnected();
          want = session_.want();
        }
        break;
      }
      case Want::kStartTls: {
        std::string error;
        bool ok = false;
        if (settings_.tls_context == nullptr) {
          error = "no TLS context (tls_ca_file unreadable)";
        } else {
          ok = co_await transport_->StartTls(
              *settings_.tls_context, transport_->peer().host, settings_.tls_verify,
              std::min(deadline, Clock::now() + settings_.command_timeout), error);
        }
        report_.Report(style_, telemetry::TlsResult{.dcid = dcid_,
                                                    .ok = ok,
                                                    .protocol = transport_->tls_protocol(),
                                                    .cipher = transport_->tls_cipher(),
                                                    .error = error});
        want = ok ? session_.OnTlsEstablished() : session_.OnTlsFailed(error);
        break;
      }
      case Want::kReady:
      case Want::kDone:
      case Want::kFailed:
        co_return want;
    }
  }
}

asio::awaitable<Connection::Idle> Connection::WaitIdle(asio::steady_timer& timer) {
  // Meanwhile listen: a next hop that closes an idle connection (its idle timeout, an intake
  // going away) is noticed now, and makes the next connect a single probe.
  auto woke = co_await (timer.async_wait(as_tuple(use_awaitable)) || transport_->WaitReadable());
  if (woke.index() == 1) {
    const Idle heard = co_await HearIdlePeer(std::get<1>(woke));
    want_ = session_.want();  // kDone or kFailed: no QUIT
    co_return heard;
  }
  const auto [ec] = std::get<0>(woke);
  co_return ec ? Idle::kRung : Idle::kLingered;
}

asio::awaitable<Connection::Idle> Connection::HearIdlePeer(boost::system::error_code wait_error) {
  if (wait_error) {
    session_.OnDisconnected();
    co_return Idle::kLost;
  }
  // Something arrived on an idle connection: read what it is, within kIdleHearing. A server only
  // speaks unasked to say goodbye ("421 ... timeout" then close, or just close / reset). A part
  // of a reply stays buffered in the session (which would fail the next transaction on it), so
  // read on until the reply is whole.
  const auto deadline = Clock::now() + kIdleHearing;
  while (true) {
    std::string input;
    switch (co_await transport_->Read(input, deadline)) {
      case Transport::IoStatus::kOk:
        session_.OnBytes(input);
        if (session_.want() == Want::kReady) continue;  // the start of a reply
        // kDone: a 421 goodbye, the peer is closing this connection. kFailed: bytes out of turn,
        // a protocol error that says nothing about reachability: we just close.
        co_return session_.want() == Want::kDone ? Idle::kLost : Idle::kUnusable;
      case Transport::IoStatus::kClosed:
      case Transport::IoStatus::kError:
        session_.OnDisconnected();
        co_return Idle::kLost;
      case Transport::IoStatus::kTimeout:
        // Bytes that were no application data (a TLS record) or half a reply, then nothing.
        session_.OnTimeout();
        co_return Idle::kUnusable;
    }
  }
}

asio::awaitable<void> Connection::Quit() {
  if (want_ != Want::kReady) co_return;
  session_.Quit();
  std::string quit = session_.TakeOutput();
  if (quit.empty()) co_return;
  const auto deadline = Clock::now() + kQuitTimeout;
  if (co_await transport_->Write(quit, deadline) == Transport::IoStatus::kOk) {
    std::string ignored;
    co_await transport_->Read(ignored, deadline);
  }
}

}  // namespace tidegate::delivery
