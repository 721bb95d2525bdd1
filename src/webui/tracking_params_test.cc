#include "webui/tracking_params.h"

#include <gtest/gtest.h>

namespace tidegate::webui {
namespace {

TEST(TrackingParamsTest, ReadsEveryKeyAndRejectsUnknownOnes) {
  const TrackingParams p = ParseTrackingParams(
      {{"sender", " a@b "}, {"recipient", "c@d"}, {"subject", "Hi"}, {"sender_ip", "127.0.0.2"},
       {"policy", "Sales"}, {"match", "contains"}, {"include_journal", "true"},
       {"since", "2026-12-06"}, {"until", "2026-12-06"}, {"limit", "300"}, {"offset", "200"},
       {"mid", ""}},
      100, 1000);
  EXPECT_TRUE(p.errors.empty());
  EXPECT_EQ(p.query.sender, "a@b");
  EXPECT_EQ(p.query.recipient, "c@d");
  EXPECT_EQ(p.query.subject, "Hi");
  EXPECT_EQ(p.query.sender_ip, "127.0.0.2");
  EXPECT_EQ(p.query.policy, "Sales");
  EXPECT_EQ(p.query.match, telemetry::TrackingMatch::kContains);
  EXPECT_TRUE(p.query.include_journal);
  ASSERT_TRUE(p.query.since && p.query.until);
  EXPECT_GT(*p.query.until - *p.query.since, std::chrono::hours(23));
  EXPECT_EQ(p.query.limit, 300u);
  EXPECT_EQ(p.query.offset, 200u);
  EXPECT_FALSE(p.query.mid);

  const TrackingParams bad = ParseTrackingParams(
      {{"sendr", "x"}, {"match", "like"}, {"limit", "1001"}, {"mid", " 1"}, {"since", "soon"}},
      100, 1000);
  EXPECT_EQ(bad.errors.size(), 5u);
  const std::string text = TrackingParamsError(bad);
  EXPECT_NE(text.find("unknown parameter 'sendr'"), std::string::npos) << text;
  EXPECT_NE(text.find("match must be is, begins or contains"), std::string::npos) << text;
  EXPECT_EQ(ParseTrackingParams({{"format", "csv"}}, 100, 1000, {"format"}).errors.size(), 0u);
  EXPECT_EQ(ParseTrackingParams({}, 200, 1000).query.limit, 200u);
  EXPECT_FALSE(ParseTrackingParams({}, 200, 1000).query.include_journal);
}

TEST(TrackingParamsTest, CsvQuotesAndDisarmsFormulas) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\r\nlines"), "\"two\r\nlines\"");
  EXPECT_EQ(CsvField("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
  EXPECT_EQ(CsvField("+1"), "'+1");
  EXPECT_EQ(CsvField("-2+3"), "'-2+3");
  EXPECT_EQ(CsvField("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(CsvField("a=b"), "a=b");
  EXPECT_EQ(CsvField(""), "");

  telemetry::MessageSummary m{.mid = 7,
                              .sender_ip = "127.0.0.3",
                              .received = base::SystemTime(std::chrono::seconds(1765000000)),
                              .sender = "a@b",
                              .recipients = {"c@d", "e@f"},
                              .message_id = "<x@y>",
                              .subject = "=1+1, \"quoted\"",
                              .policy = "DEFAULT",
                              .status = "delivered"};
  EXPECT_EQ(TrackingCsv({m}),
            "machine,mid,received,sender,sender_ip,recipients,subject,message_id,policy,journal,"
            "parent_mid,status\r\n"
            ",7,2025-12-06T05:46:40.000Z,a@b,127.0.0.3,c@d e@f,\"'=1+1, \"\"quoted\"\"\",<x@y>,"
            "DEFAULT,no,0,delivered\r\n");
}

}  // namespace
}  // namespace tidegate::webui
