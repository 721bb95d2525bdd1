// history.h — the configuration history in cluster mode (CONTRACT §11/§12), pure (sans-I/O):
// one numbered entry per commit, kept in etcd beside the levels it records.
//
// Each commit (through tidegate) writes, in the same guarded transaction as its level values:
//   <prefix>history/entries/<n>    {number, time, user, comment, machine, level, name}
//   <prefix>history/snapshots/<n>  {level, name, sections: {section: YAML}}
// where <n> is zero-padded (keys sort by number) and the snapshot holds every shared section at
// the commit's level as it stood after the commit — the level's whole content, so a rollback to
// N restores that level exactly (sections added since are removed) and touches no other level.
// Numbers are cluster-wide: the next one is last_commit's `number` plus one, and the
// transaction also requires that entry to be absent, so two commits never share a number.
// The newest kClusterHistoryKeep entries are kept (the commit that writes N deletes N-keep).
// Entries are small and listed without their snapshots.
// Thread-safety: plain functions and values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "cluster/sections.h"
#include "config/history.h"

namespace tidegate::cluster {

inline constexpr std::size_t kClusterHistoryKeep = 1000;

std::string HistoryEntriesPrefix(std::string_view prefix);  // "<prefix>history/entries/"
std::string HistoryEntryKey(std::string_view prefix, std::uint64_t number);
std::string HistorySnapshotKey(std::string_view prefix, std::uint64_t number);

// A level's sections (section → YAML), as the history keeps them.
using LevelSections = std::map<std::string, std::string>;

struct ClusterHistoryEntry {
  std::uint64_t number = 0;
  std::string time;  // RFC 3339 UTC
  std::string user, comment, machine;
  Level level;
};

std::string EntryJson(const ClusterHistoryEntry& e);
std::optional<ClusterHistoryEntry> ParseEntryJson(std::string_view text);
std::string SnapshotJson(const Level& level, const LevelSections& sections);
struct Snapshot {
  Level level;
  LevelSections sections;
};
std::optional<Snapshot> ParseSnapshotJson(std::string_view text);

// The sections held at `level` among `values` (full keys → YAML).
LevelSections SectionsAt(const LevelValues& values, std::string_view prefix, const Level& level);

// The writes that make `level` hold exactly `sections`: key → value, nullopt deletes. Sections
// already equal are left out (empty: nothing to change).
std::map<std::string, std::optional<std::string>> RestoreLevel(const LevelValues& current,
                                                               std::string_view prefix,
                                                               const Level& level,
                                                               const LevelSections& sections);

// What `configs show N` prints: a comment naming the level, then the sections as one YAML
// document in the schema's order ("{}" when the level held nothing).
std::string SnapshotText(const Level& level, const LevelSections& sections);

// The history entry the CLI, the API and the Web UI show (level: "cluster", "group G", …).
config::HistoryEntry ToHistoryEntry(const ClusterHistoryEntry& e);

}  // namespace tidegate::cluster
