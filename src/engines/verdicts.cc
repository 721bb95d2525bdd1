// verdicts.cc — see verdicts.h.
#include "engines/verdicts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace tidegate::engines {

namespace {

// ordered_json: milter.add_headers must keep the reply's order.
using Json = nlohmann::ordered_json;

base::Error Malformed(std::string_view what) {
  return base::MakeError(fmt::format("malformed reply: {}", what));
}

// Nesting depth of the JSON text, strings skipped: nlohmann's parser and destructor are fine
// with depth, but a bound keeps hostile input from costing more than its size.
bool DepthWithin(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return true;
}

std::optional<SpamVerdict> VerdictOf(std::string_view action) {
  if (action == "reject") return SpamVerdict::kPositive;
  if (action == "add header" || action == "rewrite subject") return SpamVerdict::kSuspect;
  if (action == "no action" || action == "greylist" || action == "soft reject") {
    return SpamVerdict::kNegative;
  }
  return std::nullopt;
}

std::optional<double> Number(const Json& reply, const char* key) {
  auto it = reply.find(key);
  if (it == reply.end() || !it->is_number()) return std::nullopt;
  double value = it->get<double>();
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

// RFC 5322 field name: printable US-ASCII except ':'.
bool IsFieldName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c >= 33 && c <= 126 && c != ':'; });
}

// Unfolds (CRLF followed by SP or HTAB is removed, RFC 5322 §2.2.3) and refuses anything else
// that could end or split a header line: CR, LF, NUL, other control bytes (HTAB is kept).
std::optional<std::string> SafeFieldValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\r' && i + 2 < value.size() && value[i + 1] == '\n' &&
        (value[i + 2] == ' ' || value[i + 2] == '\t')) {
      ++i;  // the CRLF goes; the whitespace after it stays
      continue;
    }
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return std::nullopt;
    out.push_back(c);
  }
  return out;
}

// One add_headers entry: a string, {"value": string, ...}, or an array of those.
void AddHeader(SpamResult& result, const std::string& name, const Json& entry, int depth) {
  if (entry.is_array() && depth == 0) {
    for (const Json& item : entry) AddHeader(result, name, item, 1);
    return;
  }
  const Json* value = &entry;
  if (entry.is_object()) {
    auto it = entry.find("value");
    value = it == entry.end() ? nullptr : &*it;
  }
  std::optional<std::string> safe;
  if (value != nullptr && value->is_string() && IsFieldName(name)) {
    safe = SafeFieldValue(value->get_ref<const std::string&>());
  }
  if (!safe) {
    ++result.dropped_headers;
    return;
  }
  result.add_headers.emplace_back(name, std::move(*safe));
}

}  // namespace

base::Result<SpamResult> ParseRspamdReply(std::string_view json) {
  if (json.size() > kMaxRspamdReply) return Malformed("too large");
  if (!DepthWithin(json, kMaxJsonDepth)) return Malformed("nested too deeply");
  Json reply = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded()) return Malformed("not JSON");
  if (!reply.is_object()) return Malformed("not a JSON object");

  SpamResult result;
  auto action = reply.find("action");
  if (action == reply.end() || !action->is_string()) return Malformed("no action");
  result.action = action->get<std::string>();
  std::optional<SpamVerdict> verdict = VerdictOf(result.action);
  if (!verdict) return Malformed("unknown action");
  result.verdict = *verdict;

  std::optional<double> score = Number(reply, "score");
  std::optional<double> required = Number(reply, "required_score");
  if (!score || !required) return Malformed("no score");
  result.score = *score;
  result.required_score = *required;

  if (auto symbols = reply.find("symbols"); symbols != reply.end()) {
    if (!symbols->is_object()) return Malformed("symbols is not an object");
    for (const auto& [name, detail] : symbols->items()) result.symbols.push_back(name);
    std::sort(result.symbols.begin(), result.symbols.end());
  }

  if (auto milter = reply.find("milter"); milter != reply.end() && milter->is_object()) {
    if (auto add = milter->find("add_headers"); add != milter->end()) {
      if (!add->is_object()) return Malformed("milter.add_headers is not an object");
      for (const auto& [name, entry] : add->items()) AddHeader(result, name, entry, 0);
    }
  }
  return result;
}

base::Result<VirusResult> ParseClamdReply(std::string_view reply) {
  if (reply.size() > kMaxClamdReply) return Malformed("too large");
  for (char c : reply) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return Malformed("control character");
  }
  constexpr std::string_view kStream = "stream: ";
  constexpr std::string_view kError = " ERROR";
  constexpr std::string_view kFound = " FOUND";
  std::string_view body = reply;
  bool stream = body.substr(0, kStream.size()) == kStream;
  if (stream) body.remove_prefix(kStream.size());

  if (body.size() > kError.size() && body.substr(body.size() - kError.size()) == kError) {
    std::string_view reason = body.substr(0, body.size() - kError.size());
    while (!reason.empty() && reason.back() == ' ') reason.remove_suffix(1);
    if (reason.empty()) return Malformed("ERROR without a reason");
    return VirusResult{VirusVerdict::kUnscannable, std::string(reason)};
  }
  if (!stream) return Malformed("not a scan reply");
  if (body == "OK") return VirusResult{VirusVerdict::kNegative, ""};
  if (body.size() > kFound.size() && body.substr(body.size() - kFound.size()) == kFound) {
    std::string_view name = body.substr(0, body.size() - kFound.size());
    if (name.empty() || name.find(' ') != std::string_view::npos) {
      return Malformed("bad signature name");
    }
    bool heuristic_limit = name.starts_with("Heuristics.Encrypted.") ||
                           name.starts_with("Heuristics.Limits.Exceeded.");
    return VirusResult{heuristic_limit ? VirusVerdict::kUnscannable : VirusVerdict::kPositive,
                       std::string(name)};
  }
  return Malformed("not a scan reply");
}

std::optional<SessionReply> SplitSessionReply(std::string_view line) {
  std::size_t digits = 0;
  std::uint64_t id = 0;
  while (digits < line.size() && line[digits] >= '0' && line[digits] <= '9') {
    if (digits == 19) return std::nullopt;  // more than fits; no session id is that long
    id = id * 10 + static_cast<std::uint64_t>(line[digits] - '0');
    ++digits;
  }
  if (digits == 0 || line.substr(digits, 2) != ": ") return std::nullopt;
  return SessionReply{id, line.substr(digits + 2)};
}

std::string DescribeDuration(std::int64_t milliseconds) {
  if (milliseconds % 1000 == 0) return fmt::format("{} s", milliseconds / 1000);
  return fmt::format("{} ms", milliseconds);
}

}  // namespace tidegate::engines
