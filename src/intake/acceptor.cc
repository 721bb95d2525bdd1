// acceptor.cc — see acceptor.h.
#include "intake/acceptor.h"

#include <fmt/format.h>

#include <set>

#include <boost/asio/post.hpp>

#include "intake/unwrap.h"
#include "telemetry/log_quote.h"
#include "telemetry/mail_log.h"

namespace tidegate::intake {

IntakeAcceptor::IntakeAcceptor(Store* store, const AccountDirectory* accounts,
                               telemetry::MailLog* log, std::function<std::uint64_t()> next_id)
    : store_(store), accounts_(accounts), log_(log), next_id_(std::move(next_id)) {}

IntakeAcceptor::~IntakeAcceptor() { worker_.join(); }

void IntakeAcceptor::Accept(inbound::ReceivedMessage message,
                            std::function<void(inbound::AcceptResult)> done) {
  boost::asio::post(worker_, [this, message = std::move(message), done = std::move(done)] {
    done(Process(message));
  });
}

inbound::AcceptResult IntakeAcceptor::Process(const inbound::ReceivedMessage& message) {
  std::vector<std::string> envelope_rcpts;
  std::vector<AccountRecord> targets;
  std::set<std::string> seen;
  for (const mail::Address& rcpt : message.recipients) {
    envelope_rcpts.push_back(rcpt.str());
    auto account = accounts_->FindByAddress(rcpt);
    // Every recipient passed the RCPT check, and accounts are never removed while running.
    if (account && seen.insert(account->name).second) targets.push_back(std::move(*account));
  }
  if (targets.empty()) {
    return {base::MakeError(fmt::format("MID {}: no account for its recipients", message.mid))};
  }
  bool first = true;
  for (const AccountRecord& account : targets) {
    const std::uint64_t id = first ? message.mid : next_id_();
    first = false;
    if (id == 0) return {base::MakeError("no message id could be reserved")};
    Unwrapped u = Unwrap(message.body, account.remote_ip_header, message.sender.str(),
                         envelope_rcpts, message.client_ip);
    MessageRecord record;
    record.id = id;
    record.account = account.name;
    record.received_at = message.received;
    record.remote_ip = u.remote_ip;
    record.sender = std::move(u.sender);
    record.recipients = std::move(u.recipients);
    record.subject = std::move(u.subject);
    record.message_id = std::move(u.message_id);
    record.journal = u.journal;
    if (base::Status s = store_->SaveMessage(record, u.original); !s) {
      return {base::MakeError(fmt::format("MID {} for account {}: {}", id, account.name,
                                          s.error().message))};
    }
    log_->Info(fmt::format(
        "MID {} stored for account {}: journal report {}, original Message-ID {}, sender <{}>, "
        "{} recipients, remote IP {}, {} bytes",
        id, account.name, record.journal ? "yes" : "no", telemetry::ReprQuote(record.message_id),
        record.sender,
        record.recipients.size(), record.remote_ip.empty() ? "unknown" : record.remote_ip,
        record.size));
    if (id != message.mid) {
      log_->Info(fmt::format("MID {} copy of MID {} for account {}", id, message.mid,
                             account.name));
    }
  }
  log_->Info(fmt::format("Message finished MID {} done", message.mid));
  return {base::Status::Ok()};
}

}  // namespace tidegate::intake
