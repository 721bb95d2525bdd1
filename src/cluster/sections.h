// sections.h — the pure (sans-I/O) model of cluster configuration (CONTRACT §11): which top-level
// sections are shared, the levels and their etcd keys, and merging the levels into the local
// file to get a machine's effective configuration text.
//
// A shared section is a whole top-level key of the gateway schema, overridden as a unit:
// threat_defense_connector, incoming_mail_policies, anti_spam, anti_virus, quarantine,
// recipient_validation, accepted_domains, smtp_routes, delivery, admin (its user and
// password_file; admin.bind stays local). Everything else is machine-local.
// Keys: <prefix>config/cluster/<section>, <prefix>config/group/<G>/<section>,
// <prefix>config/machine/<M>/<section>; values: the section as YAML.
// Thread-safety: plain functions and values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace tidegate::cluster {

enum class LevelKind { kNone, kCluster, kGroup, kMachine };

struct Level {
  LevelKind kind = LevelKind::kCluster;
  std::string name;  // group or machine name; "" for the cluster level
  friend bool operator==(const Level&, const Level&) = default;
};

// "cluster", "group Main_Group", "machine gw1" (and "none").
std::string LevelText(const Level& level);
// The kind alone, as ParseLevel reads it: "cluster", "group", "machine" (and "none").
std::string LevelKindName(LevelKind kind);
// The CLI/API form: {"cluster"} or {"group", NAME} or {"machine", NAME}.
base::Result<Level> ParseLevel(std::string_view kind, std::string_view name);

const std::vector<std::string>& SharedSections();
bool IsSharedSection(std::string_view section);

// "<prefix>config/" and the key of a section at a level.
std::string ConfigPrefix(std::string_view prefix);
std::string SectionKey(std::string_view prefix, const Level& level, std::string_view section);
// The level and section of a key under ConfigPrefix (nullopt for other keys).
std::optional<std::pair<Level, std::string>> ParseSectionKey(std::string_view prefix,
                                                             std::string_view key);

// The values held in etcd: key (full) → section YAML.
using LevelValues = std::map<std::string, std::string>;

struct Merged {
  std::string text;                       // the effective configuration, YAML
  std::map<std::string, Level> origin;    // per shared section present: its level
};

// The local file's text with every shared section replaced by the most specific level's value
// for (group, machine) (a section in no level is left out). Errors: the local text or a value
// is not YAML (the message names the key).
base::Result<Merged> Merge(std::string_view local_text, const LevelValues& values,
                           std::string_view prefix, std::string_view group,
                           std::string_view machine);

// The shared sections present in a configuration text, each as YAML (for the bootstrap and for
// finding what a commit changed).
base::Result<std::map<std::string, std::string>> SharedValues(std::string_view text);

// The shared sections whose value differs between two texts (present in one only included).
base::Result<std::vector<std::string>> ChangedSections(std::string_view before,
                                                       std::string_view after);

// The names of the shared sections present in the local text (check-config warns about them
// in cluster mode: they are ignored once the cluster is bootstrapped).
std::vector<std::string> LocalSharedSections(std::string_view local_text);

}  // namespace tidegate::cluster
