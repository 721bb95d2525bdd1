// tracking_search.h — the pieces of a tracking search that every backend and front end shares
// (CONTRACT §12 "Tracking search"): the match mode of sender, recipient and subject, LIKE
// patterns built from user text with `%`, `_` and `\` escaped (always bound as parameters, with
// ESCAPE '\'), and the time forms `--since/--until` accept.
//
// Pure functions, no I/O; thread-safe. ParseSearchTime reads forms without an offset in the
// process's local time zone (the gateway's, as the mail log and the Web UI show times).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"

namespace tidegate::telemetry {

// How sender, recipient and subject are compared: the whole value, its start, or anywhere.
// Addresses compare without ASCII case; so does the subject.
enum class TrackingMatch { kIs, kBegins, kContains };

// "is" | "begins" | "contains" (also "begins-with"/"begins_with"); nullopt for anything else.
std::optional<TrackingMatch> ParseTrackingMatch(std::string_view text);
std::string_view TrackingMatchName(TrackingMatch match);

// A LIKE pattern (ESCAPE '\') that finds `value` as `match` says: `\`, `%` and `_` in the value
// are escaped, so they match themselves. kIs gives the escaped value alone.
std::string LikePattern(TrackingMatch match, std::string_view value);

// A time bound: seconds since the Unix epoch ("1700000000"), RFC 3339 ("2026-12-06T01:02:03Z",
// "…+01:00", fractions allowed), or "YYYY-MM-DD[( |T)HH:MM[:SS]]" in local time. `end` makes a
// bound given to the day or minute cover that whole day or minute (for --until): "2026-12-06"
// then means 2026-12-06 23:59:59.999. nullopt when the text is none of these.
std::optional<base::SystemTime> ParseSearchTime(std::string_view text, bool end);

}  // namespace tidegate::telemetry
