// tracking_params.cc — tracking search parameters and CSV export (see tracking_params.h).
#include "webui/tracking_params.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>

namespace tidegate::webui {
namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::optional<std::uint64_t> U64(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string Rfc3339(base::SystemTime t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t tt = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

constexpr const char* kKnown[] = {"mid",       "message_id", "sender", "recipient",
                                  "subject",   "sender_ip",  "policy", "match",
                                  "include_journal", "since", "until",  "limit",
                                  "offset"};

}  // namespace

TrackingParams ParseTrackingParams(const std::map<std::string, std::string>& params,
                                   std::size_t default_limit, std::size_t max_limit,
                                   const std::vector<std::string>& extra) {
  TrackingParams out;
  telemetry::TrackingQuery& q = out.query;
  q.limit = default_limit;
  for (const auto& [key, raw] : params) {
    // Numbers are taken as given (" 1" is not a MID); text loses surrounding blanks.
    const bool number = key == "mid" || key == "limit" || key == "offset";
    const std::string value = number ? raw : Trim(raw);
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      if (std::find(extra.begin(), extra.end(), key) == extra.end()) out.errors[key] = "unknown";
      continue;
    }
    if (value.empty()) continue;
    if (key == "mid") {
      if (auto v = U64(value)) {
        q.mid = *v;
      } else {
        out.errors[key] = "mid must be a number";
      }
    } else if (key == "message_id") {
      q.message_id = value;
    } else if (key == "sender") {
      q.sender = value;
    } else if (key == "recipient") {
      q.recipient = value;
    } else if (key == "subject") {
      q.subject = value;
    } else if (key == "sender_ip") {
      q.sender_ip = value;
    } else if (key == "policy") {
      q.policy = value;
    } else if (key == "match") {
      if (auto m = telemetry::ParseTrackingMatch(value)) {
        q.match = *m;
      } else {
        out.errors[key] = "match must be is, begins or contains";
      }
    } else if (key == "include_journal") {
      if (value == "1" || value == "true" || value == "on" || value == "yes") {
        q.include_journal = true;
      } else if (value != "0" && value != "false" && value != "off" && value != "no") {
        out.errors[key] = "include_journal must be true or false";
      }
    } else if (key == "since" || key == "until") {
      auto t = telemetry::ParseSearchTime(value, key == "until");
      if (!t) {
        out.errors[key] = key +
                          " must be seconds since the epoch, RFC 3339 or "
                          "YYYY-MM-DD[ HH:MM[:SS]] (local time)";
      } else if (key == "since") {
        q.since = *t;
      } else {
        q.until = *t;
      }
    } else if (key == "limit") {
      auto v = U64(value);
      if (!v || *v == 0 || *v > max_limit) {
        out.errors[key] = fmt::format("limit must be a number from 1 to {}", max_limit);
      } else {
        q.limit = *v;
      }
    } else if (key == "offset") {
      auto v = U64(value);
      if (!v || *v > 100'000'000) {
        out.errors[key] = "offset must be a number";
      } else {
        q.offset = *v;
      }
    }
  }
  return out;
}

std::string TrackingParamsError(const TrackingParams& p) {
  std::string out;
  for (const auto& [key, error] : p.errors) {
    if (!out.empty()) out += "; ";
    out += error == "unknown" ? fmt::format("unknown parameter '{}'", key) : error;
  }
  if (std::any_of(p.errors.begin(), p.errors.end(),
                  [](const auto& e) { return e.second == "unknown"; })) {
    out += " (known: mid, message_id, sender, recipient, subject, sender_ip, policy, match, "
           "include_journal, since, until, limit, offset)";
  }
  return out;
}

std::string CsvField(std::string_view value) {
  std::string v(value);
  if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' ||
                     v[0] == '\r')) {
    v.insert(v.begin(), '\'');
  }
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string TrackingCsv(const std::vector<telemetry::MessageSummary>& found) {
  std::string out =
      "machine,mid,received,sender,sender_ip,recipients,subject,message_id,policy,journal,"
      "parent_mid,status\r\n";
  for (const telemetry::MessageSummary& m : found) {
    std::string rcpts;
    for (const std::string& r : m.recipients) rcpts += (rcpts.empty() ? "" : " ") + r;
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\r\n", CsvField(m.machine), m.mid,
                       Rfc3339(m.received), CsvField(m.sender), CsvField(m.sender_ip),
                       CsvField(rcpts), CsvField(m.subject), CsvField(m.message_id),
                       CsvField(m.policy), m.journal ? "yes" : "no", m.parent_mid,
                       CsvField(m.status));
  }
  return out;
}

}  // namespace tidegate::webui
