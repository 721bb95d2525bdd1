// admin_ui_cluster.cc — the Web UI of cluster mode (CONTRACT §11 "Web UI"):
//   /ui/cluster            System Administration › Cluster: this machine's cluster, group, mode,
//                          connection and revisions, where each shared section comes from, the
//                          registry's machines (group, applied revision, health, admin URL) and
//                          the Change Mode form
//   POST /ui/cluster/mode     {level, name, return}           Agent::SetMode
//   POST /ui/cluster/section  {section, action, comment, return}  Agent::Override / Inherit at
//                             this machine's mode level
// and the block every settings page of a shared section shows at its top in cluster mode
// (ClusterOptions): "Mode — Cluster: <name>" (or Group / Machine), Change Mode... and the
// Centralized Management Options of the page's section. The rendering is pure
// (RenderClusterOptions, RenderClusterPage) so that unit tests cover it without etcd.
//
// The posts come back (303) to the page named by `return` (a /ui/ path, re-encoded, never another
// host) with ?cluster=<what> for the notice; a refused change (400 invalid, 409 conflict, 503 store
// unreachable) is shown in a page of its own with the alert, the options again and a link back.
#include <fmt/format.h>

#include <algorithm>

#include "admin/layout.h"
#include "cluster/sections.h"
#include "webui/admin_common.h"
#include "webui/admin_ui_internal.h"

namespace tidegate::webui::ui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;

namespace {

constexpr const char* kTitle = "Cluster";
constexpr const char* kOptionsTitle = "Centralized Management Options";

std::string KindTitle(cluster::LevelKind kind) {
  switch (kind) {
    case cluster::LevelKind::kCluster:
      return "Cluster";
    case cluster::LevelKind::kGroup:
      return "Group";
    case cluster::LevelKind::kMachine:
      return "Machine";
    case cluster::LevelKind::kNone:
      break;
  }
  return "None";
}

// "Cluster: Test_Cluster", "Group: Main_Group", "Machine: gw1".
std::string LevelTitle(const cluster::Level& level, std::string_view cluster_name) {
  if (level.kind == cluster::LevelKind::kCluster) {
    return fmt::format("Cluster: {}", cluster_name);
  }
  if (level.kind == cluster::LevelKind::kNone) return "no level (the defaults)";
  return fmt::format("{}: {}", KindTitle(level.kind), level.name);
}

const char* KindValue(cluster::LevelKind kind) {
  switch (kind) {
    case cluster::LevelKind::kGroup:
      return "group";
    case cluster::LevelKind::kMachine:
      return "machine";
    default:
      return "cluster";
  }
}

cluster::Level OriginOf(const cluster::ClusterState& s, std::string_view section) {
  for (const cluster::SectionOrigin& o : s.sections) {
    if (o.section == section) return o.level;
  }
  return cluster::Level{cluster::LevelKind::kNone, ""};
}

// The notices of ?cluster=<what> after a successful post (fixed texts: nothing of the URL is
// shown).
std::string_view NoticeText(std::string_view what) {
  if (what == "mode") return "Mode changed: changes made on this machine now go to its level.";
  if (what == "override")
    return "Override created: this level now has its own copy of the section.";
  if (what == "inherit") return "Override removed: the section is inherited again.";
  return "";
}

// A /ui/ path safe to redirect to and to put in a form: anything else is /ui/cluster.
std::string SafeReturn(std::string_view path) {
  if (path.size() < 4 || path.substr(0, 4) != "/ui/" || path.find("//") != std::string::npos) {
    return "/ui/cluster";
  }
  std::string out;
  for (char ch : path) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
        c == '-' || c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string ModeForm(const cluster::ClusterState& s, std::string_view return_to,
                     std::string_view csrf_field) {
  std::string options;
  for (const char* kind : {"cluster", "group", "machine"}) {
    options += fmt::format("<option value=\"{0}\"{1}>{0}</option>", kind,
                           KindValue(s.mode.kind) == std::string_view(kind) ? " selected" : "");
  }
  return fmt::format(
      "<details class=\"change-mode\"><summary id=\"change-mode\">Change Mode...</summary>"
      "<form method=\"post\" action=\"/ui/cluster/mode\" id=\"mode-form\">{}"
      "<input type=\"hidden\" name=\"return\" value=\"{}\">"
      "<div class=\"field\"><label for=\"mode-level\">Level</label>"
      "<select id=\"mode-level\" name=\"level\">{}</select></div>"
      "<div class=\"field\"><label for=\"mode-name\">Group or machine name</label>"
      "<input type=\"text\" id=\"mode-name\" name=\"name\" value=\"{}\" spellcheck=\"false\"> "
      "<span class=\"muted\">this machine: {}, its group: {}; empty for the cluster</span></div>"
      "<div class=\"field\"><button type=\"submit\" id=\"mode-submit\">Change Mode</button>"
      "</div></form></details>",
      csrf_field, Esc(return_to), options, Esc(s.mode.name), Esc(s.machine),
      s.group.empty() ? "(none)" : Esc(s.group));
}

}  // namespace

std::string RenderClusterOptions(const cluster::ClusterState& s, std::string_view section,
                                 std::string_view return_to, std::string_view csrf_field,
                                 std::string_view notice) {
  const std::string back = SafeReturn(return_to);
  std::string out = Notice(NoticeText(notice));
  out += fmt::format(
      "<div class=\"panel cluster-mode\" id=\"cluster-mode\"><p class=\"mode\">"
      "<strong id=\"mode-banner\">Mode — {}</strong> <span class=\"muted\">(changes made on "
      "this machine go to this level)</span></p>",
      Esc(LevelTitle(s.mode, s.cluster_name)));
  out += ModeForm(s, back, csrf_field);
  if (section.empty()) return out + "</div>";
  const cluster::Level origin = OriginOf(s, section);
  out += fmt::format(
      "<h2>{}</h2><p id=\"section-origin\">The settings of this page (<code>{}</code>) come "
      "from: <strong id=\"origin-level\">{}</strong>.</p>",
      kOptionsTitle, Esc(section), Esc(LevelTitle(origin, s.cluster_name)));
  const auto rank = [](cluster::LevelKind k) { return static_cast<int>(k); };
  if (origin.kind != cluster::LevelKind::kNone && rank(origin.kind) > rank(s.mode.kind)) {
    out += fmt::format(
        "<p class=\"alert\" id=\"shadowed\">Changes made here go to the {} level, but this "
        "machine uses the override at {}: they will not take effect on this machine.</p>",
        Esc(cluster::LevelText(s.mode)), Esc(LevelTitle(origin, s.cluster_name)));
  }
  const bool can_override = origin != s.mode;
  const bool can_inherit = origin == s.mode && s.mode.kind != cluster::LevelKind::kCluster;
  std::string buttons;
  if (can_override) {
    buttons += fmt::format(
        "<button type=\"submit\" name=\"action\" value=\"override\" id=\"override\">Override "
        "here</button> <span class=\"muted\">copies the current settings to {} and edits them "
        "there</span> ",
        Esc(LevelTitle(s.mode, s.cluster_name)));
  }
  if (can_inherit) {
    buttons += fmt::format(
        "<button type=\"submit\" name=\"action\" value=\"inherit\" id=\"inherit\">Inherit"
        "</button> <span class=\"muted\">removes the override at {}</span>",
        Esc(LevelTitle(s.mode, s.cluster_name)));
  }
  if (buttons.empty()) return out + "</div>";
  out += fmt::format(
      "<form method=\"post\" action=\"/ui/cluster/section\" id=\"section-form\">{}"
      "<input type=\"hidden\" name=\"section\" value=\"{}\">"
      "<input type=\"hidden\" name=\"return\" value=\"{}\">"
      "<div class=\"field\"><label for=\"cm-comment\">Comment (optional)</label>"
      "<input type=\"text\" id=\"cm-comment\" name=\"comment\" size=\"50\"></div>"
      "<div class=\"field\">{}</div></form></div>",
      csrf_field, Esc(section), Esc(back), buttons);
  return out;
}

std::string RenderClusterPage(const cluster::ClusterState& s,
                              const base::Result<std::vector<cluster::MachineInfo>>& machines,
                              std::string_view csrf_field, std::string_view notice) {
  std::string out = RenderClusterOptions(s, "", "/ui/cluster", csrf_field, notice);
  const std::string connection =
      s.connected ? std::string("connected")
                  : fmt::format("disconnected since {} ({})",
                                LocalTime(s.disconnected_since, "%Y-%m-%d %H:%M:%S %Z"),
                                s.disconnect_reason);
  out += fmt::format(
      "<div class=\"panel\"><h2>This machine</h2><table class=\"kv\" id=\"this-machine\">"
      "<tr><th>Cluster</th><td id=\"cluster-name\">{}</td></tr>"
      "<tr><th>Machine</th><td id=\"machine-name\">{}</td></tr>"
      "<tr><th>Group</th><td>{}</td></tr>"
      "<tr><th>Mode</th><td id=\"mode\">{}</td></tr>"
      "<tr><th>Configuration store</th><td id=\"connection\">{}</td></tr>"
      "<tr><th>Running revision</th><td id=\"applied-revision\">{}</td></tr>"
      "<tr><th>Newest revision seen</th><td>{}</td></tr></table>",
      Esc(s.cluster_name), Esc(s.machine), s.group.empty() ? "(none)" : Esc(s.group),
      Esc(cluster::LevelText(s.mode)), Esc(connection), s.applied_revision, s.revision_seen);
  out += "<h2>Shared sections</h2><table class=\"kv\" id=\"sections\">";
  for (const cluster::SectionOrigin& o : s.sections) {
    out += fmt::format("<tr><th><code>{}</code></th><td>{}</td></tr>", Esc(o.section),
                       Esc(LevelTitle(o.level, s.cluster_name)));
  }
  out += "</table></div><div class=\"panel\"><h2>Machines</h2>";
  if (!machines) {
    return out + Alert("The machine registry cannot be read: " + machines.error().message) +
           "</div>";
  }
  std::vector<cluster::MachineInfo> rows = *machines;
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  out +=
      "<table id=\"machines\"><thead><tr><th>Machine</th><th>Group</th>"
      "<th class=\"num\">Applied revision</th><th>Health</th><th>Admin URL</th></tr></thead>"
      "<tbody>";
  for (const cluster::MachineInfo& m : rows) {
    const bool behind = m.applied_revision < s.revision_seen;
    std::string health = m.healthy ? "healthy" : "unhealthy: its newest revision was refused";
    if (m.healthy && behind) health += " (behind)";
    const bool http = m.admin_url.rfind("http://", 0) == 0 || m.admin_url.rfind("https://", 0) == 0;
    out += fmt::format(
        "<tr data-machine=\"{0}\"{1}><td>{0}{2}</td><td>{3}</td><td class=\"num\">{4}</td>"
        "<td class=\"health\">{5}</td><td>{6}</td></tr>",
        Esc(m.name), m.healthy ? "" : " class=\"down\"",
        m.name == s.machine ? " <span class=\"muted\">(this machine)</span>" : "",
        m.group.empty() ? "" : Esc(m.group), m.applied_revision, Esc(health),
        http ? fmt::format("<a href=\"{0}/ui/cluster\">{0}</a>", Esc(m.admin_url))
             : Esc(m.admin_url));
  }
  out += "</tbody></table>";
  if (std::none_of(rows.begin(), rows.end(), [&](const auto& m) { return m.name == s.machine; })) {
    out += Alert("This machine is not in the registry (not registered yet, or its lease ran out).");
  }
  out +=
      "<p class=\"muted\">A machine that stopped or lost the configuration store leaves this list "
      "when its registry lease runs out (10 s).</p></div>";
  return out;
}

std::string_view SectionOfPage(std::string_view path) {
  const auto under = [path](std::string_view prefix) {
    return path == prefix ||
           (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix &&
            path[prefix.size()] == '/');
  };
  if (under("/ui/tdc")) return "threat_defense_connector";
  if (under("/ui/policies")) return "incoming_mail_policies";
  if (under("/ui/security/antispam")) return "anti_spam";
  if (under("/ui/security/antivirus")) return "anti_virus";
  if (under("/ui/recipient-validation")) return "recipient_validation";
  return "";
}

std::string ClusterOptions(const Request& req, const AdminContext& ctx, std::string_view section) {
  if (ctx.cluster == nullptr) return "";
  // The page to come back to is a GET page: a test's or a move's result page is not.
  std::string_view back = req.path;
  for (std::string_view post_only : {"/test", "/move"}) {
    if (back.size() > post_only.size() &&
        back.substr(back.size() - post_only.size()) == post_only) {
      back.remove_suffix(post_only.size());
      if (post_only == "/move") back = "/ui/policies";
    }
  }
  return RenderClusterOptions(ctx.cluster->State(), section, back, admin::CsrfField(req),
                              req.param("cluster"));
}

std::string CommentField(const config::GatewayConfig& cfg) {
  if (!cfg.cluster) return "";
  return "<div class=\"field\"><label for=\"comment\">Comment</label>"
         "<input type=\"text\" id=\"comment\" name=\"comment\" size=\"50\"> <span "
         "class=\"muted\">for the cluster's change log (optional)</span></div>";
}

void RegisterClusterPages(admin::Server& server, const UiPtr& ui) {
  server.Page("GET", "/ui/cluster", [ui](Request& req) -> asio::awaitable<Response> {
    if (ui->ctx.cluster == nullptr) {
      co_return Page(req, 200, kTitle,
                     "<p class=\"notice\" id=\"not-cluster\">This gateway is not in cluster mode: "
                     "its configuration is its own file. A <code>cluster:</code> section in that "
                     "file joins a cluster (docs/design-cluster.md).</p>");
    }
    auto machines = co_await ui->ctx.cluster->Machines();
    co_return Page(req, 200, kTitle,
                   RenderClusterPage(ui->ctx.cluster->State(), machines, admin::CsrfField(req),
                                     req.param("cluster")));
  });

  // A refused post: its own page with the alert, the options again and the way back.
  auto refused = [ui](const Request& req, int status, std::string_view section,
                      const std::string& message) {
    const std::string back = SafeReturn(req.field("return"));
    std::string body = Alert(message);
    body +=
        RenderClusterOptions(ui->ctx.cluster->State(), section, back, admin::CsrfField(req), "");
    body += fmt::format("<p><a href=\"{0}\" id=\"back\">Back to {0}</a></p>", Esc(back));
    return Page(req, status, kOptionsTitle, std::move(body));
  };

  server.Page("POST", "/ui/cluster/mode", [ui, refused](Request& req) -> asio::awaitable<Response> {
    if (ui->ctx.cluster == nullptr) co_return MessagePage(req, 404, kTitle, "Not in cluster mode.");
    const std::string kind = req.field("level");
    auto level = cluster::ParseLevel(kind, kind == "cluster" ? "" : Trim(req.field("name")));
    if (!level) co_return refused(req, 400, "", level.error().message);
    if (base::Status s = ui->ctx.cluster->SetMode(*level); !s) {
      co_return refused(req, 500, "", s.error().message);
    }
    ui->server->Audit(req, "clusterconfig mode " + cluster::LevelText(*level));
    co_return Response::Redirect(SafeReturn(req.field("return")) + "?cluster=mode", 303);
  });

  server.Page(
      "POST", "/ui/cluster/section", [ui, refused](Request& req) -> asio::awaitable<Response> {
        if (ui->ctx.cluster == nullptr)
          co_return MessagePage(req, 404, kTitle, "Not in cluster mode.");
        const std::string section = req.field("section");
        const std::string action = req.field("action");
        if (!cluster::IsSharedSection(section)) {
          co_return refused(req, 400, "", "Not a shared section: " + section);
        }
        if (action != "override" && action != "inherit") {
          co_return refused(req, 400, section, "Choose Override here or Inherit.");
        }
        auto fields = CommitFields(req);
        if (!fields) co_return refused(req, 400, section, fields.error().message);
        const cluster::Level mode = ui->ctx.cluster->State().mode;
        cluster::CommitResult r;
        if (action == "override") {
          r = co_await ui->ctx.cluster->Override(section, mode, std::move(*fields));
        } else {
          r = co_await ui->ctx.cluster->Inherit(section, mode, std::move(*fields));
        }
        if (!r.ok()) co_return refused(req, r.http_status(), section, r.message);
        ui->server->Audit(
            req, fmt::format("clusterconfig {} {} {}", action, section, cluster::LevelText(mode)));
        co_return Response::Redirect(SafeReturn(req.field("return")) + "?cluster=" + action, 303);
      });
}

}  // namespace tidegate::webui::ui
