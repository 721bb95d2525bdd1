#include "scan/decide.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace tidegate::scan {
namespace {

using config::AntiSpamSettings;
using config::AntiVirusSettings;
using config::ScanAction;
using Kind = Decision::Kind;

constexpr ScanAction kActions[] = {ScanAction::kDeliver, ScanAction::kTag, ScanAction::kQuarantine,
                                   ScanAction::kDrop};
constexpr SpamOutcome kSpam[] = {SpamOutcome::kNotScanned, SpamOutcome::kNegative,
                                 SpamOutcome::kSuspect, SpamOutcome::kPositive};
constexpr VirusOutcome kVirus[] = {VirusOutcome::kNotScanned, VirusOutcome::kNegative,
                                   VirusOutcome::kPositive, VirusOutcome::kUnscannable};

// The oracle: §10's strictness as a rank per (side, action); the highest rank decides.
// 0 deliver, 1 tag, 2 quarantine Spam, 3 quarantine Virus, 4 drop.
int Rank(ScanAction a, bool virus_side) {
  switch (a) {
    case ScanAction::kDeliver:
      return 0;
    case ScanAction::kTag:
      return 1;
    case ScanAction::kQuarantine:
      return virus_side ? 3 : 2;
    case ScanAction::kDrop:
      return 4;
  }
  return -1;
}

// What §10 says the decision is, written independently of decide.cc.
Decision Oracle(const AntiSpamSettings& as, const AntiVirusSettings& av, const ScanFacts& f) {
  int spam_rank = -1, virus_rank = -1;  // -1: the side has no action
  if (as.enabled && f.spam == SpamOutcome::kPositive) spam_rank = Rank(as.positive, false);
  if (as.enabled && f.spam == SpamOutcome::kSuspect) spam_rank = Rank(as.suspect, false);
  if (av.enabled && f.virus == VirusOutcome::kPositive) virus_rank = Rank(av.infected, true);
  if (av.enabled && f.virus == VirusOutcome::kUnscannable) virus_rank = Rank(av.unscannable, true);
  const int top = std::max(spam_rank, virus_rank);
  Decision want;
  if (top == 4) {
    want.kind = Kind::kDrop;
    want.by = virus_rank == 4 ? "antivirus" : "antispam";
  } else if (top == 3 || top == 2) {
    want.kind = Kind::kQuarantine;
    want.quarantine = top == 3 ? "Virus" : "Spam";
    want.by = top == 3 ? "antivirus" : "antispam";
  } else {
    if (spam_rank == 1) {
      want.subject_tags.push_back(as.subject_tag);
      want.verdict_headers.push_back(f.spam == SpamOutcome::kPositive
                                         ? "X-Tidegate-Spam: positive, score=7.50"
                                         : "X-Tidegate-Spam: suspect, score=7.50");
    }
    if (virus_rank == 1) {
      want.subject_tags.push_back(av.subject_tag);
      want.verdict_headers.push_back(f.virus == VirusOutcome::kPositive
                                         ? "X-Tidegate-Virus: positive (Eicar-Test-Signature)"
                                         : "X-Tidegate-Virus: unscannable (Eicar-Test-Signature)");
    }
  }
  return want;
}

// Both sides enabled and disabled × every action for each of a side's two verdicts × every
// outcome of each side: 2 × 16 × 2 × 16 × 4 × 4 cases.
TEST(Decide, EveryCombination) {
  int cases = 0;
  for (bool as_on : {false, true}) {
    for (ScanAction positive : kActions) {
      for (ScanAction suspect : kActions) {
        const AntiSpamSettings as{as_on, positive, suspect, "[SPAM]"};
        for (bool av_on : {false, true}) {
          for (ScanAction infected : kActions) {
            for (ScanAction unscannable : kActions) {
              const AntiVirusSettings av{av_on, infected, unscannable, "[AV]"};
              for (SpamOutcome spam : kSpam) {
                for (VirusOutcome virus : kVirus) {
                  const ScanFacts facts{spam, 7.5, virus, "Eicar-Test-Signature"};
                  ++cases;
                  ASSERT_EQ(Decide(as, av, facts), Oracle(as, av, facts))
                      << "as " << as_on << int(positive) << int(suspect) << " av " << av_on
                      << int(infected) << int(unscannable) << " spam " << int(spam) << " virus "
                      << int(virus);
                }
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 2 * 16 * 2 * 16 * 4 * 4);
}

TEST(Decide, NamedCases) {
  const AntiSpamSettings as{true, ScanAction::kQuarantine, ScanAction::kTag, "[SUSPECTED SPAM]"};
  const AntiVirusSettings av{true, ScanAction::kDrop, ScanAction::kTag,
                             "[WARNING: A/V UNSCANNABLE]"};
  // Clean → deliver untouched.
  EXPECT_EQ(Decide(as, av, {SpamOutcome::kNegative, 1, VirusOutcome::kNegative, ""}), Decision{});
  // Spam positive and a virus → the virus drop wins.
  Decision d = Decide(as, av, {SpamOutcome::kPositive, 20, VirusOutcome::kPositive, "X"});
  EXPECT_EQ(d.kind, Kind::kDrop);
  EXPECT_EQ(d.by, "antivirus");
  // Suspect and unscannable → both tags, anti-spam's first, joined for Edits::subject_tag.
  d = Decide(as, av,
             {SpamOutcome::kSuspect, 6.25, VirusOutcome::kUnscannable, "Heuristics.Encrypted.Zip"});
  EXPECT_EQ(d.kind, Kind::kDeliver);
  EXPECT_EQ(d.SubjectTag(), "[SUSPECTED SPAM] [WARNING: A/V UNSCANNABLE]");
  EXPECT_EQ(d.verdict_headers,
            (std::vector<std::string>{"X-Tidegate-Spam: suspect, score=6.25",
                                      "X-Tidegate-Virus: unscannable (Heuristics.Encrypted.Zip)"}));
  // The anti-spam quarantine stands when anti-virus only tags.
  d = Decide(as, av, {SpamOutcome::kPositive, 20, VirusOutcome::kUnscannable, "r"});
  EXPECT_EQ(d.kind, Kind::kQuarantine);
  EXPECT_EQ(d.quarantine, "Spam");
  EXPECT_EQ(d.by, "antispam");
  EXPECT_TRUE(d.subject_tags.empty() && d.verdict_headers.empty());
  // Skipped engines decide nothing.
  EXPECT_EQ(Decide(as, av, {SpamOutcome::kNotScanned, 0, VirusOutcome::kNotScanned, ""}),
            Decision{});
}

TEST(Decide, VerdictHeadersAreSafe) {
  const AntiSpamSettings as{true, ScanAction::kTag, ScanAction::kTag, ""};
  const AntiVirusSettings av{true, ScanAction::kTag, ScanAction::kTag, ""};
  Decision d = Decide(
      as, av,
      {SpamOutcome::kPositive, std::numeric_limits<double>::quiet_NaN(), VirusOutcome::kPositive,
       std::string("Evil\r\nBcc: x@y\0(z)\\ \xc3\xa9", 22) + std::string(500, 'A')});
  ASSERT_EQ(d.verdict_headers.size(), 2u);
  EXPECT_EQ(d.verdict_headers[0], "X-Tidegate-Spam: positive");  // no score when not finite
  EXPECT_EQ(d.verdict_headers[1],
            "X-Tidegate-Virus: positive (Evil Bcc: x@y z " + std::string(184, 'A') + ")");
  EXPECT_TRUE(d.subject_tags.empty());  // an empty configured tag adds nothing
  d = Decide(as, av, {SpamOutcome::kSuspect, -1234.567, VirusOutcome::kUnscannable, "\r\n ()"});
  EXPECT_EQ(d.verdict_headers, (std::vector<std::string>{"X-Tidegate-Spam: suspect, score=-1234.57",
                                                         "X-Tidegate-Virus: unscannable"}));
}

}  // namespace
}  // namespace tidegate::scan
