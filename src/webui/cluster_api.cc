// cluster_api.cc — the cluster endpoints of the admin API (CONTRACT §11), used by `tidegate
// clusterconfig`, `status --cluster`, `tophosts --cluster` and the Web UI's Cluster page:
//   GET  /api/v1/cluster            mode, connection, revisions, the level of each section
//   GET  /api/v1/cluster/machines   the registry
//   POST /api/v1/cluster/mode       {level, name}
//   POST /api/v1/cluster/inherit    {section, level, name, comment, base_revision}
//   POST /api/v1/cluster/override   {section, level, name, comment, base_revision}
// A gateway that is not in cluster mode answers 404 "not in cluster mode".
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "webui/admin_api.h"
#include "webui/admin_common.h"

namespace tidegate::webui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;
using json = nlohmann::json;

namespace {

json LevelJson(const cluster::Level& level) {
  return json{{"level", cluster::LevelKindName(level.kind)}, {"name", level.name}};
}

std::string Field(const Request& req, const json& body, const char* name) {
  if (std::string v = req.field(name); !v.empty()) return v;
  if (body.is_object() && body.contains(name) && body[name].is_string()) return body[name];
  return "";
}

json BodyOf(const Request& req) {
  if (!req.form.empty() || req.body.empty()) return json::object();
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : json::object();
}

Response NotInCluster() { return Response::Error(404, "not in cluster mode"); }

}  // namespace

json ClusterStateJson(const cluster::ClusterState& s) {
  json sections = json::array();
  for (const cluster::SectionOrigin& o : s.sections) {
    json e = LevelJson(o.level);
    e["section"] = o.section;
    sections.push_back(e);
  }
  return json{{"cluster", s.cluster_name},
              {"machine", s.machine},
              {"group", s.group},
              {"mode", LevelJson(s.mode)},
              {"connected", s.connected},
              {"disconnected_since", s.connected ? json(nullptr)
                                                 : json(Epoch(s.disconnected_since))},
              {"disconnect_reason", s.connected ? "" : s.disconnect_reason},
              {"revision_seen", s.revision_seen},
              {"applied_revision", s.applied_revision},
              {"sections", sections}};
}

void RegisterClusterApi(admin::Server& server, std::shared_ptr<const AdminContext> c) {
  server.Api("GET", "/api/v1/cluster", [c](Request&) -> asio::awaitable<Response> {
    if (c->cluster == nullptr) co_return NotInCluster();
    co_return Response::Json(200, ClusterStateJson(c->cluster->State()));
  });

  server.Api("GET", "/api/v1/cluster/machines", [c](Request&) -> asio::awaitable<Response> {
    if (c->cluster == nullptr) co_return NotInCluster();
    auto machines = co_await c->cluster->Machines();
    if (!machines) co_return Response::Error(503, machines.error().message);
    json rows = json::array();
    for (const cluster::MachineInfo& m : *machines) {
      rows.push_back({{"name", m.name},
                      {"group", m.group},
                      {"admin_url", m.admin_url},
                      {"applied_revision", m.applied_revision},
                      {"healthy", m.healthy}});
    }
    co_return Response::Json(200, json{{"machines", rows}});
  });

  server.Api("POST", "/api/v1/cluster/mode", [c](Request& req) -> asio::awaitable<Response> {
    if (c->cluster == nullptr) co_return NotInCluster();
    const json body = BodyOf(req);
    auto level = cluster::ParseLevel(Field(req, body, "level"), Field(req, body, "name"));
    if (!level) co_return Response::Error(400, level.error().message);
    if (base::Status s = c->cluster->SetMode(*level); !s) {
      co_return Response::Error(500, s.error().message);
    }
    c->log->Info(fmt::format("admin: user {} from {}: clusterconfig mode {}", req.user,
                             req.remote_ip, cluster::LevelText(*level)));
    co_return Response::Json(200, json{{"ok", true}, {"mode", LevelJson(*level)}});
  });

  for (const std::string verb : {"inherit", "override"}) {
    server.Api("POST", "/api/v1/cluster/" + verb,
               [c, verb](Request& req) -> asio::awaitable<Response> {
                 if (c->cluster == nullptr) co_return NotInCluster();
                 const json body = BodyOf(req);
                 const std::string section = Field(req, body, "section");
                 auto level =
                     cluster::ParseLevel(Field(req, body, "level"), Field(req, body, "name"));
                 if (!level) co_return Response::Error(400, level.error().message);
                 auto fields = CommitFields(req);
                 if (!fields) co_return Response::Error(400, fields.error().message);
                 cluster::CommitResult r;
                 if (verb == "inherit") {
                   r = co_await c->cluster->Inherit(section, *level, std::move(*fields));
                 } else {
                   r = co_await c->cluster->Override(section, *level, std::move(*fields));
                 }
                 if (!r.ok()) co_return Response::Error(r.http_status(), r.message);
                 c->log->Info(fmt::format("admin: user {} from {}: clusterconfig {} {} {}",
                                          req.user, req.remote_ip, verb, section,
                                          cluster::LevelText(*level)));
                 co_return Response::Json(200, json{{"ok", true}, {"revision", r.revision}});
               });
  }
}

}  // namespace tidegate::webui
