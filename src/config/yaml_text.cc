// yaml_text.cc — byte spans of yaml-cpp nodes in their document text (see yaml_text.h).
#include "config/yaml_text.h"

#include <algorithm>
#include <exception>
#include <utility>

namespace tidegate::config::internal {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsSpace(char c) { return IsBlank(c) || c == '\r' || c == '\n'; }
bool IsFlowIndicator(char c) { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'; }

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Would `value` written without quotes read back as the same string? Kept deliberately narrow:
// anything unusual is quoted, which is always correct.
bool PlainIsSafe(std::string_view value) {
  if (value.empty() || !(IsAlnum(value.front()) || value.front() == '_')) return false;
  for (char c : value) {
    if (!IsAlnum(c) && std::string_view("._-@+/%=").find(c) == std::string_view::npos) {
      return false;
    }
  }
  // YAML 1.1 booleans and null would read back as something else than a string.
  std::string lower;
  for (char c : value) lower += Lower(c);
  for (std::string_view word : {"null", "true", "false", "yes", "no", "on", "off", "y", "n"}) {
    if (lower == word) return false;
  }
  return true;
}

}  // namespace

base::Result<YamlText> YamlText::Parse(std::string text) {
  YamlText doc;
  try {
    doc.root_ = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return base::MakeError("YAML syntax error at line " + std::to_string(e.mark.line + 1) + ": " +
                           e.msg);
  } catch (const std::exception& e) {
    return base::MakeError(std::string("cannot parse YAML: ") + e.what());
  }
  doc.text_ = std::move(text);
  if (doc.text_.starts_with("\xEF\xBB\xBF")) doc.bom_ = 3;
  const size_t newline = doc.text_.find('\n');
  if (newline != std::string::npos && newline > 0 && doc.text_[newline - 1] == '\r') {
    doc.eol_ = "\r\n";
  }
  return doc;
}

size_t YamlText::Start(const YAML::Node& node) const {
  size_t pos = std::min(text_.size(), bom_ + static_cast<size_t>(std::max(0, node.Mark().pos)));
  // An anchor (&a) or tag (!!str) precedes the content; edits replace the content only.
  while (pos < text_.size() && (text_[pos] == '&' || text_[pos] == '!')) {
    while (pos < text_.size() && !IsSpace(text_[pos])) ++pos;
    while (pos < text_.size() && IsSpace(text_[pos])) ++pos;
  }
  return pos;
}

bool YamlText::IsFlow(const YAML::Node& collection) const {
  return collection.Style() == YAML::EmitterStyle::Flow;
}

bool YamlText::OwnsValue(const YAML::Node& key, const YAML::Node& value) const {
  const size_t raw =
      std::min(text_.size(), bom_ + static_cast<size_t>(std::max(0, value.Mark().pos)));
  const size_t key_raw = bom_ + static_cast<size_t>(std::max(0, key.Mark().pos));
  return raw > key_raw && raw < text_.size() && text_[raw] != '&';
}

std::optional<size_t> YamlText::End(const YAML::Node& node, int owner_column, bool in_flow) const {
  const size_t start = Start(node);
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return ScalarEnd(node, start, owner_column, in_flow);
    case YAML::NodeType::Map: {
      if (IsFlow(node)) return FlowEnd(start);
      std::vector<MapEntry> entries = MapEntries(node);
      if (entries.empty()) return std::nullopt;
      const MapEntry& last = entries.back();
      // An alias' node sits at its anchor, elsewhere in the text: no end to measure here.
      if (Start(last.value) <= Start(last.key)) return std::nullopt;
      return End(last.value, Column(Start(last.key)), false);
    }
    case YAML::NodeType::Sequence: {
      if (IsFlow(node)) return FlowEnd(start);
      if (node.size() == 0) return std::nullopt;
      const YAML::Node last = node[node.size() - 1];
      if (Start(last) <= start) return std::nullopt;  // an alias
      // A block sequence's mark is its first '-', whose column owns every item.
      return End(last, Column(start), false);
    }
    default:
      // A null value has no text of its own (yaml-cpp marks the next token).
      return std::nullopt;
  }
}

std::optional<size_t> YamlText::ScalarEnd(const YAML::Node& node, size_t start, int owner_column,
                                          bool in_flow) const {
  if (start >= text_.size()) return std::nullopt;
  const char first = text_[start];
  if (first == '"') {
    for (size_t i = start + 1; i < text_.size(); ++i) {
      if (text_[i] == '\\') {
        ++i;
      } else if (text_[i] == '"') {
        return i + 1;
      }
    }
    return std::nullopt;
  }
  if (first == '\'') {
    for (size_t i = start + 1; i < text_.size(); ++i) {
      if (text_[i] != '\'') continue;
      if (i + 1 < text_.size() && text_[i + 1] == '\'') {
        ++i;  // '' is an escaped quote
      } else {
        return i + 1;
      }
    }
    return std::nullopt;
  }
  if (!in_flow && (first == '|' || first == '>') && node.Tag() == "!") {
    // A block scalar: its header line, then every blank or more-indented line.
    size_t end = start + 1;
    while (end < text_.size() && !IsSpace(text_[end])) ++end;
    for (size_t line = NextLineStart(start); line < text_.size(); line = NextLineStart(line)) {
      size_t p = line;
      while (p < text_.size() && text_[p] == ' ') ++p;
      if (p >= text_.size() || text_[p] == '\n' || text_[p] == '\r') continue;
      if (static_cast<int>(p - line) <= owner_column) break;
      end = NextLineStart(line);
      while (end > line && IsSpace(text_[end - 1])) --end;
    }
    return end;
  }
  size_t end = PlainLineEnd(start, in_flow);
  if (std::string_view(text_).substr(start, end - start) == node.Scalar()) return end;
  if (in_flow) return std::nullopt;
  // A plain scalar continued on more-indented lines.
  for (size_t line = NextLineStart(end); line < text_.size(); line = NextLineStart(line)) {
    size_t p = line;
    while (p < text_.size() && IsBlank(text_[p])) ++p;
    if (p >= text_.size() || text_[p] == '\n' || text_[p] == '\r') continue;
    if (static_cast<int>(p - line) <= owner_column || text_[p] == '#') break;
    end = PlainLineEnd(p, false);
  }
  return end;
}

size_t YamlText::PlainLineEnd(size_t start, bool in_flow) const {
  size_t i = start;
  while (i < text_.size()) {
    const char c = text_[i];
    if (c == '\n' || c == '\r') break;
    if (c == '#' && i > start && IsBlank(text_[i - 1])) break;
    if (in_flow && IsFlowIndicator(c)) break;
    if (c == ':') {
      const char next = i + 1 < text_.size() ? text_[i + 1] : '\n';
      if (IsSpace(next) || (in_flow && IsFlowIndicator(next))) break;
    }
    ++i;
  }
  while (i > start && IsBlank(text_[i - 1])) --i;
  return i;
}

std::optional<size_t> YamlText::FlowEnd(size_t start) const {
  int depth = 0;
  for (size_t i = start; i < text_.size(); ++i) {
    const char c = text_[i];
    const char before = i > start ? text_[i - 1] : ' ';
    if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) return i + 1;
    } else if ((c == '"' || c == '\'') && (IsSpace(before) || before == '[' || before == '{' ||
                                           before == ',' || before == ':')) {
      // A quote opens a quoted scalar only where a token may start ("it's" is plain text).
      const char quote = c;
      for (++i; i < text_.size(); ++i) {
        if (quote == '"' && text_[i] == '\\') {
          ++i;
        } else if (text_[i] == quote) {
          if (quote == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
            ++i;
          } else {
            break;
          }
        }
      }
    } else if (c == '#' && IsSpace(before)) {
      while (i < text_.size() && text_[i] != '\n') ++i;
    }
  }
  return std::nullopt;
}

std::optional<size_t> YamlText::AfterColon(const YAML::Node& key, bool in_flow) const {
  auto end = ScalarEnd(key, Start(key), -1, in_flow);
  if (!end) return std::nullopt;
  size_t i = *end;
  while (i < text_.size() && IsBlank(text_[i])) ++i;
  if (i >= text_.size() || text_[i] != ':') return std::nullopt;
  return i + 1;
}

size_t YamlText::LineStart(size_t pos) const {
  pos = std::min(pos, text_.size());
  while (pos > 0 && text_[pos - 1] != '\n') --pos;
  return pos;
}

size_t YamlText::NextLineStart(size_t pos) const {
  const size_t newline = text_.find('\n', pos);
  return newline == std::string::npos ? text_.size() : newline + 1;
}

int YamlText::Column(size_t pos) const { return static_cast<int>(pos - LineStart(pos)); }

bool YamlText::FirstOnLine(size_t pos) const {
  for (size_t i = LineStart(pos); i < pos; ++i) {
    if (!IsBlank(text_[i])) return false;
  }
  return true;
}

size_t YamlText::AttachedCommentsStart(size_t line_start, int column) const {
  size_t start = line_start;
  while (start > 0) {
    const size_t above = LineStart(start - 1);
    size_t p = above;
    while (p < start && text_[p] == ' ') ++p;
    if (p >= start || text_[p] != '#' || static_cast<int>(p - above) != column) break;
    start = above;
  }
  return start;
}

int YamlText::IndentStep() const {
  if (!root_.IsMap() || IsFlow(root_)) return 2;
  for (const MapEntry& entry : MapEntries(root_)) {
    const int base = Column(Start(entry.key));
    if (entry.value.IsMap() && !IsFlow(entry.value) && entry.value.size() > 0) {
      const int nested = Column(Start(MapEntries(entry.value).front().key));
      if (nested > base) return nested - base;
    }
  }
  for (const MapEntry& entry : MapEntries(root_)) {
    const int base = Column(Start(entry.key));
    if (entry.value.IsSequence() && !IsFlow(entry.value)) {
      const int dash = Column(Start(entry.value));
      if (dash > base) return dash - base;
    }
  }
  return 2;
}

std::vector<MapEntry> MapEntries(const YAML::Node& map) {
  std::vector<MapEntry> entries;
  if (!map.IsMap()) return entries;
  for (auto it = map.begin(); it != map.end(); ++it) entries.push_back({it->first, it->second});
  return entries;
}

std::optional<MapEntry> FindEntry(const YAML::Node& map, std::string_view key) {
  for (MapEntry& entry : MapEntries(map)) {
    if (entry.key.IsScalar() && entry.key.Scalar() == key) return std::move(entry);
  }
  return std::nullopt;
}

std::string YamlDoubleQuoted(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string YamlScalar(std::string_view value) {
  return PlainIsSafe(value) ? std::string(value) : YamlDoubleQuoted(value);
}

std::string YamlScalarLike(char existing_first, std::string_view value) {
  if (existing_first == '"') return YamlDoubleQuoted(value);
  if (existing_first == '\'') {
    const bool printable = std::all_of(value.begin(), value.end(), [](char c) {
      return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
    });
    if (!printable) return YamlDoubleQuoted(value);
    std::string out = "'";
    for (char c : value) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  }
  return YamlScalar(value);
}

std::string ApplyEdits(const std::string& text, std::vector<TextEdit> edits) {
  // Back to front, so that each edit's positions are still those of the original text. At one
  // position a replacement goes before an insertion (or it would swallow the inserted text), and
  // insertions go last-given first, so that they end up in the order given.
  std::vector<size_t> order(edits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (edits[a].begin != edits[b].begin) return edits[a].begin > edits[b].begin;
    if (edits[a].end != edits[b].end) return edits[a].end > edits[b].end;
    return a > b;
  });
  std::string out = text;
  for (size_t i : order) {
    const TextEdit& edit = edits[i];
    out.replace(edit.begin, edit.end - edit.begin, edit.text);
  }
  return out;
}

}  // namespace tidegate::config::internal
