// intake_server.h — the running intake service (`tidegate -c intake.yaml intake`, CONTRACT §8):
// owns the mail log, the Store, the id counter, the accounts, the acceptor, the SMTP listener
// (inbound::Listener, the gateway's hardened server) and the console, and handles SIGTERM/SIGINT.
//
// The SMTP side accepts RCPT only for an account's intake address (550 5.1.1 otherwise) and,
// with require_tls, MAIL only after STARTTLS (530 5.7.0); it adds no remote-IP header of its
// own (the one inside each original is the gateway's). Message ids (MIDs) and ICIDs come from
// data_dir/ids (spool::IdAllocator), started above the largest id in the index.
//
// Construct, Start(), then Run() on the main thread; Run() returns after a graceful shutdown
// (open SMTP sessions finish their transaction, up to 30 s). The caller holds the data_dir lock.
// Not thread-safe.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "base/result.h"
#include "config/config.h"
#include "inbound/listener.h"
#include "intake/accounts.h"
#include "intake/acceptor.h"
#include "intake/console.h"
#include "intake/store.h"
#include "spool/ids.h"
#include "telemetry/mail_log.h"

namespace tidegate::intake {

class IntakeServer {
 public:
  explicit IntakeServer(std::shared_ptr<const config::IntakeConfig> config);
  ~IntakeServer();
  // Reads the console password, opens the log and the store, binds SMTP and the console.
  base::Status Start();
  // Serves until SIGTERM/SIGINT, then drains. Returns the process exit code.
  int Run();

  std::uint16_t smtp_port() const;
  std::uint16_t console_port() const;

 private:
  void BeginShutdown();

  std::shared_ptr<const config::IntakeConfig> config_;
  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  std::unique_ptr<telemetry::MailLog> log_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<spool::IdAllocator> ids_;
  std::unique_ptr<AccountDirectory> accounts_;
  std::unique_ptr<IntakeAcceptor> acceptor_;
  std::shared_ptr<const inbound::SessionPolicy> session_policy_;
  inbound::SessionServices services_;
  std::unique_ptr<inbound::Listener> listener_;
  std::unique_ptr<Console> console_;
  bool stopping_ = false;
};

}  // namespace tidegate::intake
