#include "telemetry/tracking_search.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "telemetry/tracking_db.h"

namespace tidegate::telemetry {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(TrackingSearchTest, MatchNames) {
  EXPECT_EQ(ParseTrackingMatch("is"), TrackingMatch::kIs);
  EXPECT_EQ(ParseTrackingMatch("begins"), TrackingMatch::kBegins);
  EXPECT_EQ(ParseTrackingMatch("begins-with"), TrackingMatch::kBegins);
  EXPECT_EQ(ParseTrackingMatch("contains"), TrackingMatch::kContains);
  EXPECT_EQ(ParseTrackingMatch("like"), std::nullopt);
  EXPECT_EQ(ParseTrackingMatch(""), std::nullopt);
  EXPECT_EQ(TrackingMatchName(TrackingMatch::kBegins), "begins");
}

TEST(TrackingSearchTest, LikePatternsEscapeWildcardsAndTheEscape) {
  EXPECT_EQ(LikePattern(TrackingMatch::kIs, "a@b"), "a@b");
  EXPECT_EQ(LikePattern(TrackingMatch::kBegins, "a@b"), "a@b%");
  EXPECT_EQ(LikePattern(TrackingMatch::kContains, "a@b"), "%a@b%");
  EXPECT_EQ(LikePattern(TrackingMatch::kContains, "100%_x\\y"), "%100\\%\\_x\\\\y%");
  EXPECT_EQ(LikePattern(TrackingMatch::kBegins, "%"), "\\%%");
  EXPECT_EQ(LikePattern(TrackingMatch::kContains, "' OR 1=1 --"), "%' OR 1=1 --%");
}

TEST(TrackingSearchTest, TimeForms) {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  const base::SystemTime t0{seconds(1765000000)};  // 2025-12-06T05:46:40Z
  EXPECT_EQ(ParseSearchTime("1765000000", false), t0);
  EXPECT_EQ(ParseSearchTime("2025-12-06T05:46:40Z", false), t0);
  EXPECT_EQ(ParseSearchTime("2025-12-06T06:46:40+01:00", false), t0);
  EXPECT_EQ(ParseSearchTime("2025-12-05T23:46:40-06:00", false), t0);
  EXPECT_EQ(ParseSearchTime("2025-12-06T05:46:40.250Z", false), t0 + std::chrono::milliseconds(250));
  EXPECT_EQ(ParseSearchTime("2025-12-06 05:46:40", false), t0);
  EXPECT_EQ(ParseSearchTime("2025-12-06T05:46:40", false), t0);
  EXPECT_EQ(ParseSearchTime("2025-12-06 05:46", false), t0 - seconds(40));
  // An end bound covers the unit it was given to.
  EXPECT_EQ(ParseSearchTime("2025-12-06 05:46", true),
            t0 + seconds(19) + std::chrono::milliseconds(999));
  EXPECT_EQ(ParseSearchTime("2025-12-06", false), base::SystemTime{seconds(1764979200)});
  EXPECT_EQ(ParseSearchTime("2025-12-06", true),
            base::SystemTime{seconds(1764979200 + 86399) + std::chrono::milliseconds(999)});
  EXPECT_EQ(ParseSearchTime("2025-12-06 05:46:40", true), t0 + std::chrono::milliseconds(999));
  EXPECT_EQ(ParseSearchTime("2025-12-06T05:46:40.250Z", true), t0 + std::chrono::milliseconds(250));
  // Local time when no offset is given.
  ::setenv("TZ", "America/Chicago", 1);
  ::tzset();
  EXPECT_EQ(ParseSearchTime("2025-12-05 23:46:40", false), t0);
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  for (const char* bad : {"", "yesterday", "2025-13-01", "2025-12-06X05:46", "2025-12-06 5:46",
                          "2025-12-06T05:46Z", "2025-12-06T05:46:40+0100", "12/06/2025",
                          "2025-12-06T05:46:40.Z"}) {
    EXPECT_EQ(ParseSearchTime(bad, false), std::nullopt) << bad;
  }
}

TEST(TrackingSearchTest, QueryBuildingBindsUserTextAndNeverSplicesIt) {
  TrackingQuery q{.sender = "a%'; DROP TABLE messages; --",
                  .recipient = "Bob_@x",
                  .subject = "50% off",
                  .sender_ip = "127.0.0.1",
                  .policy = "Sales",
                  .match = TrackingMatch::kContains};
  std::vector<tracking_db::FindParam> params;
  const std::string sql = tracking_db::FindSql(q, &params);
  EXPECT_THAT(sql, Not(HasSubstr("DROP")));
  EXPECT_THAT(sql, Not(HasSubstr("50")));
  EXPECT_THAT(sql, HasSubstr("sender_key LIKE :sender ESCAPE '\\'"));
  EXPECT_THAT(sql, HasSubstr("address_key LIKE :rcpt ESCAPE '\\'"));
  EXPECT_THAT(sql, HasSubstr("subject LIKE :subject ESCAPE '\\'"));
  EXPECT_THAT(sql, HasSubstr("coalesce(journal, 0) = 0"));
  auto value = [&](std::string_view name) -> std::string {
    for (const auto& p : params) {
      if (name == p.name) {
        if (const auto* s = std::get_if<std::string>(&p.value)) return *s;
        return std::to_string(std::get<std::int64_t>(p.value));
      }
    }
    return "(absent)";
  };
  EXPECT_EQ(value(":sender"), "%a\\%'; drop table messages; --%");
  EXPECT_EQ(value(":rcpt"), "%bob\\_@x%");
  EXPECT_EQ(value(":subject"), "%50\\% off%");
  EXPECT_EQ(value(":sender_ip"), "127.0.0.1");
  EXPECT_EQ(value(":policy"), "Sales");
  EXPECT_EQ(value(":limit"), "100");
  EXPECT_EQ(value(":offset"), "0");

  // "is": plain equality; a MID finds journal copies too.
  params.clear();
  const std::string exact = tracking_db::FindSql({.mid = 7, .sender = "A@B"}, &params);
  EXPECT_THAT(exact, HasSubstr("sender_key = :sender"));
  EXPECT_THAT(exact, Not(HasSubstr("LIKE")));
  EXPECT_THAT(exact, Not(HasSubstr("coalesce(journal")));
  EXPECT_EQ(value(":sender"), "a@b");
}

}  // namespace
}  // namespace tidegate::telemetry
