// configs.h — the configuration history's operations shared by the JSON API (configs_api.cc,
// /api/v1/configs) and the Web UI's Configuration History page: the diff of two entries and the
// rollback (CONTRACT §12). Runs on the gateway's io thread like the handlers that call it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>

#include "admin/http_message.h"
#include "base/result.h"
#include "webui/admin_common.h"

namespace tidegate::webui {

// The unified diff from entry `from` to entry `to` (labels "config #N (time)").
base::Result<std::string> ConfigsDiff(const config::ConfigHistory& history, std::uint64_t from,
                                      std::uint64_t to);

// Commits entry `number`'s text as a new change through CommitEdit (validated, cluster mode
// included), with the comment "rollback to N" (": <the request's comment>" appended when it has
// one). 404 when there is no such entry, 503 without a history.
boost::asio::awaitable<EditOutcome> RollbackConfig(const AdminContext& ctx,
                                                   const admin::Request& req,
                                                   std::uint64_t number);

}  // namespace tidegate::webui
