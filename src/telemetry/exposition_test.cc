// exposition_test.cc — the Prometheus text format renderer and the histogram behind it.
#include "telemetry/exposition.h"

#include <gtest/gtest.h>

#include <thread>

#include "telemetry/histogram.h"

namespace tidegate::telemetry {
namespace {

TEST(ExpositionTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue(R"(a"b\c)" "\nd"), R"(a\"b\\c\nd)");
  EXPECT_EQ(EscapeLabelValue("example.com"), "example.com");
  EXPECT_EQ(EscapeHelp("line\\one\nline \"two\""), "line\\\\one\\nline \"two\"");
}

TEST(ExpositionTest, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(104163), "104163");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(0.0 / 0.0), "NaN");
}

TEST(ExpositionTest, CountersAndGaugesWithHeadersOncePerFamily) {
  Exposition e;
  e.Counter("tidegate_recipients_delivered_total", "Recipients delivered.",
            {{"queue", "example.com"}}, 12);
  e.Counter("tidegate_recipients_delivered_total", "Recipients delivered.",
            {{"queue", "we\"ird\\q\nx"}}, 3);
  e.Gauge("tidegate_spool_bytes", "Bytes.", {}, 4096);
  EXPECT_EQ(e.text(),
            "# HELP tidegate_recipients_delivered_total Recipients delivered.\n"
            "# TYPE tidegate_recipients_delivered_total counter\n"
            "tidegate_recipients_delivered_total{queue=\"example.com\"} 12\n"
            "tidegate_recipients_delivered_total{queue=\"we\\\"ird\\\\q\\nx\"} 3\n"
            "# HELP tidegate_spool_bytes Bytes.\n"
            "# TYPE tidegate_spool_bytes gauge\n"
            "tidegate_spool_bytes 4096\n");
}

TEST(ExpositionTest, DeclareAloneWritesOnlyTheHeader) {
  Exposition e;
  e.Declare("tidegate_x_total", "X.", "counter");
  e.Declare("tidegate_x_total", "X.", "counter");
  EXPECT_EQ(e.text(), "# HELP tidegate_x_total X.\n# TYPE tidegate_x_total counter\n");
}

TEST(ExpositionTest, HistogramHasCumulativeBucketsInfSumAndCount) {
  Histogram h({0.1, 1, 10});
  h.Observe(0.05);
  h.Observe(0.1);  // on a bound: counted in that bucket (le is "less or equal")
  h.Observe(0.5);
  h.Observe(42);   // above every bound: only +Inf
  Exposition e;
  e.Histogram("tidegate_scan_seconds", "Scan time.", {{"engine", "rspamd"}}, h.Snapshot());
  EXPECT_EQ(e.text(),
            "# HELP tidegate_scan_seconds Scan time.\n"
            "# TYPE tidegate_scan_seconds histogram\n"
            "tidegate_scan_seconds_bucket{engine=\"rspamd\",le=\"0.1\"} 2\n"
            "tidegate_scan_seconds_bucket{engine=\"rspamd\",le=\"1\"} 3\n"
            "tidegate_scan_seconds_bucket{engine=\"rspamd\",le=\"10\"} 3\n"
            "tidegate_scan_seconds_bucket{engine=\"rspamd\",le=\"+Inf\"} 4\n"
            "tidegate_scan_seconds_sum{engine=\"rspamd\"} 42.65\n"
            "tidegate_scan_seconds_count{engine=\"rspamd\"} 4\n");
}

TEST(ExpositionTest, EmptyHistogramStillHasInfSumAndCount) {
  Histogram h(JournalDelayBuckets());
  Exposition e;
  e.Histogram("tidegate_journal_delay_seconds", "Delay.", {}, h.Snapshot());
  EXPECT_NE(e.text().find("tidegate_journal_delay_seconds_bucket{le=\"+Inf\"} 0\n"),
            std::string::npos);
  EXPECT_NE(e.text().find("tidegate_journal_delay_seconds_sum 0\n"), std::string::npos);
  EXPECT_NE(e.text().find("tidegate_journal_delay_seconds_count 0\n"), std::string::npos);
}

TEST(HistogramTest, ConcurrentObserversAndReadersAgree) {
  Histogram h(ScanSecondsBuckets());
  std::thread writer([&] {
    for (int i = 0; i < 20000; ++i) h.Observe(i % 2 == 0 ? 0.001 : 3.0);
  });
  for (int i = 0; i < 200; ++i) {
    HistogramSnapshot s = h.Snapshot();
    ASSERT_EQ(s.buckets.size(), s.bounds.size() + 1);
    for (std::size_t b = 1; b < s.buckets.size(); ++b) ASSERT_LE(s.buckets[b - 1], s.buckets[b]);
  }
  writer.join();
  HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.count(), 20000u);
  EXPECT_NEAR(s.sum, 10000 * 0.001 + 10000 * 3.0, 1e-6);
}

}  // namespace
}  // namespace tidegate::telemetry
