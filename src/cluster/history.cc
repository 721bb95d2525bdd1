// history.cc — see history.h.
#include "cluster/history.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

namespace tidegate::cluster {
namespace {

using json = nlohmann::json;

std::string Str(const json& j, const char* k) {
  return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
}

std::optional<Level> LevelOf(const json& j) {
  auto level = ParseLevel(Str(j, "level"), Str(j, "name"));
  if (!level) return std::nullopt;
  return *level;
}

}  // namespace

std::string HistoryEntriesPrefix(std::string_view prefix) {
  return std::string(prefix) + "history/entries/";
}

std::string HistoryEntryKey(std::string_view prefix, std::uint64_t number) {
  return HistoryEntriesPrefix(prefix) + fmt::format("{:020}", number);
}

std::string HistorySnapshotKey(std::string_view prefix, std::uint64_t number) {
  return std::string(prefix) + fmt::format("history/snapshots/{:020}", number);
}

std::string EntryJson(const ClusterHistoryEntry& e) {
  return json{{"number", e.number},   {"time", e.time},
              {"user", e.user},       {"comment", e.comment},
              {"machine", e.machine}, {"level", LevelKindName(e.level.kind)},
              {"name", e.level.name}}
      .dump();
}

std::optional<ClusterHistoryEntry> ParseEntryJson(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("number") || !j["number"].is_number_unsigned()) {
    return std::nullopt;
  }
  auto level = LevelOf(j);
  if (!level) return std::nullopt;
  ClusterHistoryEntry e;
  e.number = j["number"].get<std::uint64_t>();
  e.time = Str(j, "time");
  e.user = Str(j, "user");
  e.comment = Str(j, "comment");
  e.machine = Str(j, "machine");
  e.level = *level;
  return e;
}

std::string SnapshotJson(const Level& level, const LevelSections& sections) {
  json s = json::object();
  for (const auto& [section, value] : sections) s[section] = value;
  return json{{"level", LevelKindName(level.kind)}, {"name", level.name}, {"sections", s}}.dump();
}

std::optional<Snapshot> ParseSnapshotJson(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("sections") || !j["sections"].is_object()) return std::nullopt;
  auto level = LevelOf(j);
  if (!level) return std::nullopt;
  Snapshot s;
  s.level = *level;
  for (const auto& [section, value] : j["sections"].items()) {
    if (!IsSharedSection(section) || !value.is_string()) return std::nullopt;
    s.sections[section] = value.get<std::string>();
  }
  return s;
}

LevelSections SectionsAt(const LevelValues& values, std::string_view prefix, const Level& level) {
  LevelSections out;
  for (const auto& [key, value] : values) {
    auto parsed = ParseSectionKey(prefix, key);
    if (parsed && parsed->first == level) out[parsed->second] = value;
  }
  return out;
}

std::map<std::string, std::optional<std::string>> RestoreLevel(const LevelValues& current,
                                                               std::string_view prefix,
                                                               const Level& level,
                                                               const LevelSections& sections) {
  std::map<std::string, std::optional<std::string>> changes;
  for (const std::string& section : SharedSections()) {
    const std::string key = SectionKey(prefix, level, section);
    auto want = sections.find(section);
    auto have = current.find(key);
    if (want != sections.end()) {
      if (have == current.end() || have->second != want->second) changes[key] = want->second;
    } else if (have != current.end()) {
      changes[key] = std::nullopt;
    }
  }
  return changes;
}

std::string SnapshotText(const Level& level, const LevelSections& sections) {
  std::string out = "# " + (level.kind == LevelKind::kCluster ? std::string("cluster level")
                                                               : LevelText(level) + " level") +
                    "\n";
  YAML::Emitter emitter;
  emitter << YAML::BeginMap;
  bool any = false;
  for (const std::string& section : SharedSections()) {
    auto it = sections.find(section);
    if (it == sections.end()) continue;
    YAML::Node value;
    try {
      value = YAML::Load(it->second);
    } catch (const YAML::Exception&) {
      value = YAML::Node(it->second);  // shown as the text it is; never a crash
    }
    emitter << YAML::Key << section << YAML::Value << value;
    any = true;
  }
  emitter << YAML::EndMap;
  out += any ? std::string(emitter.c_str()) : std::string("{}");
  out += "\n";
  return out;
}

config::HistoryEntry ToHistoryEntry(const ClusterHistoryEntry& e) {
  config::HistoryEntry h;
  h.number = e.number;
  h.time = e.time;
  h.user = e.user;
  h.comment = e.comment;
  h.level = LevelText(e.level);
  return h;
}

}  // namespace tidegate::cluster
