// decide.cc — see decide.h.
#include "scan/decide.h"

#include <charconv>
#include <cmath>
#include <optional>

namespace tidegate::scan {
namespace {

using config::ScanAction;

// The engine's text as it may appear in a header field: printable ASCII only, no parentheses or
// backslashes (it stands inside a comment-like "(...)"), runs of anything else become one space.
std::string SafeDetail(std::string_view detail) {
  std::string out;
  for (char c : detail) {
    const bool keep = c > ' ' && c < 127 && c != '(' && c != ')' && c != '\\';
    if (keep) {
      out.push_back(c);
    } else if (!out.empty() && out.back() != ' ') {
      out.push_back(' ');
    }
    if (out.size() >= kMaxDetail) break;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string SpamHeader(std::string_view verdict, double score) {
  std::string h = std::string(kSpamHeader) + ": " + std::string(verdict);
  if (std::isfinite(score)) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, score, std::chars_format::fixed, 2);
    if (r.ec == std::errc()) h.append(", score=").append(buf, r.ptr);
  }
  return h;
}

std::string VirusHeader(std::string_view verdict, std::string_view detail) {
  std::string h = std::string(kVirusHeader) + ": " + std::string(verdict);
  const std::string safe = SafeDetail(detail);
  if (!safe.empty()) h.append(" (").append(safe).append(")");
  return h;
}

}  // namespace

std::string Decision::SubjectTag() const {
  std::string tag;
  for (const std::string& t : subject_tags) {
    if (!tag.empty()) tag.push_back(' ');
    tag.append(t);
  }
  return tag;
}

Decision Decide(const config::AntiSpamSettings& as, const config::AntiVirusSettings& av,
                const ScanFacts& facts) {
  std::optional<ScanAction> spam;  // the anti-spam side's action, if it has one
  if (as.enabled && facts.spam == SpamOutcome::kPositive) spam = as.positive;
  if (as.enabled && facts.spam == SpamOutcome::kSuspect) spam = as.suspect;
  std::optional<ScanAction> virus;
  if (av.enabled && facts.virus == VirusOutcome::kPositive) virus = av.infected;
  if (av.enabled && facts.virus == VirusOutcome::kUnscannable) virus = av.unscannable;

  Decision d;
  if (virus == ScanAction::kDrop || spam == ScanAction::kDrop) {
    d.kind = Decision::Kind::kDrop;
    d.by = virus == ScanAction::kDrop ? "antivirus" : "antispam";
    return d;
  }
  if (virus == ScanAction::kQuarantine) {
    d.kind = Decision::Kind::kQuarantine;
    d.quarantine = "Virus";
    d.by = "antivirus";
    return d;
  }
  if (spam == ScanAction::kQuarantine) {
    d.kind = Decision::Kind::kQuarantine;
    d.quarantine = "Spam";
    d.by = "antispam";
    return d;
  }
  if (spam == ScanAction::kTag) {
    if (!as.subject_tag.empty()) d.subject_tags.push_back(as.subject_tag);
    const bool positive = facts.spam == SpamOutcome::kPositive;
    d.verdict_headers.push_back(SpamHeader(positive ? "positive" : "suspect", facts.spam_score));
  }
  if (virus == ScanAction::kTag) {
    if (!av.subject_tag.empty()) d.subject_tags.push_back(av.subject_tag);
    const bool positive = facts.virus == VirusOutcome::kPositive;
    d.verdict_headers.push_back(
        VirusHeader(positive ? "positive" : "unscannable", facts.virus_detail));
  }
  return d;
}

}  // namespace tidegate::scan
