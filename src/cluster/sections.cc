// sections.cc — see sections.h.
#include "cluster/sections.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <exception>

namespace tidegate::cluster {
namespace {

const std::string kAdmin = "admin";
// The shared keys of `admin` (admin.bind stays local).
const std::vector<std::string> kAdminShared = {"user", "password_file"};

base::Result<YAML::Node> Load(std::string_view text, std::string_view what) {
  try {
    YAML::Node node = YAML::Load(std::string(text));
    return node;
  } catch (const std::exception& e) {
    return base::MakeError(std::string(what) + ": not YAML: " + e.what());
  }
}

std::string Emit(const YAML::Node& node) {
  YAML::Emitter out;
  out << node;
  return std::string(out.c_str()) + "\n";
}

// The admin keys that are shared, as their own mapping (undefined when there are none).
YAML::Node AdminShared(const YAML::Node& admin) {
  YAML::Node out;
  if (!admin.IsMap()) return out;
  for (const std::string& k : kAdminShared) {
    if (admin[k]) out[k] = admin[k];
  }
  return out;
}

}  // namespace

std::string LevelKindName(LevelKind kind) {
  switch (kind) {
    case LevelKind::kCluster:
      return "cluster";
    case LevelKind::kGroup:
      return "group";
    case LevelKind::kMachine:
      return "machine";
    case LevelKind::kNone:
      break;
  }
  return "none";
}

std::string LevelText(const Level& level) {
  switch (level.kind) {
    case LevelKind::kNone:
      return "none";
    case LevelKind::kCluster:
      return "cluster";
    case LevelKind::kGroup:
      return "group " + level.name;
    case LevelKind::kMachine:
      return "machine " + level.name;
  }
  return "none";
}

base::Result<Level> ParseLevel(std::string_view kind, std::string_view name) {
  auto valid_name = [](std::string_view n) {
    return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.';
    });
  };
  if (kind == "cluster") {
    if (!name.empty()) return base::MakeError("the cluster level takes no name");
    return Level{LevelKind::kCluster, ""};
  }
  if (kind == "group" || kind == "machine") {
    if (!valid_name(name)) {
      return base::MakeError(std::string(kind) + " needs a name (1-64 letters, digits, '_', '-' " +
                             "or '.')");
    }
    return Level{kind == "group" ? LevelKind::kGroup : LevelKind::kMachine, std::string(name)};
  }
  return base::MakeError("expected cluster, group NAME or machine NAME, got \"" +
                         std::string(kind) + "\"");
}

const std::vector<std::string>& SharedSections() {
  static const std::vector<std::string> kSections = {
      "threat_defense_connector", "incoming_mail_policies", "anti_spam",
      "anti_virus",               "quarantine",             "recipient_validation",
      "accepted_domains",         "smtp_routes",            "delivery",
      "admin"};
  return kSections;
}

bool IsSharedSection(std::string_view section) {
  const auto& s = SharedSections();
  return std::find(s.begin(), s.end(), section) != s.end();
}

std::string ConfigPrefix(std::string_view prefix) { return std::string(prefix) + "config/"; }

std::string SectionKey(std::string_view prefix, const Level& level, std::string_view section) {
  std::string key = ConfigPrefix(prefix);
  switch (level.kind) {
    case LevelKind::kGroup:
      key += "group/" + level.name + "/";
      break;
    case LevelKind::kMachine:
      key += "machine/" + level.name + "/";
      break;
    default:
      key += "cluster/";
      break;
  }
  return key + std::string(section);
}

std::optional<std::pair<Level, std::string>> ParseSectionKey(std::string_view prefix,
                                                             std::string_view key) {
  const std::string head = ConfigPrefix(prefix);
  if (!key.starts_with(head)) return std::nullopt;
  key.remove_prefix(head.size());
  Level level;
  if (key.starts_with("cluster/")) {
    key.remove_prefix(8);
    level = {LevelKind::kCluster, ""};
  } else if (key.starts_with("group/") || key.starts_with("machine/")) {
    const bool group = key.starts_with("group/");
    key.remove_prefix(group ? 6 : 8);
    const auto slash = key.find('/');
    if (slash == std::string_view::npos || slash == 0) return std::nullopt;
    level = {group ? LevelKind::kGroup : LevelKind::kMachine, std::string(key.substr(0, slash))};
    key.remove_prefix(slash + 1);
  } else {
    return std::nullopt;
  }
  if (!IsSharedSection(key)) return std::nullopt;
  return std::make_pair(level, std::string(key));
}

base::Result<Merged> Merge(std::string_view local_text, const LevelValues& values,
                           std::string_view prefix, std::string_view group,
                           std::string_view machine) {
  auto local = Load(local_text, "the local configuration");
  if (!local) return local.error();
  if (!local->IsMap()) return base::MakeError("the local configuration: expected a mapping");
  YAML::Node doc = *local;
  for (const std::string& section : SharedSections()) {
    if (section == kAdmin) {
      if (doc[kAdmin].IsMap()) {
        for (const std::string& k : kAdminShared) doc[kAdmin].remove(k);
      }
    } else {
      doc.remove(section);
    }
  }
  Merged merged;
  for (const std::string& section : SharedSections()) {
    std::vector<Level> order;
    order.push_back({LevelKind::kMachine, std::string(machine)});
    if (!group.empty()) order.push_back({LevelKind::kGroup, std::string(group)});
    order.push_back({LevelKind::kCluster, ""});
    for (const Level& level : order) {
      const std::string key = SectionKey(prefix, level, section);
      auto it = values.find(key);
      if (it == values.end()) continue;
      auto value = Load(it->second, key);
      if (!value) return value.error();
      if (section == kAdmin) {
        if (!value->IsMap()) return base::MakeError(key + ": expected a mapping");
        YAML::Node admin = doc[kAdmin].IsMap() ? doc[kAdmin] : YAML::Node(YAML::NodeType::Map);
        for (const auto& kv : *value) {
          const std::string k = kv.first.as<std::string>("");
          if (std::find(kAdminShared.begin(), kAdminShared.end(), k) == kAdminShared.end()) {
            return base::MakeError(key + ": " + k + " is not a shared admin key (user, " +
                                   "password_file)");
          }
          admin[k] = kv.second;
        }
        doc[kAdmin] = admin;
      } else {
        doc[section] = *value;
      }
      merged.origin[section] = level;
      break;
    }
  }
  merged.text = Emit(doc);
  return merged;
}

base::Result<std::map<std::string, std::string>> SharedValues(std::string_view text) {
  auto doc = Load(text, "the configuration");
  if (!doc) return doc.error();
  std::map<std::string, std::string> out;
  if (!doc->IsMap()) return out;
  for (const std::string& section : SharedSections()) {
    YAML::Node value = (*doc)[section];
    if (!value) continue;
    if (section == kAdmin) {
      value = AdminShared(value);
      if (!value || value.size() == 0) continue;
    }
    out[section] = Emit(value);
  }
  return out;
}

base::Result<std::vector<std::string>> ChangedSections(std::string_view before,
                                                       std::string_view after) {
  auto a = SharedValues(before);
  if (!a) return a.error();
  auto b = SharedValues(after);
  if (!b) return b.error();
  std::vector<std::string> out;
  for (const std::string& section : SharedSections()) {
    auto ia = a->find(section);
    auto ib = b->find(section);
    const bool in_a = ia != a->end(), in_b = ib != b->end();
    if (in_a != in_b || (in_a && ia->second != ib->second)) out.push_back(section);
  }
  return out;
}

std::vector<std::string> LocalSharedSections(std::string_view local_text) {
  std::vector<std::string> out;
  auto values = SharedValues(local_text);
  if (!values) return out;
  for (const auto& [section, value] : *values) out.push_back(section);
  return out;
}

}  // namespace tidegate::cluster
