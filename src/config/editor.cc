// editor.cc — the edits of ConfigEditor (see editor.h); Commit() lives in editor_commit.cc.
//
// Each edit parses the current text again (yaml-cpp marks give where nodes start, YamlText
// where they end), builds a list of TextEdits against it, applies them to a copy and keeps the
// copy only if the gateway loader accepts it. Semantics (which policy, what its TDC setting is)
// come from the validated snapshot; the YAML tree is used only to find bytes.
#include "config/editor.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "base/units.h"
#include "config/yaml_reader.h"
#include "config/yaml_text.h"

namespace tidegate::config {
namespace {

using internal::MapEntry;
using internal::TextEdit;
using internal::YamlText;

constexpr size_t kAppend = static_cast<size_t>(-1);
constexpr std::string_view kTdcKey = "threat_defense_connector";

base::Error Fail(std::string message) { return base::MakeError(std::move(message)); }

// The editor measures only layouts it is sure of; anything else is refused, never guessed.
base::Error LayoutError(std::string_view what) {
  return Fail("cannot edit " + std::string(what) +
              " automatically: its layout in the file is not one the editor handles; edit the "
              "file by hand");
}

bool LooksNumeric(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// The loader's rules for intake addresses (ReadIntakeAddress), with operator-facing messages.
base::Result<mail::Address> CheckIntakeAddress(std::string_view text) {
  const std::string shown = internal::Quote(text);
  auto address = mail::ParseMailbox(text);
  if (!address) {
    return Fail("invalid Message Intake Address " + shown + ": " + address.error().message);
  }
  if (address->domain_literal() || LooksNumeric(address->domain) ||
      !mail::IsValidDomain(address->domain)) {
    return Fail("invalid Message Intake Address " + shown +
                ": it needs a domain name, not an address literal");
  }
  return address;
}

base::Status CheckPolicyName(std::string_view name) {
  const bool ok =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.';
      });
  if (!ok) {
    return Fail("invalid policy name " + internal::Quote(name) +
                " (use 1-64 letters, digits, '_', '-' or '.')");
  }
  return {};
}

// The setting as it will be written; a kCustom address is checked like the loader does.
base::Result<PolicyTdc> CheckPolicyTdc(const PolicyTdc& tdc, bool is_default) {
  if (tdc.mode == PolicyTdcMode::kDefault && is_default) {
    return Fail(
        "the DEFAULT policy cannot use \"(use default)\"; choose global, off or a custom Message "
        "Intake Address");
  }
  if (tdc.mode != PolicyTdcMode::kCustom) return PolicyTdc{tdc.mode, std::nullopt};
  if (!tdc.intake_address) return Fail("a custom Message Intake Address is required");
  auto address = CheckIntakeAddress(tdc.intake_address->str());
  if (!address) return address.error();
  return PolicyTdc{PolicyTdcMode::kCustom, std::move(*address)};
}

bool SameTdc(const PolicyTdc& a, const PolicyTdc& b) {
  return a.mode == b.mode &&
         (a.mode != PolicyTdcMode::kCustom || a.intake_address == b.intake_address);
}

std::string TdcText(const PolicyTdc& tdc) {
  switch (tdc.mode) {
    case PolicyTdcMode::kDefault:
      return "default";
    case PolicyTdcMode::kGlobal:
      return "global";
    case PolicyTdcMode::kOff:
      return "off";
    case PolicyTdcMode::kCustom:
      break;
  }
  return "{intake_address: " + internal::YamlScalar(tdc.intake_address->str()) + "}";
}

// Patterns always quoted, as in CONTRACT §3: "@domain" cannot be a plain YAML scalar.
std::string FlowList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += internal::YamlDoubleQuoted(items[i]);
  }
  return out + "]";
}

// "FILE:LINE: message" lines of a candidate text name lines of a file that was never written;
// the operator needs the message only.
std::string WithoutLocations(const std::string& message, const std::string& path) {
  std::string out;
  size_t begin = 0;
  while (begin <= message.size()) {
    size_t end = message.find('\n', begin);
    if (end == std::string::npos) end = message.size();
    std::string line = message.substr(begin, end - begin);
    if (line.starts_with(path + ":")) {
      const size_t after = line.find(": ", path.size() + 1);
      if (after != std::string::npos) line.erase(0, after + 2);
    }
    if (!out.empty()) out += "; ";
    out += line;
    begin = end + 1;
  }
  return out;
}

// ---- Text edits on one parsed version ----

// The entry's scalar value replaced; `text` is the new YAML text of the value.
base::Result<TextEdit> ReplaceScalarText(const YamlText& doc, const MapEntry& entry, bool in_flow,
                                         std::string text, std::string_view what) {
  if (!entry.value.IsScalar() || !doc.OwnsValue(entry.key, entry.value)) return LayoutError(what);
  const size_t start = doc.Start(entry.value);
  auto end = doc.End(entry.value, doc.Column(doc.Start(entry.key)), in_flow);
  if (!end) return LayoutError(what);
  return TextEdit{start, *end, std::move(text)};
}

// The entry's scalar value replaced by a string, quoted as the old one was.
base::Result<TextEdit> ReplaceScalar(const YamlText& doc, const MapEntry& entry, bool in_flow,
                                     std::string_view value, std::string_view what) {
  const size_t start = doc.Start(entry.value);
  const char first = start < doc.text().size() ? doc.text()[start] : ' ';
  return ReplaceScalarText(doc, entry, in_flow, internal::YamlScalarLike(first, value), what);
}

// Any value replaced by an inline one. A block collection loses its lines, and the inline value
// goes right after the key's ':' so that a comment on the key's line stays.
base::Result<std::vector<TextEdit>> ReplaceValue(const YamlText& doc, const MapEntry& entry,
                                                 bool in_flow, const std::string& text,
                                                 std::string_view what) {
  const YAML::Node& value = entry.value;
  if (!doc.OwnsValue(entry.key, value)) return LayoutError(what);
  const int key_column = doc.Column(doc.Start(entry.key));
  const size_t start = doc.Start(value);
  auto end = doc.End(value, key_column, in_flow);
  if (!end) return LayoutError(what);
  if ((value.IsMap() || value.IsSequence()) && !doc.IsFlow(value)) {
    auto colon = doc.AfterColon(entry.key, in_flow);
    if (!colon || doc.LineStart(start) < *colon) return LayoutError(what);
    return std::vector<TextEdit>{{*colon, *colon, " " + text},
                                 {doc.LineStart(start), doc.NextLineStart(*end), ""}};
  }
  return std::vector<TextEdit>{{start, *end, text}};
}

// `key: value` added to a mapping, before the entry at index `before` (kAppend: at the end).
// Block mappings get whole lines in their indentation (nested: a block mapping one step deeper);
// flow mappings get `key: value, `.
base::Result<TextEdit> InsertEntry(const YamlText& doc, const YAML::Node& map, size_t before,
                                   const std::string& key, const std::string& value,
                                   const std::vector<std::pair<std::string, std::string>>& nested,
                                   std::string_view what) {
  const std::vector<MapEntry> entries = internal::MapEntries(map);
  if (doc.IsFlow(map)) {
    std::string item = key + ": ";
    if (nested.empty()) {
      item += value;
    } else {
      item += "{";
      for (size_t i = 0; i < nested.size(); ++i) {
        item += (i > 0 ? ", " : "") + nested[i].first + ": " + nested[i].second;
      }
      item += "}";
    }
    if (before < entries.size()) {
      const size_t at = doc.Start(entries[before].key);
      return TextEdit{at, at, item + ", "};
    }
    if (entries.empty()) {
      const size_t at = doc.Start(map) + 1;  // just inside '{'
      return TextEdit{at, at, item};
    }
    const MapEntry& last = entries.back();
    if (doc.Start(last.value) <= doc.Start(last.key)) return LayoutError(what);  // an alias
    auto end = doc.End(last.value, doc.Column(doc.Start(last.key)), true);
    if (!end) return LayoutError(what);
    return TextEdit{*end, *end, ", " + item};
  }
  if (entries.empty()) return LayoutError(what);
  const int column = doc.Column(doc.Start(entries.front().key));
  std::string lines = std::string(column, ' ') + key + ":";
  if (nested.empty()) {
    lines += " " + value + doc.eol();
  } else {
    lines += doc.eol();
    const std::string indent(column + doc.IndentStep(), ' ');
    for (const auto& [k, v] : nested) lines += indent + k + ": " + v + doc.eol();
  }
  if (before < entries.size() && doc.FirstOnLine(doc.Start(entries[before].key))) {
    const size_t line = doc.LineStart(doc.Start(entries[before].key));
    const size_t at = doc.AttachedCommentsStart(line, column);
    return TextEdit{at, at, lines};
  }
  const MapEntry& last = entries.back();
  if (doc.Start(last.value) <= doc.Start(last.key)) return LayoutError(what);  // an alias
  auto end = doc.End(last.value, doc.Column(doc.Start(last.key)), false);
  if (!end) return LayoutError(what);
  const size_t at = doc.NextLineStart(*end);
  const std::string& text = doc.text();
  const bool needs_break = at == text.size() && !text.empty() && text.back() != '\n';
  return TextEdit{at, at, (needs_break ? doc.eol() : "") + lines};
}

// Index of the first entry whose key is one of `keys` (kAppend when none): where a key that the
// schema lists before them is inserted.
size_t IndexOfFirst(const YAML::Node& map, std::initializer_list<std::string_view> keys) {
  const std::vector<MapEntry> entries = internal::MapEntries(map);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].key.IsScalar()) continue;
    for (std::string_view key : keys) {
      if (entries[i].key.Scalar() == key) return i;
    }
  }
  return kAppend;
}

// Where the items of incoming_mail_policies are. Each item owns a chunk of text, from its own
// start (in block style: its line, with the comment lines attached above it) to the start of the
// next item; removing or moving a chunk removes or moves exactly that policy.
struct PolicyItems {
  bool flow = false;
  std::vector<YAML::Node> items;
  std::vector<size_t> starts;
  int dash_column = 2;     // block style: column of '-'
  int content_column = 4;  // block style: column of the keys
};

base::Result<PolicyItems> LocatePolicies(const YamlText& doc) {
  const std::string_view what = "incoming_mail_policies";
  auto entry = internal::FindEntry(doc.root(), "incoming_mail_policies");
  if (!entry || !entry->value.IsSequence() || entry->value.size() == 0) return LayoutError(what);
  PolicyItems out;
  out.flow = doc.IsFlow(entry->value);
  const std::string& text = doc.text();
  for (const YAML::Node& item : entry->value) {
    if (!item.IsMap()) return LayoutError(what);
    const size_t start = doc.Start(item);
    // Items in text order (an aliased item would sit at its anchor).
    if (!out.items.empty() && start <= doc.Start(out.items.back())) return LayoutError(what);
    out.items.push_back(item);
    if (out.flow) {
      out.starts.push_back(start);
      continue;
    }
    size_t dash = start;
    while (dash > 0 && (text[dash - 1] == ' ' || text[dash - 1] == '\t' || text[dash - 1] == '\r' ||
                        text[dash - 1] == '\n')) {
      --dash;
    }
    if (dash == 0 || text[dash - 1] != '-' || !doc.FirstOnLine(dash - 1)) return LayoutError(what);
    --dash;
    out.dash_column = doc.Column(dash);
    out.content_column = doc.Column(start);
    out.starts.push_back(doc.AttachedCommentsStart(doc.LineStart(dash), out.dash_column));
  }
  return out;
}

// A new policy's text: one chunk as LocatePolicies() measures them.
std::string RenderPolicy(const YamlText& doc, const PolicyItems& layout, const PolicySpec& spec,
                         const PolicyTdc& tdc) {
  std::vector<std::pair<std::string, std::string>> entries = {
      {"name", internal::YamlScalar(spec.name)}};
  if (!spec.recipients.empty()) entries.emplace_back("recipients", FlowList(spec.recipients));
  if (!spec.senders.empty()) entries.emplace_back("senders", FlowList(spec.senders));
  entries.emplace_back(kTdcKey, TdcText(tdc));
  std::string out;
  if (layout.flow) {
    for (const auto& [key, value] : entries) out += (out.empty() ? "{" : ", ") + key + ": " + value;
    return out + "}, ";
  }
  const int gap = std::max(1, layout.content_column - layout.dash_column - 1);
  for (const auto& [key, value] : entries) {
    out += out.empty() ? std::string(layout.dash_column, ' ') + "-" + std::string(gap, ' ')
                       : std::string(layout.content_column, ' ');
    out += key + ": " + value + doc.eol();
  }
  return out;
}

// The edits that make one policy's TDC setting `wanted`.
base::Result<std::vector<TextEdit>> PolicyTdcEdits(const YamlText& doc, const YAML::Node& item,
                                                   bool in_flow, const PolicyTdc& current,
                                                   const PolicyTdc& wanted) {
  const std::string what = "the policy's threat_defense_connector";
  if (SameTdc(current, wanted)) return std::vector<TextEdit>{};
  auto entry = internal::FindEntry(item, kTdcKey);
  if (!entry) {
    auto edit = InsertEntry(doc, item, kAppend, std::string(kTdcKey), TdcText(wanted), {}, what);
    if (!edit) return edit.error();
    return std::vector<TextEdit>{std::move(*edit)};
  }
  if (!doc.OwnsValue(entry->key, entry->value)) return LayoutError(what);
  if (wanted.mode == PolicyTdcMode::kCustom && entry->value.IsMap()) {
    // Custom to custom: only the address changes, in whatever style the mapping is written.
    if (auto address = internal::FindEntry(entry->value, "intake_address")) {
      const bool flow = in_flow || doc.IsFlow(entry->value);
      auto edit = ReplaceScalar(doc, *address, flow, wanted.intake_address->str(), what);
      if (!edit) return edit.error();
      return std::vector<TextEdit>{std::move(*edit)};
    }
  }
  return ReplaceValue(doc, *entry, in_flow, TdcText(wanted), what);
}

// The edits that make a policy's recipients or senders `wanted`.
base::Result<std::vector<TextEdit>> PatternEdits(const YamlText& doc, const YAML::Node& item,
                                                 bool in_flow, const std::string& key,
                                                 const std::vector<std::string>& current,
                                                 const std::vector<std::string>& wanted,
                                                 size_t insert_before) {
  const std::string what = "the policy's " + key;
  if (current == wanted) return std::vector<TextEdit>{};
  auto entry = internal::FindEntry(item, key);
  if (!entry) {
    if (wanted.empty()) return std::vector<TextEdit>{};
    auto edit = InsertEntry(doc, item, insert_before, key, FlowList(wanted), {}, what);
    if (!edit) return edit.error();
    return std::vector<TextEdit>{std::move(*edit)};
  }
  const YAML::Node& value = entry->value;
  if (!doc.OwnsValue(entry->key, value)) return LayoutError(what);
  if (value.IsSequence() && !doc.IsFlow(value) && !wanted.empty()) {
    // A block list stays a block list: its item lines are rewritten in its indentation.
    auto end = doc.End(value, doc.Column(doc.Start(entry->key)), false);
    if (!end) return LayoutError(what);
    const size_t start = doc.Start(value);
    std::string lines;
    for (const std::string& pattern : wanted) {
      lines += std::string(doc.Column(start), ' ') + "- " + internal::YamlDoubleQuoted(pattern) +
               doc.eol();
    }
    return std::vector<TextEdit>{{doc.LineStart(start), doc.NextLineStart(*end), lines}};
  }
  return ReplaceValue(doc, *entry, in_flow, FlowList(wanted), what);
}

// ---- anti_spam / anti_virus of a policy ----

constexpr std::string_view kAntiSpamKey = "anti_spam";
constexpr std::string_view kAntiVirusKey = "anti_virus";

std::string ScanText(PolicyScanMode mode,
                     const std::vector<std::pair<std::string_view, std::string>>& entries) {
  if (mode == PolicyScanMode::kDefault) return "default";
  if (mode == PolicyScanMode::kOff) return "off";
  std::string out;
  for (const auto& [key, value] : entries) {
    out += (out.empty() ? "{" : ", ") + std::string(key) + ": " + value;
  }
  return out + "}";
}

std::string AntiSpamText(const PolicyAntiSpam& s) {
  return ScanText(s.mode, {{"positive", ScanActionName(s.settings.positive)},
                           {"suspect", ScanActionName(s.settings.suspect)},
                           {"subject_tag", internal::YamlDoubleQuoted(s.settings.subject_tag)}});
}

std::string AntiVirusText(const PolicyAntiVirus& s) {
  return ScanText(s.mode, {{"infected", ScanActionName(s.settings.infected)},
                           {"unscannable", ScanActionName(s.settings.unscannable)},
                           {"subject_tag", internal::YamlDoubleQuoted(s.settings.subject_tag)}});
}

bool SameScan(const PolicyAntiSpam& a, const PolicyAntiSpam& b) {
  return a.mode == b.mode &&
         (a.mode != PolicyScanMode::kOn ||
          (a.settings.positive == b.settings.positive && a.settings.suspect == b.settings.suspect &&
           a.settings.subject_tag == b.settings.subject_tag));
}

bool SameScan(const PolicyAntiVirus& a, const PolicyAntiVirus& b) {
  return a.mode == b.mode &&
         (a.mode != PolicyScanMode::kOn || (a.settings.infected == b.settings.infected &&
                                            a.settings.unscannable == b.settings.unscannable &&
                                            a.settings.subject_tag == b.settings.subject_tag));
}

// The loader's rules, with operator-facing messages, before any text is touched.
base::Status CheckScan(std::string_view key, PolicyScanMode mode, const std::string& subject_tag,
                       bool is_default, bool engine_configured) {
  if (mode == PolicyScanMode::kDefault && is_default) {
    return Fail("the DEFAULT policy cannot use \"(use default)\" for " + std::string(key) +
                "; choose off or actions");
  }
  if (mode != PolicyScanMode::kOn) return {};
  if (!engine_configured) {
    return Fail("there is no global " + std::string(key) +
                " engine section: configure the engine before enabling it in a policy");
  }
  if (subject_tag.size() > 100) return Fail("subject_tag is longer than 100 characters");
  if (std::any_of(subject_tag.begin(), subject_tag.end(),
                  [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    return Fail("subject_tag must not contain control characters");
  }
  return {};
}

// The edits that write `text` as the policy's `key`: the value replaced, or a new entry before
// the first of `before` (the column order of the policy table).
base::Result<std::vector<TextEdit>> PolicyKeyEdits(const YamlText& doc, const YAML::Node& item,
                                                   bool in_flow, std::string_view key,
                                                   const std::string& text,
                                                   std::initializer_list<std::string_view> before) {
  const std::string what = "the policy's " + std::string(key);
  auto entry = internal::FindEntry(item, key);
  if (!entry) {
    auto edit =
        InsertEntry(doc, item, IndexOfFirst(item, before), std::string(key), text, {}, what);
    if (!edit) return edit.error();
    return std::vector<TextEdit>{std::move(*edit)};
  }
  return ReplaceValue(doc, *entry, in_flow, text, what);
}

void Append(std::vector<TextEdit>& to, std::vector<TextEdit> more) {
  for (TextEdit& edit : more) to.push_back(std::move(edit));
}

}  // namespace

const char* ScanActionName(ScanAction action) {
  switch (action) {
    case ScanAction::kDeliver:
      return "deliver";
    case ScanAction::kTag:
      return "tag";
    case ScanAction::kQuarantine:
      return "quarantine";
    case ScanAction::kDrop:
      return "drop";
  }
  return "deliver";
}

std::optional<ScanAction> ParseScanAction(std::string_view name) {
  for (ScanAction a :
       {ScanAction::kDeliver, ScanAction::kTag, ScanAction::kQuarantine, ScanAction::kDrop}) {
    if (name == ScanActionName(a)) return a;
  }
  return std::nullopt;
}

const char* OnLookupFailureName(OnLookupFailure value) {
  return value == OnLookupFailure::kAccept ? "accept" : "tempfail";
}

ConfigEditor::ConfigEditor(std::string path, std::string text,
                           std::shared_ptr<const GatewayConfig> config)
    : path_(std::move(path)), on_disk_(text), text_(std::move(text)), config_(std::move(config)) {}

base::Result<ConfigEditor> ConfigEditor::Load(const std::string& path) {
  auto text = internal::ReadConfigFile(path);
  if (!text) return text.error();
  auto config = ParseGatewayConfig(*text, path);
  if (!config) return config.error();
  return ConfigEditor(path, std::move(*text), std::move(*config));
}

base::Result<ConfigEditor> ConfigEditor::FromText(const std::string& path, std::string text) {
  auto config = ParseGatewayConfig(text, path);
  if (!config) return config.error();
  return ConfigEditor(path, std::move(text), std::move(*config));
}

base::Result<std::shared_ptr<const GatewayConfig>> ConfigEditor::Validate() const {
  return ParseGatewayConfig(text_, path_);
}

base::Status ConfigEditor::Accept(std::string candidate) {
  if (candidate == text_) return {};
  auto parsed = ParseGatewayConfig(candidate, path_);
  if (!parsed) {
    return Fail("refused: the configuration would not be valid: " +
                WithoutLocations(parsed.error().message, path_));
  }
  text_ = std::move(candidate);
  config_ = std::move(*parsed);
  return {};
}

base::Status ConfigEditor::SetTdcEnabled(bool enabled) {
  if (config_->tdc.enabled == enabled) return {};
  if (enabled && !config_->tdc.intake_address) {
    return Fail("cannot enable the Threat Defense Connector: set its Message Intake Address first");
  }
  auto doc = YamlText::Parse(text_);
  if (!doc) return doc.error();
  const std::string what = "threat_defense_connector.enabled";
  // Enabled with an address means the section exists (the snapshot says so).
  auto section = internal::FindEntry(doc->root(), kTdcKey);
  if (!section || !section->value.IsMap()) return LayoutError(what);
  const bool flow = doc->IsFlow(section->value);
  const std::string value = enabled ? "true" : "false";
  base::Result<TextEdit> edit = base::MakeError("");
  if (auto entry = internal::FindEntry(section->value, "enabled")) {
    edit = ReplaceScalarText(*doc, *entry, flow, value, what);
  } else {
    edit = InsertEntry(*doc, section->value, 0, "enabled", value, {}, what);
  }
  if (!edit) return edit.error();
  return Accept(internal::ApplyEdits(text_, {std::move(*edit)}));
}

base::Status ConfigEditor::SetTdcIntakeAddress(const std::string& address_text) {
  auto address = CheckIntakeAddress(address_text);
  if (!address) return address.error();
  if (config_->tdc.intake_address == *address) return {};
  auto doc = YamlText::Parse(text_);
  if (!doc) return doc.error();
  const std::string what = "threat_defense_connector.intake_address";
  const std::string value = address->str();
  base::Result<TextEdit> edit = base::MakeError("");
  auto section = internal::FindEntry(doc->root(), kTdcKey);
  if (!section) {
    // The section goes where CONTRACT §3 shows it: right before the policies that use it.
    edit = InsertEntry(*doc, doc->root(), IndexOfFirst(doc->root(), {"incoming_mail_policies"}),
                       std::string(kTdcKey), "", {{"intake_address", internal::YamlScalar(value)}},
                       what);
  } else if (!section->value.IsMap()) {
    return LayoutError(what);
  } else if (auto entry = internal::FindEntry(section->value, "intake_address")) {
    edit = ReplaceScalar(*doc, *entry, doc->IsFlow(section->value), value, what);
  } else {
    // After `enabled` when that comes first, else first.
    const auto entries = internal::MapEntries(section->value);
    size_t before = 0;
    if (!entries.empty() && entries[0].key.IsScalar() && entries[0].key.Scalar() == "enabled") {
      before = 1;
    }
    edit = InsertEntry(*doc, section->value, before, "intake_address", internal::YamlScalar(value),
                       {}, what);
  }
  if (!edit) return edit.error();
  return Accept(internal::ApplyEdits(text_, {std::move(*edit)}));
}

namespace {

// The policy's index in the snapshot (which is also its index in the YAML list).
base::Result<size_t> PolicyIndex(const GatewayConfig& config, std::string_view name) {
  for (size_t i = 0; i < config.policies.size(); ++i) {
    if (config.policies[i].name == name) return i;
  }
  return Fail("no incoming mail policy named " + internal::Quote(name));
}

// Name rules for a policy at index `self` (kAppend for a new one): valid, unique ignoring case,
// DEFAULT only for the last one.
base::Status CheckNewName(const GatewayConfig& config, const std::string& name, size_t self) {
  if (auto s = CheckPolicyName(name); !s) return s;
  const bool is_default = self == config.policies.size() - 1;
  if (!is_default && mail::AsciiLower(name) == mail::AsciiLower(kDefaultPolicyName)) {
    return Fail("the name DEFAULT is reserved for the last policy");
  }
  for (size_t i = 0; i < config.policies.size(); ++i) {
    if (i != self && mail::AsciiLower(config.policies[i].name) == mail::AsciiLower(name)) {
      return Fail("a policy named " + internal::Quote(config.policies[i].name) + " already exists");
    }
  }
  return {};
}

base::Status CheckPatterns(const PolicySpec& spec, bool is_default) {
  if (is_default && (!spec.recipients.empty() || !spec.senders.empty())) {
    return Fail("the DEFAULT policy matches every message and takes no recipients or senders");
  }
  if (!is_default && spec.recipients.empty() && spec.senders.empty()) {
    return Fail("a policy other than DEFAULT needs at least one recipient or sender pattern");
  }
  return {};
}

}  // namespace

base::Status ConfigEditor::SetPolicyTdc(const std::string& policy, PolicyTdc tdc) {
  auto index = PolicyIndex(*config_, policy);
  if (!index) return index.error();
  const Policy& current = config_->policies[*index];
  auto wanted = CheckPolicyTdc(tdc, current.name == kDefaultPolicyName);
  if (!wanted) return wanted.error();
  auto doc = YamlText::Parse(text_);
  if (!doc) return doc.error();
  auto layout = LocatePolicies(*doc);
  if (!layout) return layout.error();
  auto edits = PolicyTdcEdits(*doc, layout->items[*index], layout->flow, current.tdc, *wanted);
  if (!edits) return edits.error();
  return Accept(internal::ApplyEdits(text_, std::move(*edits)));
}

base::Status ConfigEditor::SetPolicyAntiSpam(const std::string& policy, PolicyAntiSpam setting) {
  auto index = PolicyIndex(*config_, policy);
  if (!index) return index.error();
  const Policy& current = config_->policies[*index];
  if (auto s = CheckScan(kAntiSpamKey, setting.mode, setting.settings.subject_tag,
                         current.name == kDefaultPolicyName, config_->anti_spam.has_value());
      !s) {
    return s;
  }
  if (SameScan(current.anti_spam, setting)) return {};
  return EditPolicyKey(*index, kAntiSpamKey, AntiSpamText(setting), {kAntiVirusKey, kTdcKey});
}

base::Status ConfigEditor::SetPolicyAntiVirus(const std::string& policy, PolicyAntiVirus setting) {
  auto index = PolicyIndex(*config_, policy);
  if (!index) return index.error();
  const Policy& current = config_->policies[*index];
  if (auto s = CheckScan(kAntiVirusKey, setting.mode, setting.settings.subject_tag,
                         current.name == kDefaultPolicyName, config_->anti_virus.has_value());
      !s) {
    return s;
  }
  if (SameScan(current.anti_virus, setting)) return {};
  return EditPolicyKey(*index, kAntiVirusKey, AntiVirusText(setting), {kTdcKey});
}

base::Status ConfigEditor::EditPolicyKey(std::size_t index, std::string_view key,
                                         const std::string& text,
                                         std::initializer_list<std::string_view> before) {
  auto doc = YamlText::Parse(text_);
  if (!doc) return doc.error();
  auto layout = LocatePolicies(*doc);
  if (!layout) return layout.error();
  auto edits = PolicyKeyEdits(*doc, layout->items[index], layout->flow, key, text, before);
  if (!edits) return edits.error();
  return Accept(internal::ApplyEdits(text_, std::move(*edits)));
}

base::Status ConfigEditor::AddPolicy(const PolicySpec& spec, std::size_t position) {
  const size_t last = config_->policies.size() - 1;
  if (position > last) {
    return Fail("position " + std::to_string(position) +
                " is after DEFAULT, which is always the last policy (at most " +
                std::to_string(last) + ")");
  }
  if (auto s = CheckNewName(*config_, spec.name, kAppend); !s) return s;
  if (auto s = CheckPatterns(spec, false); !s) return s;
  auto tdc = CheckPolicyTdc(spec.tdc, false);
  if (!tdc) return tdc.error();
  auto doc = YamlText::Parse(text_);
  if (!doc) return doc.error();
  auto layout = LocatePolicies(*doc);
  if (!layout) return layout.error();
  const size_t at = layout->starts[position];
  return Accept(internal::ApplyEdits(text_, {{at, at, RenderPolicy(*doc, *layout, spec, *tdc)}}));
}

base::Status ConfigEditor::UpdatePolicy(const std::string& name, const PolicySpec& spec) {
  auto index = PolicyIndex(*config_, name);
  if (!index) return index.error();
  const Policy& current = config_->policies[*index];
  const bool is_default = current.name == kDefaultPolicyName;
  if (is_default && spec.name != kDefaultPolicyName) {
    return Fail("the DEFAULT policy cannot be renamed");
  }
  if (auto s = CheckNewName(*config_, spec.name, *index); !s) return s;
  if (auto s = CheckPatterns(spec, is_default); !s) return s;
  auto tdc = CheckPolicyTdc(spec.tdc, is_default);
  if (!tdc) return tdc.error();
  auto doc = YamlText::Parse(text_);
  if (!doc) return doc.error();
  auto layout = LocatePolicies(*doc);
  if (!layout) return layout.error();
  const YAML::Node& item = layout->items[*index];
  const bool flow = layout->flow;

  std::vector<TextEdit> edits;
  if (spec.name != current.name) {
    auto entry = internal::FindEntry(item, "name");
    if (!entry) return LayoutError("the policy's name");
    auto edit = ReplaceScalar(*doc, *entry, flow, spec.name, "the policy's name");
    if (!edit) return edit.error();
    edits.push_back(std::move(*edit));
  }
  auto recipients = PatternEdits(*doc, item, flow, "recipients", current.recipients,
                                 spec.recipients, IndexOfFirst(item, {"senders", kTdcKey}));
  if (!recipients) return recipients.error();
  Append(edits, std::move(*recipients));
  auto senders = PatternEdits(*doc, item, flow, "senders", current.senders, spec.senders,
                              IndexOfFirst(item, {kTdcKey}));
  if (!senders) return senders.error();
  Append(edits, std::move(*senders));
  auto tdc_edits = PolicyTdcEdits(*doc, item, flow, current.tdc, *tdc);
  if (!tdc_edits) return tdc_edits.error();
  Append(edits, std::move(*tdc_edits));
  return Accept(internal::ApplyEdits(text_, std::move(edits)));
}

base::Status ConfigEditor::MovePolicy(const std::string& name, std::size_t new_position) {
  auto index = PolicyIndex(*config_, name);
  if (!index) return index.error();
  const size_t last = config_->policies.size() - 1;
  if (*index == last) return Fail("the DEFAULT policy is always the last one and cannot move");
  if (new_position >= last) {
    return Fail("position " + std::to_string(new_position) +
                " is not before DEFAULT, which is always the last policy (at most " +
                std::to_string(last - 1) + ")");
  }
  if (new_position == *index) return {};
  auto doc = YamlText::Parse(text_);
  if (!doc) return doc.error();
  auto layout = LocatePolicies(*doc);
  if (!layout) return layout.error();
  const size_t begin = layout->starts[*index];
  const size_t end = layout->starts[*index + 1];
  // Moving down, it goes before the policy that will follow it: the one now after the target.
  const size_t at = layout->starts[new_position < *index ? new_position : new_position + 1];
  return Accept(
      internal::ApplyEdits(text_, {{begin, end, ""}, {at, at, text_.substr(begin, end - begin)}}));
}

base::Status ConfigEditor::DeletePolicy(const std::string& name) {
  auto index = PolicyIndex(*config_, name);
  if (!index) return index.error();
  if (*index == config_->policies.size() - 1) {
    return Fail("the DEFAULT policy cannot be deleted");
  }
  auto doc = YamlText::Parse(text_);
  if (!doc) return doc.error();
  auto layout = LocatePolicies(*doc);
  if (!layout) return layout.error();
  return Accept(
      internal::ApplyEdits(text_, {{layout->starts[*index], layout->starts[*index + 1], ""}}));
}

namespace {

std::string DomainList(const std::vector<DomainPattern>& domains) {
  std::vector<std::string> names;
  for (const DomainPattern& d : domains) names.push_back(d.str());
  return FlowList(names);
}

// A flow mapping with one entry per line, `indent` deeper than its key; "{}" when empty.
std::string FlowMapLines(const std::vector<std::string>& entries, const std::string& indent,
                         const std::string& eol) {
  if (entries.empty()) return "{}";
  std::string out = "{";
  for (size_t i = 0; i < entries.size(); ++i) {
    out += eol + indent + "  " + entries[i] + (i + 1 < entries.size() ? "," : "");
  }
  return out + eol + indent + "}";
}

// `recipient_validation`'s value: nested flow mappings, one key per line, only the keys that
// differ from their defaults.
std::string RecipientValidationText(const RecipientValidation& rv, const std::string& eol) {
  const RecipientValidation defaults;
  std::vector<std::string> entries;
  auto duration = [](Duration d) {
    return base::FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(d));
  };
  if (!rv.always_accept.empty()) entries.push_back("always_accept: " + FlowList(rv.always_accept));
  if (rv.cache_ttl != defaults.cache_ttl) entries.push_back("cache_ttl: " + duration(rv.cache_ttl));
  if (rv.max_invalid_recipients_per_hour != 0) {
    entries.push_back("max_invalid_recipients_per_hour: " +
                      std::to_string(rv.max_invalid_recipients_per_hour));
  }
  if (rv.ldap) {
    const LdapValidation& l = *rv.ldap;
    const LdapValidation d;
    std::vector<std::string> m = {"uri: " + FlowList(l.uris),
                                  "base: " + internal::YamlDoubleQuoted(l.base)};
    if (!l.bind_dn.empty()) m.push_back("bind_dn: " + internal::YamlDoubleQuoted(l.bind_dn));
    if (!l.password_file.empty()) {
      m.push_back("password_file: " + internal::YamlDoubleQuoted(l.password_file));
    }
    if (l.starttls) m.push_back("starttls: true");
    if (l.filter != d.filter) m.push_back("filter: " + internal::YamlDoubleQuoted(l.filter));
    if (!l.domains.empty()) m.push_back("domains: " + DomainList(l.domains));
    if (l.timeout != d.timeout) m.push_back("timeout: " + duration(l.timeout));
    if (l.on_failure != d.on_failure) {
      m.push_back("on_failure: " + std::string(OnLookupFailureName(l.on_failure)));
    }
    entries.push_back("ldap: " + FlowMapLines(m, "  ", eol));
  }
  if (rv.call_ahead) {
    const CallAheadValidation& c = *rv.call_ahead;
    const CallAheadValidation d;
    std::vector<std::string> m = {"domains: " + DomainList(c.domains)};
    if (c.timeout != d.timeout) m.push_back("timeout: " + duration(c.timeout));
    if (c.on_failure != d.on_failure) {
      m.push_back("on_failure: " + std::string(OnLookupFailureName(c.on_failure)));
    }
    entries.push_back("call_ahead: " + FlowMapLines(m, "  ", eol));
  }
  return FlowMapLines(entries, "", eol);
}

}  // namespace

base::Status ConfigEditor::SetRecipientValidation(const RecipientValidation& setting) {
  // The password is not the caller's: compare (and keep) what the file holds.
  RecipientValidation wanted = setting;
  if (wanted.ldap) wanted.ldap->password.clear();
  RecipientValidation current = config_->recipient_validation;
  if (current.ldap) current.ldap->password.clear();
  if (wanted == current) return {};
  auto doc = YamlText::Parse(text_);
  if (!doc) return doc.error();
  const std::string what = "recipient_validation";
  const std::string value = RecipientValidationText(wanted, doc->eol());
  std::vector<TextEdit> edits;
  if (auto entry = internal::FindEntry(doc->root(), what)) {
    auto replaced = ReplaceValue(*doc, *entry, doc->IsFlow(doc->root()), value, what);
    if (!replaced) return replaced.error();
    edits = std::move(*replaced);
  } else {
    auto inserted = InsertEntry(*doc, doc->root(), kAppend, what, value, {}, what);
    if (!inserted) return inserted.error();
    edits.push_back(std::move(*inserted));
  }
  return Accept(internal::ApplyEdits(text_, std::move(edits)));
}

}  // namespace tidegate::config
