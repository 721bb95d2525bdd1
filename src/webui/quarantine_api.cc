// quarantine_api.cc — /api/v1/quarantine (CONTRACT §10): list and search the Spam and Virus
// quarantines, show one message's headers, release or delete it. Release and delete block on
// disk I/O and a spool commit: they run on the content-security worker, never on the io thread.
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "webui/admin_api.h"
#include "webui/admin_common.h"

namespace tidegate::webui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;
using nlohmann::json;

namespace {

std::string Attr(const spool::MessageMeta& m, const char* key) {
  auto it = m.attrs.find(key);
  return it == m.attrs.end() ? std::string() : it->second;
}

json EntryJson(const quarantine::Entry& e) {
  json rcpts = json::array();
  for (const spool::Recipient& r : e.meta.recipients) rcpts.push_back(r.address);
  return json{{"mid", e.meta.mid},
              {"quarantine", e.quarantine},
              {"stored", Epoch(e.stored)},
              {"received", Epoch(e.meta.received)},
              {"reason", e.reason},
              {"sender", e.meta.sender},
              {"recipients", rcpts},
              {"subject", Attr(e.meta, "subject")},
              {"message_id", Attr(e.meta, "message_id")},
              {"policy", e.meta.policy},
              {"size", e.size}};
}

}  // namespace

std::string HeaderSection(std::string_view message) {
  constexpr std::size_t kMax = 64 << 10;
  std::size_t end = message.find("\r\n\r\n");
  end = end == std::string_view::npos ? message.size() : end + 2;
  return std::string(message.substr(0, std::min(end, kMax)));
}

void RegisterQuarantineApi(admin::Server& server, std::shared_ptr<const AdminContext> c) {
  server.Api("GET", "/api/v1/quarantine", [c](Request& req) -> asio::awaitable<Response> {
    if (c->quarantine == nullptr) co_return Response::Error(503, "quarantine unavailable");
    quarantine::Query q;
    q.quarantine = req.param("quarantine");
    if (!q.quarantine.empty() && q.quarantine != quarantine::kSpam &&
        q.quarantine != quarantine::kVirus) {
      co_return Response::Error(400, "quarantine must be Spam or Virus");
    }
    q.search = req.param("search");
    for (const char* key : {"offset", "limit"}) {
      if (req.param(key).empty()) continue;
      auto v = ParseU64(req.param(key));
      if (!v) co_return Response::Error(400, std::string(key) + " must be a number");
      (std::string_view(key) == "offset" ? q.offset : q.limit) = *v;
    }
    q.limit = std::min<std::size_t>(q.limit, 1000);
    const quarantine::Page page = c->quarantine->List(q);
    json rows = json::array();
    for (const quarantine::Entry& e : page.entries) rows.push_back(EntryJson(e));
    const auto stats = c->quarantine->stats();
    co_return Response::Json(200, json{{"total", page.total},
                                       {"offset", q.offset},
                                       {"messages", rows},
                                       {"counts", stats.messages},
                                       {"bytes", stats.bytes}});
  });

  server.Api("GET", "/api/v1/quarantine/*", [c](Request& req) -> asio::awaitable<Response> {
    if (c->quarantine == nullptr) co_return Response::Error(503, "quarantine unavailable");
    auto mid = ParseU64(req.subpath);
    if (!mid) co_return Response::Error(404, "no such message");
    auto e = c->quarantine->Get(*mid);
    if (!e) co_return Response::Error(404, fmt::format("MID {} is not in a quarantine", *mid));
    std::string message;
    if (base::Status s = c->quarantine->ReadMessage(*mid, message); !s) {
      co_return Response::Error(500, s.error().message);
    }
    json j = EntryJson(*e);
    // Bytes that are not UTF-8 are replaced when the reply is written (Response::Json).
    j["headers"] = HeaderSection(message);
    co_return Response::Json(200, j);
  });

  server.Api("POST", "/api/v1/quarantine/*", [c](Request& req) -> asio::awaitable<Response> {
    if (c->quarantine == nullptr || c->worker == nullptr) {
      co_return Response::Error(503, "quarantine unavailable");
    }
    const std::string& sub = req.subpath;
    const auto slash = sub.find('/');
    const std::string action = slash == std::string::npos ? "" : sub.substr(slash + 1);
    auto mid = ParseU64(sub.substr(0, slash));
    if (!mid || (action != "release" && action != "delete")) {
      co_return Response::Error(404, "expected /api/v1/quarantine/<mid>/release or /delete");
    }
    const std::string user = req.user;
    auto& f = action == "release" ? c->quarantine_release : c->quarantine_delete;
    // A named local, not a temporary: GCC 12 mishandles temporaries living across a co_await.
    std::function<base::Status()> work = [&f, mid = *mid, user] { return f(mid, user); };
    base::Status s = co_await OnWorker(*c->worker, std::move(work));
    if (!s)
      co_return Response::Error(
          s.error().message.find("is not in a quarantine") != std::string::npos ? 404 : 500,
          s.error().message);
    c->log->Info(fmt::format("admin: user {} from {}: quarantine {} {}", req.user, req.remote_ip,
                             action, *mid));
    co_return Response::Json(200, json{{"ok", true}, {"mid", *mid}, {"action", action}});
  });
}

}  // namespace tidegate::webui
