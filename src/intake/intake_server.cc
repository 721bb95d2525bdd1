// intake_server.cc — see intake_server.h.
#include "intake/intake_server.h"

#include <fmt/format.h>

#include <iostream>

#include <boost/asio/steady_timer.hpp>

#include "base/filesystem.h"
#include "intake/console_auth.h"

namespace tidegate::intake {

namespace asio = boost::asio;

namespace {
// How long a graceful shutdown waits for open sessions to finish their transaction.
constexpr auto kDrainTimeout = std::chrono::seconds(30);
}  // namespace

IntakeServer::IntakeServer(std::shared_ptr<const config::IntakeConfig> config)
    : config_(std::move(config)), signals_(io_, SIGTERM, SIGINT) {}

IntakeServer::~IntakeServer() {
  // Stop the producers before what they use: listener (sessions), console, then the acceptor's
  // worker, the store and last the log.
  listener_.reset();
  if (console_) console_->Stop();
  console_.reset();
  acceptor_.reset();
  accounts_.reset();
  ids_.reset();
  store_.reset();
  log_.reset();
}

base::Status IntakeServer::Start() {
  const config::IntakeConfig& cfg = *config_;
  // The console shows every journaled message: it never runs without a login.
  if (cfg.console.password_file.empty()) {
    return base::MakeError(cfg.path +
                           ": console.password_file is required (the console needs a login)");
  }
  auto password = ReadPasswordFile(cfg.console.password_file);
  if (!password) return password.error();

  telemetry::MailLogOptions log_options;
  log_options.path = base::JoinPath(cfg.data_dir, "mail_logs/mail.current");
  log_options.version = "tidegate intake";
  auto log = telemetry::MailLog::Open(log_options);
  if (!log) return log.error();
  log_ = std::move(*log);
  log_->Info(fmt::format("tidegate intake starting: config {}, data_dir {}", cfg.path,
                         cfg.data_dir));

  base::Filesystem& fs = base::PosixFilesystem();
  auto store = Store::Open(cfg.data_dir, &fs);
  if (!store) return store.error();
  store_ = std::move(*store);
  auto max_id = store_->MaxMessageId();
  if (!max_id) return max_id.error();
  auto ids = spool::IdAllocator::Open(fs, base::JoinPath(cfg.data_dir, "ids"),
                                      {*max_id + 1, 1, 1}, /*block=*/100);
  if (!ids) return ids.error();
  ids_ = std::move(*ids);

  std::vector<std::string> dropped;
  auto accounts = AccountDirectory::Load(cfg, store_.get(), &base::SystemClock::Instance(),
                                         &dropped);
  if (!accounts) return accounts.error();
  accounts_ = std::move(*accounts);
  for (const std::string& line : dropped) log_->Warning(line);
  for (const AccountRecord& a : accounts_->List()) {
    log_->Info(fmt::format("Intake account {} ({}): Message Intake Address {}", a.name, a.source,
                           a.intake_address));
  }

  acceptor_ = std::make_unique<IntakeAcceptor>(
      store_.get(), accounts_.get(), log_.get(),
      [this] { return ids_->Next(spool::IdAllocator::kMid); });

  auto policy = std::make_shared<inbound::SessionPolicy>();
  policy->hostname = cfg.hostname;
  policy->remote_ip_header = "";  // the original carries the gateway's; we add none
  policy->check_recipient = [accounts = accounts_.get()](const mail::Address& rcpt) {
    return accounts->FindByAddress(rcpt) ? smtp::RcptVerdict::kAccept
                                         : smtp::RcptVerdict::kUnknownUser;
  };
  session_policy_ = policy;
  services_.next_icid = [this] { return ids_->Next(spool::IdAllocator::kIcid); };
  services_.next_mid = [this] { return ids_->Next(spool::IdAllocator::kMid); };
  services_.log = log_.get();
  services_.acceptor = acceptor_.get();
  services_.clock = &base::SystemClock::Instance();
  services_.policy = [this] { return session_policy_; };

  config::Listener listener;
  listener.name = "Intake";
  listener.bind = cfg.listen;
  listener.tls = cfg.tls;
  listener.require_tls = cfg.require_tls;
  listener.max_message_size = cfg.max_message_size;
  listener_ = std::make_unique<inbound::Listener>(io_, listener, &services_);
  if (base::Status s = listener_->Start(); !s) return s;

  console_ = std::make_unique<Console>(
      ConsoleOptions{.bind = cfg.console.bind, .user = cfg.console.user, .password = *password},
      store_.get(), accounts_.get(), log_.get());
  if (base::Status s = console_->Start(); !s) return s;

  log_->Info(fmt::format("Listener Intake accepting on {}:{}{}", cfg.listen.host, smtp_port(),
                         cfg.require_tls ? " (STARTTLS required)" : ""));
  log_->Info(fmt::format("Intake console on http://{}:{}/", cfg.console.bind.host,
                         console_port()));
  std::cerr << fmt::format("tidegate intake: SMTP on {}:{}, console on http://{}:{}/\n",
                           cfg.listen.host, smtp_port(), cfg.console.bind.host, console_port());
  return base::Status::Ok();
}

std::uint16_t IntakeServer::smtp_port() const {
  return listener_ ? listener_->local_endpoint().port() : 0;
}

std::uint16_t IntakeServer::console_port() const { return console_ ? console_->port() : 0; }

void IntakeServer::BeginShutdown() {
  if (stopping_) return;
  stopping_ = true;
  log_->Info("Shutting down: no new connections, draining open sessions");
  listener_->Stop();
  console_->Stop();
  const auto deadline = std::chrono::steady_clock::now() + kDrainTimeout;
  auto timer = std::make_shared<asio::steady_timer>(io_);
  auto poll = std::make_shared<std::function<void()>>();
  *poll = [this, timer, deadline, poll] {
    if (listener_->active_sessions() == 0 || std::chrono::steady_clock::now() >= deadline) {
      signals_.cancel();
      io_.stop();
      *poll = nullptr;  // break the self-reference
      return;
    }
    timer->expires_after(std::chrono::milliseconds(50));
    timer->async_wait([poll](const boost::system::error_code&) {
      if (*poll) (*poll)();
    });
  };
  (*poll)();
}

int IntakeServer::Run() {
  signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec) BeginShutdown();
  });
  io_.run();
  listener_.reset();
  acceptor_.reset();  // finishes queued stores
  if (log_) log_->Info("tidegate intake stopped");
  return 0;
}

}  // namespace tidegate::intake
