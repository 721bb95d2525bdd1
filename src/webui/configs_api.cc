// configs_api.cc — the configuration history endpoints (CONTRACT §12; docs/admin-api.md):
//   GET  /api/v1/configs                     [{number, time, user, comment}], oldest first
//   GET  /api/v1/configs/<n>                 {number, time, user, comment, text}
//   GET  /api/v1/configs/diff?from=N&to=M    {from, to, diff} (unified diff)
//   POST /api/v1/configs/<n>/rollback        {comment?} → commits entry n as a new entry
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/unified_diff.h"
#include "webui/admin_api.h"
#include "webui/configs.h"

namespace tidegate::webui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;
using nlohmann::json;

base::Result<std::string> ConfigsDiff(const config::ConfigHistory& history, std::uint64_t from,
                                      std::uint64_t to) {
  auto a = history.Get(from);
  if (!a) return a.error();
  auto b = history.Get(to);
  if (!b) return b.error();
  return base::UnifiedDiff(a->text, b->text, fmt::format("config #{} ({})", from, a->time),
                           fmt::format("config #{} ({})", to, b->time));
}

asio::awaitable<EditOutcome> RollbackConfig(const AdminContext& ctx, const Request& req,
                                            std::uint64_t number) {
  if (ctx.history == nullptr) co_return EditOutcome{503, "the configuration history is unavailable"};
  auto entry = ctx.history->Get(number);
  if (!entry) co_return EditOutcome{404, entry.error().message};
  auto editor = LoadEditor(ctx);
  if (!editor) co_return EditOutcome{500, editor.error().message};
  if (base::Status s = editor->SetText(entry->text); !s) {
    co_return EditOutcome{400, fmt::format("entry {} cannot be applied: {}", number,
                                           s.error().message)};
  }
  std::string comment = fmt::format("rollback to {}", number);
  auto fields = CommitFields(req);
  if (fields && !fields->comment.empty()) comment += ": " + fields->comment;
  EditOutcome r = co_await CommitEdit(ctx, *editor, req, &comment);
  co_return r;
}

namespace {

json EntryJson(const config::HistoryEntry& e) {
  return json{{"number", e.number}, {"time", e.time}, {"user", e.user}, {"comment", e.comment}};
}

std::optional<std::uint64_t> Number(std::string_view s) {
  auto n = ParseU64(s);
  if (!n || *n == 0) return std::nullopt;
  return n;
}

}  // namespace

void RegisterConfigsApi(admin::Server& server, std::shared_ptr<const AdminContext> c) {
  server.Api("GET", "/api/v1/configs", [c](Request&) -> asio::awaitable<Response> {
    if (c->history == nullptr) co_return Response::Error(503, "the configuration history is unavailable");
    json out = json::array();
    for (const auto& e : c->history->List()) out.push_back(EntryJson(e));
    co_return Response::Json(200, out);
  });

  server.Api("GET", "/api/v1/configs/*", [c](Request& req) -> asio::awaitable<Response> {
    if (c->history == nullptr) co_return Response::Error(503, "the configuration history is unavailable");
    if (req.subpath == "diff") {
      auto from = Number(req.param("from"));
      auto to = Number(req.param("to"));
      if (!from || !to) co_return Response::Error(400, "from and to must be entry numbers");
      auto diff = ConfigsDiff(*c->history, *from, *to);
      if (!diff) co_return Response::Error(404, diff.error().message);
      co_return Response::Json(200, json{{"from", *from}, {"to", *to}, {"diff", *diff}});
    }
    auto n = Number(req.subpath);
    if (!n) co_return Response::Error(404, "no such endpoint");
    auto e = c->history->Get(*n);
    if (!e) co_return Response::Error(404, e.error().message);
    json out = EntryJson(*e);
    out["text"] = e->text;
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
    if (c->history != nullptr) {
      if (auto newest = c->history->newest()) out["number"] = *newest;
    }
    co_return Response::Json(200, out);
  });
}

}  // namespace tidegate::webui
