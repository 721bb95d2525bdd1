// history_test.cc — the cluster configuration history's pure parts: keys sort by number, entries
// and snapshots round-trip and refuse garbage, a level's sections, restoring a level exactly,
// the text `configs show` prints.
#include "cluster/history.h"

#include <gtest/gtest.h>

namespace tidegate::cluster {
namespace {

const std::string kPrefix = "/tg/";

TEST(ClusterHistory, KeysSortByNumber) {
  EXPECT_LT(HistoryEntryKey(kPrefix, 9), HistoryEntryKey(kPrefix, 10));
  EXPECT_LT(HistoryEntryKey(kPrefix, 999), HistoryEntryKey(kPrefix, 1000));
  EXPECT_TRUE(HistoryEntryKey(kPrefix, 7).starts_with(HistoryEntriesPrefix(kPrefix)));
  EXPECT_FALSE(HistorySnapshotKey(kPrefix, 7).starts_with(HistoryEntriesPrefix(kPrefix)));
  EXPECT_FALSE(HistoryEntryKey(kPrefix, 7).starts_with(ConfigPrefix(kPrefix)));  // not watched
}

TEST(ClusterHistory, EntryRoundTripsAndRefusesGarbage) {
  ClusterHistoryEntry e{42, "2026-12-06T05:00:00Z", "ops", "a \"comment\"", "gw2",
                        Level{LevelKind::kGroup, "G"}};
  auto back = ParseEntryJson(EntryJson(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->number, 42u);
  EXPECT_EQ(back->time, e.time);
  EXPECT_EQ(back->user, "ops");
  EXPECT_EQ(back->comment, e.comment);
  EXPECT_EQ(back->machine, "gw2");
  EXPECT_EQ(back->level, e.level);
  EXPECT_EQ(ToHistoryEntry(*back).level, "group G");
  EXPECT_FALSE(ParseEntryJson("not json"));
  EXPECT_FALSE(ParseEntryJson(R"({"number": -1, "level": "cluster"})"));
  EXPECT_FALSE(ParseEntryJson(R"({"number": 3, "level": "galaxy"})"));
  EXPECT_FALSE(ParseEntryJson(R"({"number": 3, "level": "group", "name": ""})"));
}

TEST(ClusterHistory, SnapshotRoundTripsAndRefusesUnknownSections) {
  LevelSections s{{"delivery", "retry: {initial: 1s}\n"}, {"accepted_domains", "[a.test]\n"}};
  auto back = ParseSnapshotJson(SnapshotJson(Level{LevelKind::kMachine, "gw1"}, s));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->level, (Level{LevelKind::kMachine, "gw1"}));
  EXPECT_EQ(back->sections, s);
  EXPECT_FALSE(ParseSnapshotJson(R"({"level": "cluster", "sections": {"hostname": "x"}})"));
  EXPECT_FALSE(ParseSnapshotJson(R"({"level": "cluster", "sections": {"delivery": 1}})"));
  EXPECT_FALSE(ParseSnapshotJson(R"({"level": "cluster"})"));
}

TEST(ClusterHistory, SectionsAtTakesOneLevelOnly) {
  LevelValues values{
      {SectionKey(kPrefix, Level{}, "delivery"), "c"},
      {SectionKey(kPrefix, Level{LevelKind::kGroup, "G"}, "delivery"), "g"},
      {SectionKey(kPrefix, Level{LevelKind::kGroup, "G2"}, "smtp_routes"), "g2"},
      {kPrefix + "config/last_commit", "{}"},
  };
  EXPECT_EQ(SectionsAt(values, kPrefix, Level{}), (LevelSections{{"delivery", "c"}}));
  EXPECT_EQ(SectionsAt(values, kPrefix, Level{LevelKind::kGroup, "G"}),
            (LevelSections{{"delivery", "g"}}));
  EXPECT_TRUE(SectionsAt(values, kPrefix, Level{LevelKind::kMachine, "gw1"}).empty());
}

TEST(ClusterHistory, RestoreLevelPutsChangedDeletesAddedAndLeavesOthers) {
  const Level g{LevelKind::kGroup, "G"};
  LevelValues current{
      {SectionKey(kPrefix, g, "delivery"), "new"},
      {SectionKey(kPrefix, g, "anti_spam"), "added since"},
      {SectionKey(kPrefix, g, "smtp_routes"), "same"},
      {SectionKey(kPrefix, Level{}, "delivery"), "cluster: untouched"},
  };
  auto changes = RestoreLevel(current, kPrefix, g,
                              LevelSections{{"delivery", "old"}, {"smtp_routes", "same"},
                                            {"quarantine", "was there"}});
  std::map<std::string, std::optional<std::string>> want{
      {SectionKey(kPrefix, g, "delivery"), "old"},
      {SectionKey(kPrefix, g, "anti_spam"), std::nullopt},
      {SectionKey(kPrefix, g, "quarantine"), "was there"},
  };
  EXPECT_EQ(changes, want);
  EXPECT_TRUE(RestoreLevel(current, kPrefix, Level{},
                           LevelSections{{"delivery", "cluster: untouched"}})
                  .empty());
}

TEST(ClusterHistory, SnapshotTextNamesTheLevelAndKeepsSchemaOrder) {
  const std::string text =
      SnapshotText(Level{LevelKind::kGroup, "G"},
                   LevelSections{{"smtp_routes", "a.test: [127.0.0.1:25]\n"},
                                 {"threat_defense_connector", "enabled: false\n"}});
  EXPECT_EQ(text.rfind("# group G level\n", 0), 0u) << text;
  const auto tdc = text.find("threat_defense_connector:");
  const auto routes = text.find("smtp_routes:");
  ASSERT_NE(tdc, std::string::npos) << text;
  ASSERT_NE(routes, std::string::npos) << text;
  EXPECT_LT(tdc, routes);  // the schema's order, not the alphabet's
  EXPECT_NE(text.find("enabled: false"), std::string::npos) << text;
  EXPECT_EQ(SnapshotText(Level{}, {}), "# cluster level\n{}\n");
}

}  // namespace
}  // namespace tidegate::cluster
