// acceptor.h — IntakeAcceptor: the intake's inbound::MessageAcceptor. Unwraps each message
// received over SMTP (unwrap.h) and stores it once per account it was addressed to (store.h),
// answering the session only when everything is durable, so the 250 means "stored".
//
// Accept() never blocks: the unwrapping, file fsyncs and SQLite commit run on the acceptor's own
// worker thread, which then calls `done` (the session posts it back to its event loop). The first
// account's copy keeps the session's MID as its id; further accounts' copies (one SMTP
// transaction naming several intake addresses) get fresh ids from `next_id`.
//
// Ownership: the intake server owns it; Store, AccountDirectory and MailLog must outlive it.
// Thread-safety: Accept() from any thread; Process() is the synchronous core (worker thread,
// tests). The destructor waits for queued work.
#pragma once

#include <cstdint>
#include <functional>

#include <boost/asio/thread_pool.hpp>

#include "inbound/acceptor.h"
#include "intake/accounts.h"
#include "intake/store.h"

namespace tidegate::telemetry {
class MailLog;
}

namespace tidegate::intake {

class IntakeAcceptor final : public inbound::MessageAcceptor {
 public:
  IntakeAcceptor(Store* store, const AccountDirectory* accounts, telemetry::MailLog* log,
                 std::function<std::uint64_t()> next_id);
  ~IntakeAcceptor() override;

  void Accept(inbound::ReceivedMessage message,
              std::function<void(inbound::AcceptResult)> done) override;

  // Stores `message` for each account among its recipients; blocks on the disk.
  inbound::AcceptResult Process(const inbound::ReceivedMessage& message);

 private:
  Store* store_;
  const AccountDirectory* accounts_;
  telemetry::MailLog* log_;
  std::function<std::uint64_t()> next_id_;
  // One thread: fsync and SQLite commits are serialised by the Store anyway.
  boost::asio::thread_pool worker_{1};
};

}  // namespace tidegate::intake
