// reception_report_test.cc — ReceptionReport: each acceptance event's mail log lines (read back
// from a real mail log file), tracking calls and counters, byte for byte.
#include "telemetry/reception_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <sstream>

#include "base/filesystem.h"

namespace tidegate::telemetry {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

class ReceptionReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tidegate-reception-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    MailLogOptions options;
    options.path = base::JoinPath(dir_, "mail.current");
    auto log = MailLog::Open(options);
    ASSERT_TRUE(log) << log.error().message;
    log_ = std::move(*log);
    report_ = std::make_unique<ReceptionReport>(log_.get(), &counters_);
    report_->set_tracking([this](MessageSummary summary) { rows_.push_back(std::move(summary)); },
                          [this](std::uint64_t mid, std::string text, std::string status) {
                            EXPECT_EQ(status, "");
                            events_.emplace_back(mid, std::move(text));
                          });
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  // The Info lines written, their stamp and the file's own header lines left out.
  std::vector<std::string> Lines() {
    log_->Flush();
    auto text = base::PosixFilesystem().ReadWholeFile(base::JoinPath(dir_, "mail.current"));
    std::vector<std::string> out;
    std::istringstream in(text ? *text : std::string());
    for (std::string line; std::getline(in, line);) {
      const auto at = line.find(" Info: ");
      if (at == std::string::npos) continue;
      std::string rest = line.substr(at + 7);
      if (rest == "Begin Logfile" || rest.starts_with("Version: ") ||
          rest.starts_with("Time offset from UTC: ")) {
        continue;
      }
      out.push_back(std::move(rest));
    }
    return out;
  }

  static Received Tx() {
    return Received{.mid = 7,
                    .icid = 3,
                    .received = base::SystemTime(std::chrono::seconds(1700000000)),
                    .listener = "incoming",
                    .client_ip = "192.0.2.9",
                    .helo = "client.test",
                    .tls = true,
                    .sender = "a@example.org",
                    .message_id = "<m1@example.org>",
                    .subject = "Hello",
                    .size = 1234};
  }

  std::string dir_;
  std::unique_ptr<MailLog> log_;
  Counters counters_;
  std::unique_ptr<ReceptionReport> report_;
  std::vector<MessageSummary> rows_;
  std::vector<std::pair<std::uint64_t, std::string>> events_;
};

TEST_F(ReceptionReportTest, ReceivedCountsTheMessageOnly) {
  report_->Report({Tx()});
  EXPECT_THAT(Lines(), IsEmpty());
  EXPECT_THAT(rows_, IsEmpty());
  EXPECT_THAT(events_, IsEmpty());
  EXPECT_EQ(counters_.Global().messages_received, 1u);
}

TEST_F(ReceptionReportTest, AcceptedOriginal) {
  report_->Report({Tx(), Accepted{.mid = 7, .policy = "default", .recipients = {"b@x", "c@x"}}});
  EXPECT_THAT(Lines(), ElementsAre("MID 7 matched all recipients for per-recipient policy default "
                                   "in the inbound table"));
  ASSERT_EQ(rows_.size(), 1u);
  EXPECT_EQ(rows_[0].mid, 7u);
  EXPECT_EQ(rows_[0].icid, 3u);
  EXPECT_EQ(rows_[0].received, Tx().received);
  EXPECT_EQ(rows_[0].sender, "a@example.org");
  EXPECT_THAT(rows_[0].recipients, ElementsAre("b@x", "c@x"));
  EXPECT_EQ(rows_[0].message_id, "<m1@example.org>");
  EXPECT_EQ(rows_[0].subject, "Hello");
  EXPECT_EQ(rows_[0].policy, "default");
  EXPECT_EQ(rows_[0].parent_mid, 0u);
  EXPECT_FALSE(rows_[0].journal);
  EXPECT_EQ(rows_[0].status, "queued");
  EXPECT_THAT(events_,
              ElementsAre(Pair(7,
                               "Incoming connection (ICID 3) from 192.0.2.9 (client.test) on "
                               "incoming, TLS"),
                          Pair(7,
                               "Message 7 received from <a@example.org> for 2 recipient(s), "
                               "1234 bytes"),
                          Pair(7, "Message-ID '<m1@example.org>'"), Pair(7, "Subject 'Hello'"),
                          Pair(7, "Message 7 matched policy default; queued for delivery")));
  EXPECT_EQ(counters_.Global().messages_received, 1u);
  EXPECT_EQ(counters_.Global().recipients_received, 2u);
}

TEST_F(ReceptionReportTest, AcceptedSplitWithoutMessageIdOrTls) {
  Received tx = Tx();
  tx.message_id.clear();
  tx.tls = false;
  report_->Report(
      {tx, Accepted{.mid = 8, .parent_mid = 7, .policy = "strict", .recipients = {"d@x"}}});
  EXPECT_THAT(Lines(),
              ElementsAre("MID 7 was split creating MID 8 due to a per-recipient policy strict in "
                          "the inbound table",
                          "MID 8 matched all recipients for per-recipient policy strict in the "
                          "inbound table"));
  ASSERT_EQ(rows_.size(), 1u);
  EXPECT_EQ(rows_[0].parent_mid, 7u);
  EXPECT_THAT(
      events_,
      ElementsAre(Pair(8, "Incoming connection (ICID 3) from 192.0.2.9 (client.test) on incoming"),
                  Pair(8, "Message 8 received from <a@example.org> for 1 recipient(s), 1234 bytes"),
                  Pair(8, "Subject 'Hello'"),
                  Pair(8, "Message 8 was split from message 7 by policy strict"),
                  Pair(8, "Message 8 matched policy strict; queued for delivery")));
  EXPECT_EQ(counters_.Global().recipients_received, 1u);
}

// The ESA quotes these values like Python's repr(): an apostrophe switches to double quotes, so
// that log parsers do not cut the value there (issue 19).
TEST_F(ReceptionReportTest, ValuesWithApostrophesAreQuotedLikeTheEsa) {
  Received tx = Tx();
  tx.message_id = "<o'brien@example.org>";
  tx.subject = "It's done";
  report_->Report({tx, Accepted{.mid = 7, .policy = "default", .recipients = {"b@x"}}});
  EXPECT_THAT(events_, testing::Contains(Pair(7, "Message-ID \"<o'brien@example.org>\"")));
  EXPECT_THAT(events_, testing::Contains(Pair(7, "Subject \"It's done\"")));
  events_.clear();
  report_->Report({tx, JournalCopyMade{.mid = 7,
                                       .journal_mid = 9,
                                       .policy = "default",
                                       .intake = "intake@tdc.test",
                                       .service = "Threat Defense"}});
  EXPECT_THAT(Lines(), testing::Contains("TDC: MID 9 with Message-ID \"<o'brien@example.org>\" "
                                         "enqueued for delivery to Threat Defense"));
}

TEST_F(ReceptionReportTest, JournalCopyMade) {
  report_->Report({Tx(), JournalCopyMade{.mid = 7,
                                         .journal_mid = 9,
                                         .policy = "default",
                                         .intake = "intake@tdc.test",
                                         .service = "Threat Defense"}});
  EXPECT_THAT(Lines(), ElementsAre("MID 9 generated based on MID 7 by Threat Defense Connector",
                                   "TDC: MID 9 with Message-ID '<m1@example.org>' enqueued for "
                                   "delivery to Threat Defense"));
  ASSERT_EQ(rows_.size(), 1u);
  EXPECT_EQ(rows_[0].mid, 9u);
  EXPECT_EQ(rows_[0].sender, "");
  EXPECT_THAT(rows_[0].recipients, ElementsAre("intake@tdc.test"));
  EXPECT_EQ(rows_[0].parent_mid, 7u);
  EXPECT_TRUE(rows_[0].journal);
  EXPECT_EQ(rows_[0].status, "queued");
  const std::string generated =
      "TDC: Message 9 generated based on message 7 by Threat Defense Connector, for Threat "
      "Defense at intake@tdc.test";
  EXPECT_THAT(events_, ElementsAre(Pair(7, generated), Pair(9, generated)));
  EXPECT_EQ(counters_.Global().journal_copies, 1u);
}

TEST_F(ReceptionReportTest, JournalSkipped) {
  report_->Report({Tx(), JournalSkipped{.mid = 7, .queued = 500}});
  EXPECT_THAT(Lines(),
              ElementsAre("TDC: MID 7 not journaled: the.tdc.queue holds 500 copies (max_queued)"));
  EXPECT_THAT(rows_, IsEmpty());
  EXPECT_THAT(events_, IsEmpty());
  EXPECT_EQ(counters_.Global().journal_copies, 0u);
}

TEST_F(ReceptionReportTest, Queued) {
  report_->Report({Tx(), Queued{.mid = 7}});
  EXPECT_THAT(Lines(), ElementsAre("MID 7 queued for delivery"));
  EXPECT_THAT(events_, IsEmpty());
}

TEST_F(ReceptionReportTest, WithoutTrackingMailStillReads) {
  report_->set_tracking(nullptr, nullptr);
  report_->Report(
      {Tx(), Accepted{.mid = 7, .policy = "default", .recipients = {"b@x"}}, Queued{.mid = 7}});
  EXPECT_THAT(Lines(), ElementsAre("MID 7 matched all recipients for per-recipient policy default "
                                   "in the inbound table",
                                   "MID 7 queued for delivery"));
  EXPECT_EQ(counters_.Global().recipients_received, 1u);
}

}  // namespace
}  // namespace tidegate::telemetry
