// config_fuzz.cc — libFuzzer target for the configuration loaders (config.h) and the YAML text
// measuring that the editor's surgical edits rely on (yaml_text.h).
//
// The input is a YAML document. Properties:
//  - ParseGatewayConfig() and ParseIntakeConfig() return a config or an error naming the file,
//    never throw (yaml-cpp throws: config/ must catch) and never crash;
//  - a parsed gateway config keeps its invariants: a DEFAULT policy exists and FindPolicy() finds
//    every policy by its name;
//  - YamlText: for every mapping entry of the document, Start() <= End() <= text size, and
//    AfterColon() lies after the key;
//  - YamlScalar()/YamlDoubleQuoted() of a string carved from the input read back through
//    yaml-cpp as that same string (what the editor writes is what the loader reads).
// Paths resolve against /nonexistent-tidegate-fuzz/, so nothing on disk is ever found or read.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/yaml_text.h"

namespace {

namespace config = tidegate::config;
using config::internal::YamlText;

constexpr const char* kPath = "/nonexistent-tidegate-fuzz/tidegate.yaml";

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckMeasures(const YamlText& doc, const YAML::Node& node, int owner_column, bool in_flow,
                   int depth) {
  if (depth > 8 || !node.IsDefined()) return;
  const std::size_t size = doc.text().size();
  const bool flow = (node.IsMap() || node.IsSequence()) && doc.IsFlow(node);
  if (node.IsMap()) {
    for (const config::internal::MapEntry& e : config::internal::MapEntries(node)) {
      const std::size_t key_start = doc.Start(e.key);
      Check(key_start <= size);
      if (auto colon = doc.AfterColon(e.key, in_flow || flow)) {
        Check(*colon > key_start && *colon <= size);
      }
      const int column = doc.Column(key_start);
      const std::size_t start = doc.Start(e.value);
      Check(start <= size);
      if (auto end = doc.End(e.value, column, in_flow || flow)) Check(*end <= size);
      CheckMeasures(doc, e.value, column, in_flow || flow, depth + 1);
    }
  } else if (node.IsSequence()) {
    for (const YAML::Node& item : node) {
      const std::size_t start = doc.Start(item);
      Check(start <= size);
      if (auto end = doc.End(item, owner_column + 1, in_flow || flow)) Check(*end <= size);
      CheckMeasures(doc, item, owner_column + 1, in_flow || flow, depth + 1);
    }
  }
}

void CheckScalarRoundTrip(std::string_view value) {
  for (const std::string& text :
       {config::internal::YamlScalar(value), config::internal::YamlDoubleQuoted(value)}) {
    try {
      const YAML::Node root = YAML::Load("k: " + text + "\n");
      Check(root.IsMap() && root["k"].IsScalar());
      Check(root["k"].as<std::string>() == value);
    } catch (const YAML::Exception&) {
      Check(false);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);

  auto gateway = config::ParseGatewayConfig(yaml, kPath);
  if (gateway) {
    const config::GatewayConfig& c = **gateway;
    Check(c.FindPolicy(config::kDefaultPolicyName) != nullptr);
    for (const config::Policy& p : c.policies) Check(c.FindPolicy(p.name) == &p);
  } else {
    Check(!gateway.error().message.empty());
  }
  auto intake = config::ParseIntakeConfig(yaml, kPath);
  if (intake) {
    Check(!(*intake)->accounts.empty());
  } else {
    Check(!intake.error().message.empty());
  }

  if (auto doc = YamlText::Parse(std::string(yaml))) {
    CheckMeasures(*doc, doc->root(), -1, false, 0);
    Check(doc->LineStart(doc->text().size()) <= doc->text().size());
  }

  // A value a web form could submit: the first line of the input, up to 200 bytes, made 7-bit
  // (the editor's callers take text, and yaml-cpp's reading of invalid UTF-8 is not ours to test).
  std::string value(yaml.substr(0, std::min<std::size_t>(yaml.find('\n'), 200)));
  for (char& c : value) c = static_cast<char>(c & 0x7f);
  CheckScalarRoundTrip(value);
  return 0;
}
