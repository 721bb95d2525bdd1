// verdicts.h — what the content engines (rspamd, clamd) are told and what they answer, and the
// pure parsers that turn an engine's reply into a verdict (CONTRACT §10).
//
// The parsers read untrusted bytes from a network peer: they are bounded in size and nesting,
// never throw, and answer anything they cannot read as a base::Error ("malformed reply: ..."),
// which the caller treats as "engine unavailable" (the message is scanned again later). A reply
// that is well formed but says the engine could not scan (clamd's `... ERROR`) is a verdict, not
// an error. The I/O drivers are rspamd_client.h and clamd_client.h.
//
// Verdict mapping (§10):
//   rspamd action  reject → positive; "add header", "rewrite subject" → suspect;
//                  "no action", "greylist", "soft reject" → negative; any other action → error.
//   clamd reply    `stream: OK` → negative; `stream: <name> FOUND` → positive (detail = name),
//                  except `Heuristics.Encrypted.*` and `Heuristics.Limits.Exceeded.*` →
//                  unscannable (detail = name); `<reason> ERROR` → unscannable (detail = reason).
//
// Pure functions on values; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace tidegate::engines {

// What the engines are told besides the message bytes.
struct Envelope {
  std::uint64_t mid = 0;                // sent as Queue-Id, the decimal MID
  std::string client_ip, helo, sender;  // sender "" = null sender (sent as `From: <>`)
  std::vector<std::string> recipients;  // one Rcpt header each
  std::string hostname;                 // the client's verified host name, or "unknown" (Hostname header)
};

enum class SpamVerdict : std::uint8_t { kNegative, kSuspect, kPositive };

struct SpamResult {
  SpamVerdict verdict = SpamVerdict::kNegative;
  std::string action;  // rspamd's action string as given
  double score = 0, required_score = 0;
  std::vector<std::string> symbols;  // symbol names, sorted
  // milter.add_headers (name, value), in reply order. Safe to put in a message: a name is
  // RFC 5322 ftext (printable ASCII except ':'); a value is unfolded (CRLF before SP/HTAB
  // removed) and holds no CR, LF, NUL or other control byte but HTAB. A header that cannot be
  // made so is left out and counted in `dropped_headers`.
  std::vector<std::pair<std::string, std::string>> add_headers;
  std::size_t dropped_headers = 0;
};

enum class VirusVerdict : std::uint8_t { kNegative, kPositive, kUnscannable };

struct VirusResult {
  VirusVerdict verdict = VirusVerdict::kNegative;
  std::string detail;  // the virus name, or the reason it could not be scanned
};

// Bounds on what the parsers read. Larger input is an error before any parsing.
inline constexpr std::size_t kMaxRspamdReply = std::size_t{4} << 20;
inline constexpr std::size_t kMaxJsonDepth = 32;
inline constexpr std::size_t kMaxClamdReply = 4096;

// A /checkv2 reply body (JSON). Needs `action` (a known one), numeric `score` and
// `required_score` and, when present, `symbols` as an object keyed by name and
// `milter.add_headers` as an object whose values are a string, {"value": .., "order": ..} or an
// array of those (one header each).
base::Result<SpamResult> ParseRspamdReply(std::string_view json);

// One clamd reply, without its NUL or newline terminator and without a `<id>: ` session prefix.
base::Result<VirusResult> ParseClamdReply(std::string_view reply);

// A reply in an IDSESSION: `<id>: <reply>` → (id, reply). Empty if there is no such prefix (a
// reply clamd sends before closing a session it could not read, e.g. `UNKNOWN COMMAND`).
struct SessionReply {
  std::uint64_t id = 0;
  std::string_view reply;
};
std::optional<SessionReply> SplitSessionReply(std::string_view line);

// "15 s" for whole seconds, else "1500 ms": how timeouts are named in reasons.
std::string DescribeDuration(std::int64_t milliseconds);

}  // namespace tidegate::engines
