// queue_manager_internal.h — QueueManager's private state, shared by queue_manager.cc and
// outcomes.cc only. Not part of the module's interface.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "delivery/queue_manager.h"
#include "mail/dsn.h"
#include "smtp/client_reply_parser.h"

namespace tidegate::delivery {

// What the engine remembers of a queued message (no body: that stays in the spool).
struct QueueManager::MessageState {
  std::uint64_t mid = 0;
  spool::MessageKind kind = spool::MessageKind::kOriginal;
  std::uint64_t parent_mid = 0;
  std::string sender;
  std::map<std::uint32_t, std::string> rcpts;  // rid → address
  std::size_t pending = 0;                     // recipients not yet final
  base::SystemTime received{};
  std::string message_id;
  // Whether the stored body has 8-bit bytes, as recorded at reception (spool/transfer_needs.h);
  // nullopt for a message from an older spool: scanned at each attempt then.
  std::optional<bool> body_8bit;
  std::vector<mail::DsnRecipient> failed;  // for the one DSN sent when the message finishes
};

struct QueueManager::DestinationState {
  std::uint32_t open = 0;                     // connections running (resolving included)
  std::set<boost::asio::steady_timer*> idle;  // idle connections' timers: cancel = "work!"
  std::shared_ptr<const telemetry::ReportStyle> style;  // StyleOf(); rebuilt by ApplyConfig
  bool listed = false;                                  // report_.Listed() done (tophosts)
};

// What one attempt (or a connection failure) knew, for log lines and DSNs.
struct QueueManager::AttemptContext {
  std::uint64_t dcid = 0;
  std::string remote_host;
  std::map<std::uint32_t, smtp::ServerReply> replies;  // per rid, when the server answered
  // A failure before any per-recipient reply (DNS, connect, TLS, greeting):
  std::string failure_text;
  std::string enhanced;
  int code = 0;
};

}  // namespace tidegate::delivery
