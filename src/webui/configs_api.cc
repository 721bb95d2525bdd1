// configs_api.cc — the configuration history endpoints (CONTRACT §12; docs/admin-api.md):
//   GET  /api/v1/configs                     [{number, time, user, comment}], oldest first
//   GET  /api/v1/configs/<n>                 {number, time, user, comment, text}
//   GET  /api/v1/configs/diff?from=N&to=M    {from, to, diff} (unified diff)
//   POST /api/v1/configs/<n>/rollback        {comment?} → commits entry n as a new entry
// On a single machine from data_dir/config-history; in cluster mode from etcd (configs.h).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/unified_diff.h"
#include "webui/admin_api.h"
#include "cluster/agent.h"
#include "webui/configs.h"

namespace tidegate::webui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;
using nlohmann::json;

namespace {

constexpr const char* kUnavailable = "the configuration history is unavailable";

}  // namespace

asio::awaitable<ConfigsAnswer<std::vector<config::HistoryEntry>>> ListConfigs(
    const AdminContext& ctx) {
  using Answer = ConfigsAnswer<std::vector<config::HistoryEntry>>;
  if (ctx.cluster != nullptr) {
    auto list = co_await ctx.cluster->History();
    if (!list) co_return Answer{503, list.error().message};
    co_return Answer{200, "", std::move(*list)};
  }
  if (ctx.history == nullptr) co_return Answer{503, kUnavailable};
  co_return Answer{200, "", ctx.history->List()};
}

asio::awaitable<ConfigsAnswer<config::HistoryEntry>> GetConfig(const AdminContext& ctx,
                                                               std::uint64_t number) {
  using Answer = ConfigsAnswer<config::HistoryEntry>;
  if (ctx.cluster != nullptr) {
    auto entry = co_await ctx.cluster->HistoryAt(number);
    if (!entry) co_return Answer{503, entry.error().message};
    if (!*entry) {
      co_return Answer{404, fmt::format("no configuration history entry {}", number)};
    }
    co_return Answer{200, "", std::move(**entry)};
  }
  if (ctx.history == nullptr) co_return Answer{503, kUnavailable};
  auto entry = ctx.history->Get(number);
  if (!entry) co_return Answer{404, entry.error().message};
  co_return Answer{200, "", std::move(*entry)};
}

asio::awaitable<ConfigsAnswer<std::string>> DiffConfigs(const AdminContext& ctx,
                                                        std::uint64_t from, std::uint64_t to) {
  using Answer = ConfigsAnswer<std::string>;
  auto a = co_await GetConfig(ctx, from);
  if (!a.ok()) co_return Answer{a.status, a.error};
  auto b = co_await GetConfig(ctx, to);
  if (!b.ok()) co_return Answer{b.status, b.error};
  co_return Answer{200, "",
                   base::UnifiedDiff(a.value.text, b.value.text,
                                     fmt::format("config #{} ({})", from, a.value.time),
                                     fmt::format("config #{} ({})", to, b.value.time))};
}

asio::awaitable<EditOutcome> RollbackConfig(const AdminContext& ctx, const Request& req,
                                            std::uint64_t number) {
  auto fields = CommitFields(req);
  if (!fields) co_return EditOutcome{400, fields.error().message};
  std::string comment = fmt::format("rollback to {}", number);
  if (!fields->comment.empty()) comment += ": " + fields->comment;
  if (ctx.cluster != nullptr) {
    fields->comment = std::move(comment);
    cluster::CommitResult r = co_await ctx.cluster->Rollback(number, std::move(*fields));
    if (!r.ok()) co_return EditOutcome{r.http_status(), r.message};
    co_return EditOutcome{200, "", r.history_entry};
  }
  if (ctx.history == nullptr) co_return EditOutcome{503, kUnavailable};
  auto entry = ctx.history->Get(number);
  if (!entry) co_return EditOutcome{404, entry.error().message};
  auto editor = LoadEditor(ctx);
  if (!editor) co_return EditOutcome{500, editor.error().message};
  if (base::Status s = editor->SetText(entry->text); !s) {
    co_return EditOutcome{400, fmt::format("entry {} cannot be applied: {}", number,
                                           s.error().message)};
  }
  EditOutcome r = co_await CommitEdit(ctx, *editor, req, &comment);
  co_return r;
}

namespace {

json EntryJson(const config::HistoryEntry& e) {
  json out{{"number", e.number}, {"time", e.time}, {"user", e.user}, {"comment", e.comment}};
  if (!e.level.empty()) out["level"] = e.level;  // cluster mode: where the commit went
  return out;
}

std::optional<std::uint64_t> Number(std::string_view s) {
  auto n = ParseU64(s);
  if (!n || *n == 0) return std::nullopt;
  return n;
}

}  // namespace

void RegisterConfigsApi(admin::Server& server, std::shared_ptr<const AdminContext> c) {
  server.Api("GET", "/api/v1/configs", [c](Request&) -> asio::awaitable<Response> {
    auto list = co_await ListConfigs(*c);
    if (!list.ok()) co_return Response::Error(list.status, list.error);
    json out = json::array();
    for (const auto& e : list.value) out.push_back(EntryJson(e));
    co_return Response::Json(200, out);
  });

  server.Api("GET", "/api/v1/configs/*", [c](Request& req) -> asio::awaitable<Response> {
    if (req.subpath == "diff") {
      auto from = Number(req.param("from"));
      auto to = Number(req.param("to"));
      if (!from || !to) co_return Response::Error(400, "from and to must be entry numbers");
      auto diff = co_await DiffConfigs(*c, *from, *to);
      if (!diff.ok()) co_return Response::Error(diff.status, diff.error);
      co_return Response::Json(200, json{{"from", *from}, {"to", *to}, {"diff", diff.value}});
    }
    auto n = Number(req.subpath);
    if (!n) co_return Response::Error(404, "no such endpoint");
    auto e = co_await GetConfig(*c, *n);
    if (!e.ok()) co_return Response::Error(e.status, e.error);
    json out = EntryJson(e.value);
    out["text"] = e.value.text;
    co_return Response::Json(200, out);
  });

  server.Api("POST", "/api/v1/configs/*", [c](Request& req) -> asio::awaitable<Response> {
    const std::string& sub = req.subpath;
    const auto slash = sub.find('/');
    auto n = slash == std::string::npos ? std::nullopt : Number(sub.substr(0, slash));
    if (!n || sub.substr(slash + 1) != "rollback") {
      co_return Response::Error(404, "no such endpoint");
    }
    EditOutcome r = co_await RollbackConfig(*c, req, *n);
    if (!r.ok()) co_return Response::Error(r.http_status, r.message);
    c->log->Info(fmt::format("admin: user {} from {}: configs rollback {}", req.user,
                             req.remote_ip, *n));
    json out{{"ok", true}};
    if (r.entry != 0) out["number"] = r.entry;
    co_return Response::Json(200, out);
  });
}

}  // namespace tidegate::webui
