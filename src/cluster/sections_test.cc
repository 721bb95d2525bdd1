// sections_test.cc — the pure cluster configuration model: levels and keys, the most specific
// level wins per section, admin.bind stays local, what a commit changed.
#include "cluster/sections.h"

#include <gtest/gtest.h>

#include "config/config.h"

namespace tidegate::cluster {
namespace {

const std::string kPrefix = "/tg/";

const std::string kLocal =
    "hostname: gw1.example.com\n"
    "data_dir: /var/lib/tidegate\n"
    "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
    "accepted_domains: [local.example]\n"  // shared: ignored once levels exist
    "incoming_mail_policies: [{name: DEFAULT}]\n"
    "admin: {bind: 127.0.0.1:8081, user: localadmin}\n"
    "cluster: {name: C, machine: gw1, group: G, etcd: {endpoints: [http://127.0.0.1:1]}}\n";

std::string Key(LevelKind kind, const std::string& name, const std::string& section) {
  return SectionKey(kPrefix, Level{kind, name}, section);
}

TEST(ClusterSections, KeysRoundTrip) {
  EXPECT_EQ(Key(LevelKind::kCluster, "", "delivery"), "/tg/config/cluster/delivery");
  EXPECT_EQ(Key(LevelKind::kGroup, "G", "delivery"), "/tg/config/group/G/delivery");
  EXPECT_EQ(Key(LevelKind::kMachine, "gw1", "admin"), "/tg/config/machine/gw1/admin");
  auto parsed = ParseSectionKey(kPrefix, "/tg/config/group/G/anti_spam");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->first, (Level{LevelKind::kGroup, "G"}));
  EXPECT_EQ(parsed->second, "anti_spam");
  EXPECT_FALSE(ParseSectionKey(kPrefix, "/tg/config/cluster/hostname"));  // machine-local
  EXPECT_FALSE(ParseSectionKey(kPrefix, "/tg/config/last_commit"));
  EXPECT_FALSE(ParseSectionKey(kPrefix, "/tg/machines/gw1"));
  EXPECT_FALSE(ParseSectionKey(kPrefix, "/tg/config/group//delivery"));
}

TEST(ClusterSections, ParseLevel) {
  EXPECT_EQ(*ParseLevel("cluster", ""), (Level{LevelKind::kCluster, ""}));
  EXPECT_EQ(*ParseLevel("machine", "gw2"), (Level{LevelKind::kMachine, "gw2"}));
  EXPECT_FALSE(ParseLevel("group", ""));
  EXPECT_FALSE(ParseLevel("group", "a/b"));
  EXPECT_FALSE(ParseLevel("cluster", "x"));
  EXPECT_FALSE(ParseLevel("planet", "x"));
  EXPECT_EQ(LevelText(Level{LevelKind::kGroup, "Main_Group"}), "group Main_Group");
}

TEST(ClusterSections, MostSpecificLevelWinsPerSection) {
  LevelValues values{
      {Key(LevelKind::kCluster, "", "accepted_domains"), "[cluster.example]\n"},
      {Key(LevelKind::kCluster, "", "incoming_mail_policies"), "[{name: DEFAULT}]\n"},
      {Key(LevelKind::kCluster, "", "delivery"), "{tls: none}\n"},
      {Key(LevelKind::kGroup, "G", "delivery"), "{tls: required}\n"},
      {Key(LevelKind::kGroup, "OTHER", "accepted_domains"), "[other.example]\n"},
      {Key(LevelKind::kMachine, "gw1", "smtp_routes"), "{x.example: [127.0.0.1:25]}\n"},
      {Key(LevelKind::kMachine, "gw2", "delivery"), "{tls: preferred}\n"},
      {Key(LevelKind::kCluster, "", "admin"), "{user: clusteradmin, password_file: /etc/passwd}\n"},
  };
  auto merged = Merge(kLocal, values, kPrefix, "G", "gw1");
  ASSERT_TRUE(merged) << merged.error().message;
  auto cfg = config::ParseGatewayConfig(merged->text, "/etc/tidegate/gateway.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message << "\n" << merged->text;
  ASSERT_EQ((*cfg)->accepted_domains.size(), 1u);
  EXPECT_EQ((*cfg)->accepted_domains[0].domain, "cluster.example");  // the local one ignored
  EXPECT_EQ((*cfg)->delivery.tls, config::TlsMode::kRequired);   // group over cluster
  EXPECT_EQ((*cfg)->smtp_routes.count("x.example"), 1u);             // machine level
  EXPECT_EQ((*cfg)->admin.user, "clusteradmin");                     // shared admin user...
  EXPECT_EQ((*cfg)->admin.bind.port, 8081);                          // ...local bind
  EXPECT_EQ((*cfg)->hostname, "gw1.example.com");
  EXPECT_EQ(merged->origin.at("delivery"), (Level{LevelKind::kGroup, "G"}));
  EXPECT_EQ(merged->origin.at("smtp_routes"), (Level{LevelKind::kMachine, "gw1"}));
  EXPECT_EQ(merged->origin.at("accepted_domains"), (Level{LevelKind::kCluster, ""}));
  EXPECT_FALSE(merged->origin.contains("anti_spam"));
}

TEST(ClusterSections, BadValuesAreErrorsNamingTheKey) {
  LevelValues values{{Key(LevelKind::kCluster, "", "delivery"), "{tls: [\n"}};
  auto merged = Merge(kLocal, values, kPrefix, "G", "gw1");
  ASSERT_FALSE(merged);
  EXPECT_NE(merged.error().message.find("/tg/config/cluster/delivery: not YAML"),
            std::string::npos)
      << merged.error().message;
  values = {{Key(LevelKind::kCluster, "", "admin"), "{bind: 0.0.0.0:80}\n"}};
  merged = Merge(kLocal, values, kPrefix, "G", "gw1");
  ASSERT_FALSE(merged);
  EXPECT_NE(merged.error().message.find("bind is not a shared admin key"), std::string::npos);
}

TEST(ClusterSections, SharedValuesAndChanges) {
  auto values = SharedValues(kLocal);
  ASSERT_TRUE(values);
  EXPECT_EQ(values->size(), 3u);  // accepted_domains, incoming_mail_policies, admin (user only)
  EXPECT_EQ(values->at("admin"), "user: localadmin\n");
  EXPECT_EQ(LocalSharedSections(kLocal),
            (std::vector<std::string>{"accepted_domains", "admin", "incoming_mail_policies"}));
  std::string edited = kLocal;
  edited.replace(edited.find("local.example"), 13, "changed.example");
  edited.replace(edited.find("bind: 127.0.0.1:8081"), 20, "bind: 127.0.0.1:9999");
  auto changed = ChangedSections(kLocal, edited);
  ASSERT_TRUE(changed);
  EXPECT_EQ(*changed, std::vector<std::string>{"accepted_domains"});  // admin.bind is local
  changed = ChangedSections(kLocal, kLocal + "quarantine: {retention: 1d}\n");
  ASSERT_TRUE(changed);
  EXPECT_EQ(*changed, std::vector<std::string>{"quarantine"});
}

}  // namespace
}  // namespace tidegate::cluster
