// yaml_text.h — internal to config/: a YAML document's text together with its yaml-cpp tree,
// so that edits can replace exactly the bytes of one value and keep everything else (comments,
// blank lines, quoting, indentation, line endings) byte for byte.
//
// yaml-cpp tells where a node starts (its Mark) but not where it ends; YamlText finds the end by
// scanning the text with the YAML rules that matter for configuration files: plain, single- and
// double-quoted scalars, block scalars (| and >), flow collections ({...}, [...]) and block
// collections (whose end is the end of their last descendant). Layouts it cannot measure with
// certainty (a null value, a multi-line plain scalar inside a flow collection) give nullopt, and
// the caller refuses the edit rather than guess.
//
// Ownership: a YamlText owns its copy of the text and its tree; nodes taken from root() stay
// valid while it lives. Thread-safety: none needed; const methods may run concurrently.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace tidegate::config::internal {

class YamlText {
 public:
  // Parses text (a single document); yaml-cpp's exceptions become an Error.
  static base::Result<YamlText> Parse(std::string text);

  const std::string& text() const { return text_; }
  const YAML::Node& root() const { return root_; }
  // The document's line break ("\r\n" when its first line ends so), used for inserted lines.
  const std::string& eol() const { return eol_; }

  // Byte offset where the node's content starts (after an anchor or tag, if any).
  size_t Start(const YAML::Node& node) const;
  // Byte offset just past the node's content (before any comment). owner_column: the column of
  // the key or '-' that owns the node (-1 for the root); in_flow: inside a flow collection.
  std::optional<size_t> End(const YAML::Node& node, int owner_column, bool in_flow) const;
  // Just past the ':' that follows a mapping key.
  std::optional<size_t> AfterColon(const YAML::Node& key, bool in_flow) const;
  // A collection written in flow style ({...} or [...]).
  bool IsFlow(const YAML::Node& collection) const;
  // The value's text is its own and written after its key: not an alias (yaml-cpp gives an
  // alias the node, and so the position, of its anchor) and not anchored (changing an anchored
  // value would silently change every alias of it too).
  bool OwnsValue(const YAML::Node& key, const YAML::Node& value) const;

  size_t LineStart(size_t pos) const;
  // Past the line break of pos's line, or the end of the text.
  size_t NextLineStart(size_t pos) const;
  int Column(size_t pos) const;
  // Only blanks precede pos on its line.
  bool FirstOnLine(size_t pos) const;
  // The first of the comment-only lines directly above line_start whose '#' is at `column`
  // (they describe the line below them and travel with it); line_start when there are none.
  size_t AttachedCommentsStart(size_t line_start, int column) const;
  // The indentation step of nested block collections (2 when the document shows none).
  int IndentStep() const;

 private:
  std::optional<size_t> ScalarEnd(const YAML::Node& node, size_t start, int owner_column,
                                  bool in_flow) const;
  std::optional<size_t> FlowEnd(size_t start) const;
  // End of a plain scalar's text on one line, trailing blanks excluded.
  size_t PlainLineEnd(size_t start, bool in_flow) const;

  std::string text_;
  YAML::Node root_;
  size_t bom_ = 0;  // yaml-cpp's positions do not count a byte order mark
  std::string eol_ = "\n";
};

// Lookup in a mapping without yaml-cpp's throwing operator[].
struct MapEntry {
  YAML::Node key;
  YAML::Node value;
};
std::vector<MapEntry> MapEntries(const YAML::Node& map);
std::optional<MapEntry> FindEntry(const YAML::Node& map, std::string_view key);

// Scalars as YAML text: plain when that reads back as the same string, else double-quoted.
std::string YamlScalar(std::string_view value);
std::string YamlDoubleQuoted(std::string_view value);
// Keeps the quoting style of the scalar being replaced (first character of its text).
std::string YamlScalarLike(char existing_first, std::string_view value);

// A change of the text: [begin, end) becomes text (begin == end inserts).
struct TextEdit {
  size_t begin = 0;
  size_t end = 0;
  std::string text;
};
// Applies non-overlapping edits, given in any order, each against the original positions.
std::string ApplyEdits(const std::string& text, std::vector<TextEdit> edits);

}  // namespace tidegate::config::internal
