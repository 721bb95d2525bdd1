// decide.h — from the engines' verdicts to what happens to a message (CONTRACT §10).
//
// Decide() is the policy table read left to right for one split message: the anti-spam verdict
// and the anti-virus verdict, each mapped through the policy's resolved settings to an action,
// then the strictest of the two actions: drop > quarantine "Virus" > quarantine "Spam" > tag >
// deliver. A side that is disabled, or whose engine did not scan (kNotScanned), or that answered
// negative contributes nothing. On delivery the Decision also carries what the message gains:
// the Subject tags and the verdict header fields of every side whose action is `tag`.
// Pure function over values; no I/O; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace tidegate::scan {

// kNotScanned: the engine is off for the policy, or the message was skipped (larger than the
// engine's max_message_size).
enum class SpamOutcome : std::uint8_t { kNotScanned, kNegative, kSuspect, kPositive };
enum class VirusOutcome : std::uint8_t { kNotScanned, kNegative, kPositive, kUnscannable };

// The verdict header fields (documented in docs/configuration.md, "Verdict headers"). Added on
// delivery for a side whose action was `tag`, at the top of the header section:
//   X-Tidegate-Spam: suspect, score=7.50        (or positive; the score is omitted when not finite)
//   X-Tidegate-Virus: positive (Eicar-Test-Signature)
//   X-Tidegate-Virus: unscannable (Heuristics.Encrypted.Zip)
// The parenthesised text is the engine's name or reason reduced to printable ASCII without
// parentheses or backslashes, at most kMaxDetail characters, and left out when nothing is left.
inline constexpr std::string_view kSpamHeader = "X-Tidegate-Spam";
inline constexpr std::string_view kVirusHeader = "X-Tidegate-Virus";
inline constexpr std::size_t kMaxDetail = 200;

struct Decision {
  enum class Kind : std::uint8_t { kDeliver, kQuarantine, kDrop } kind = Kind::kDeliver;
  std::string quarantine;  // "Spam" | "Virus" when kQuarantine, else ""
  std::string by;          // "antispam" | "antivirus": whose action decided kQuarantine/kDrop
  // Only for kDeliver: tags to prefix to the Subject, anti-spam's before anti-virus's. Edits has
  // one subject_tag: use SubjectTag() (the tags joined by one space).
  std::vector<std::string> subject_tags;
  // Only for kDeliver: complete fields "Name: value" (no CRLF, no CR/LF inside) for
  // Edits::prepend, anti-spam's before anti-virus's.
  std::vector<std::string> verdict_headers;

  std::string SubjectTag() const;
  friend bool operator==(const Decision&, const Decision&) = default;
};

struct ScanFacts {
  SpamOutcome spam = SpamOutcome::kNotScanned;
  double spam_score = 0;
  VirusOutcome virus = VirusOutcome::kNotScanned;
  std::string virus_detail;  // the virus name (kPositive) or the reason (kUnscannable), untrusted
};

Decision Decide(const config::AntiSpamSettings& as, const config::AntiVirusSettings& av,
                const ScanFacts& facts);

}  // namespace tidegate::scan
