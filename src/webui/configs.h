// configs.h — the configuration history's operations (CONTRACT §12), wherever the history is
// kept: data_dir/config-history on a single machine (config/history.h), etcd in cluster mode
// (cluster/history.h, through the agent). Shared by the JSON API (configs_api.cc,
// /api/v1/configs) and the Web UI's Configuration History page. Runs on the gateway's io thread
// like the handlers that call it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "admin/http_message.h"
#include "base/result.h"
#include "config/history.h"
#include "webui/admin_common.h"

namespace tidegate::webui {

// A value, or the HTTP status and message saying why not (404: no such entry; 503: the history
// is unavailable or, in cluster mode, etcd unreachable).
template <class T>
struct ConfigsAnswer {
  int status = 200;
  std::string error;
  T value{};
  bool ok() const { return status == 200; }
};

// Every entry kept, oldest first, without texts.
boost::asio::awaitable<ConfigsAnswer<std::vector<config::HistoryEntry>>> ListConfigs(
    const AdminContext& ctx);
// One entry with its text.
boost::asio::awaitable<ConfigsAnswer<config::HistoryEntry>> GetConfig(const AdminContext& ctx,
                                                                      std::uint64_t number);
// The unified diff from entry `from` to entry `to` (labels "config #N (time)").
boost::asio::awaitable<ConfigsAnswer<std::string>> DiffConfigs(const AdminContext& ctx,
                                                               std::uint64_t from,
                                                               std::uint64_t to);

// Commits entry `number` again as a new change with the comment "rollback to N" (": <the
// request's comment>" appended when it has one): on a single machine its text through
// CommitEdit; in cluster mode its level's sections at that level (the agent's Rollback). Both
// validated and applied live. 404 when there is no such entry, 503 without a history.
boost::asio::awaitable<EditOutcome> RollbackConfig(const AdminContext& ctx,
                                                   const admin::Request& req,
                                                   std::uint64_t number);

}  // namespace tidegate::webui
