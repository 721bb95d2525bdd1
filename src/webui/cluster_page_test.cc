// cluster_page_test.cc — the pure rendering of cluster mode's Web UI (admin_ui_cluster.cc): the
// mode banner of each level, the Centralized Management Options (origin, which of Override here
// and Inherit is offered, the shadowed warning), every form's CSRF field, the return path kept on
// this site, the Cluster page's machine table (health, revision, admin URL link, escaping) and
// the registry error; the section each settings page edits. The pages against a real etcd and
// two gateways in Chromium: tests/e2e/test_webui_cluster.py.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "webui/admin_ui_internal.h"

namespace tidegate::webui::ui {
namespace {

using cluster::Level;
using cluster::LevelKind;

constexpr std::string_view kCsrf = "<input type=\"hidden\" name=\"csrf_token\" value=\"T0K\">";

cluster::ClusterState State(Level mode, Level tdc_origin) {
  cluster::ClusterState s;
  s.cluster_name = "Test_Cluster";
  s.machine = "gw1";
  s.group = "Main_Group";
  s.mode = std::move(mode);
  s.connected = true;
  s.revision_seen = 12;
  s.applied_revision = 12;
  s.sections = {{"threat_defense_connector", std::move(tdc_origin)},
                {"incoming_mail_policies", Level{LevelKind::kCluster, ""}}};
  return s;
}

std::size_t Count(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(ClusterOptions, ClusterModeOffersOverrideOnlyAndEveryFormHasTheToken) {
  const std::string html =
      RenderClusterOptions(State(Level{LevelKind::kCluster, ""}, Level{LevelKind::kCluster, ""}),
                           "threat_defense_connector", "/ui/tdc", kCsrf, "");
  EXPECT_NE(html.find("Mode — Cluster: Test_Cluster"), std::string::npos) << html;
  EXPECT_NE(html.find("Change Mode..."), std::string::npos);
  EXPECT_NE(html.find("Centralized Management Options"), std::string::npos);
  EXPECT_NE(html.find("id=\"origin-level\">Cluster: Test_Cluster<"), std::string::npos) << html;
  // Origin == mode at the cluster level: nothing to override, nothing to inherit.
  EXPECT_EQ(html.find("id=\"override\""), std::string::npos);
  EXPECT_EQ(html.find("id=\"inherit\""), std::string::npos);
  EXPECT_EQ(Count(html, "<form "), Count(html, kCsrf));
  EXPECT_NE(html.find("name=\"return\" value=\"/ui/tdc\""), std::string::npos);
}

TEST(ClusterOptions, MachineModeOverridesThenInherits) {
  const Level gw1{LevelKind::kMachine, "gw1"};
  std::string html = RenderClusterOptions(State(gw1, Level{LevelKind::kCluster, ""}),
                                          "threat_defense_connector", "/ui/tdc", kCsrf, "");
  EXPECT_NE(html.find("Mode — Machine: gw1"), std::string::npos) << html;
  EXPECT_NE(html.find("id=\"override\""), std::string::npos) << html;
  EXPECT_EQ(html.find("id=\"inherit\""), std::string::npos);
  EXPECT_NE(html.find("name=\"section\" value=\"threat_defense_connector\""), std::string::npos);
  EXPECT_NE(html.find("id=\"cm-comment\" name=\"comment\""), std::string::npos);
  EXPECT_EQ(Count(html, "<form "), 2u);
  EXPECT_EQ(Count(html, kCsrf), 2u);

  html = RenderClusterOptions(State(gw1, gw1), "threat_defense_connector", "/ui/tdc", kCsrf,
                              "override");
  EXPECT_NE(html.find("id=\"origin-level\">Machine: gw1<"), std::string::npos) << html;
  EXPECT_EQ(html.find("id=\"override\""), std::string::npos);
  EXPECT_NE(html.find("id=\"inherit\""), std::string::npos);
  EXPECT_NE(html.find("Override created"), std::string::npos);
}

TEST(ClusterOptions, GroupModeAndAShadowingMachineOverride) {
  const std::string html = RenderClusterOptions(
      State(Level{LevelKind::kGroup, "Main_Group"}, Level{LevelKind::kMachine, "gw1"}),
      "threat_defense_connector", "/ui/tdc", kCsrf, "");
  EXPECT_NE(html.find("Mode — Group: Main_Group"), std::string::npos) << html;
  EXPECT_NE(html.find("id=\"shadowed\""), std::string::npos) << html;
  EXPECT_NE(html.find("id=\"override\""), std::string::npos);
}

TEST(ClusterOptions, ASectionInNoLevelAndNoSection) {
  std::string html = RenderClusterOptions(State(Level{}, Level{}), "anti_spam", "/ui/x", kCsrf, "");
  EXPECT_NE(html.find("no level (the defaults)"), std::string::npos) << html;
  html = RenderClusterOptions(State(Level{}, Level{}), "", "/ui/cluster", kCsrf, "mode");
  EXPECT_EQ(html.find("Centralized Management Options"), std::string::npos);
  EXPECT_NE(html.find("Mode changed"), std::string::npos);
}

TEST(ClusterOptions, TheReturnPathStaysOnThisSiteAndTheNoticeIsFixedText) {
  for (std::string_view bad :
       {"//evil.example/ui/", "https://evil.example/", "/api/v1/x", "/ui//evil.example"}) {
    const std::string html = RenderClusterOptions(State(Level{}, Level{}), "", bad, kCsrf, "");
    EXPECT_NE(html.find("name=\"return\" value=\"/ui/cluster\""), std::string::npos) << bad;
  }
  std::string html = RenderClusterOptions(State(Level{}, Level{}), "", "/ui/policies/a b\"<x>/tdc",
                                          kCsrf, "<script>");
  EXPECT_NE(html.find("value=\"/ui/policies/a%20b%22%3Cx%3E/tdc\""), std::string::npos) << html;
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("class=\"notice\""), std::string::npos);
}

TEST(ClusterPage, MachinesWithHealthRevisionAndLinks) {
  cluster::ClusterState s = State(Level{}, Level{});
  std::vector<cluster::MachineInfo> machines = {
      {"gw2", "", "http://127.0.0.1:9002", 11, false},
      {"gw1", "Main_Group", "http://127.0.0.1:9001", 12, true},
      {"<b>", "", "javascript:alert(1)", 12, true}};
  const std::string html = RenderClusterPage(s, machines, kCsrf, "");
  EXPECT_NE(html.find("id=\"cluster-name\">Test_Cluster<"), std::string::npos) << html;
  EXPECT_NE(html.find("id=\"connection\">connected<"), std::string::npos);
  EXPECT_NE(html.find("id=\"applied-revision\">12<"), std::string::npos);
  // Sorted by name; gw1 is this machine, gw2 refused its newest revision.
  EXPECT_LT(html.find("data-machine=\"gw1\""), html.find("data-machine=\"gw2\""));
  EXPECT_NE(html.find("gw1 <span class=\"muted\">(this machine)</span>"), std::string::npos);
  EXPECT_NE(html.find("<tr data-machine=\"gw2\" class=\"down\">"), std::string::npos) << html;
  EXPECT_NE(html.find("unhealthy"), std::string::npos);
  EXPECT_NE(html.find("<a href=\"http://127.0.0.1:9002/ui/cluster\">"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_EQ(html.find("href=\"javascript:"), std::string::npos);
  EXPECT_EQ(html.find("not in the registry"), std::string::npos);
}

TEST(ClusterPage, DisconnectedAndTheRegistryUnreadable) {
  cluster::ClusterState s = State(Level{}, Level{});
  s.connected = false;
  s.disconnect_reason = "connection refused";
  const std::string html =
      RenderClusterPage(s, base::MakeError("cluster configuration store unreachable"), kCsrf, "");
  EXPECT_NE(html.find("disconnected since "), std::string::npos) << html;
  EXPECT_NE(html.find("(connection refused)"), std::string::npos);
  EXPECT_NE(html.find("The machine registry cannot be read: cluster configuration store "
                      "unreachable"),
            std::string::npos);
}

TEST(ClusterPage, SectionOfEachSettingsPage) {
  EXPECT_EQ(SectionOfPage("/ui/tdc"), "threat_defense_connector");
  EXPECT_EQ(SectionOfPage("/ui/policies"), "incoming_mail_policies");
  EXPECT_EQ(SectionOfPage("/ui/policies/Sales/antispam"), "incoming_mail_policies");
  EXPECT_EQ(SectionOfPage("/ui/security/antispam/test"), "anti_spam");
  EXPECT_EQ(SectionOfPage("/ui/security/antivirus"), "anti_virus");
  EXPECT_EQ(SectionOfPage("/ui/recipient-validation/test"), "recipient_validation");
  EXPECT_EQ(SectionOfPage("/ui/status"), "");
  EXPECT_EQ(SectionOfPage("/ui/tdcx"), "");
}

TEST(ClusterPage, CommentFieldOnlyInClusterMode) {
  config::GatewayConfig cfg;
  EXPECT_EQ(CommentField(cfg), "");
  cfg.cluster.emplace();
  EXPECT_NE(CommentField(cfg).find("name=\"comment\""), std::string::npos);
}

}  // namespace
}  // namespace tidegate::webui::ui
