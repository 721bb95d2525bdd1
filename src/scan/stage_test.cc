// stage_test.cc — the scan stage with fake engines over a real spool: every outcome is a commit
// before it acts (deliver: replaced form + journal copy; quarantine: stored then finished; drop:
// finished), an unavailable engine is never a verdict (retried after retry_delay), a message over
// an engine's size limit is skipped for that engine, and concurrency stays within the limits.
#include "scan/stage.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <fstream>

#include "base/filesystem.h"
#include "spool/testing/test_util.h"

namespace tidegate::scan {
namespace {

namespace asio = boost::asio;

// Answers from a script: each call pops the next answer (the last one repeats).
class FakeSpam final : public SpamEngine {
 public:
  explicit FakeSpam(asio::io_context& io, std::vector<base::Result<engines::SpamResult>>* script,
                    int* calls)
      : io_(io), script_(script), calls_(calls) {}
  void Check(const engines::Envelope& envelope, std::shared_ptr<const std::string> message,
             std::function<void(base::Result<engines::SpamResult>)> done) override {
    EXPECT_FALSE(message->empty());
    EXPECT_EQ(envelope.client_ip, "192.0.2.7");
    auto answer = script_->size() > 1 ? script_->front() : script_->back();
    if (script_->size() > 1) script_->erase(script_->begin());
    ++*calls_;
    asio::post(io_, [done = std::move(done), answer] { done(answer); });
  }

 private:
  asio::io_context& io_;
  std::vector<base::Result<engines::SpamResult>>* script_;
  int* calls_;
};

class FakeVirus final : public VirusEngine {
 public:
  FakeVirus(asio::io_context& io, engines::VirusResult answer, int* calls)
      : io_(io), answer_(std::move(answer)), calls_(calls) {}
  void Scan(std::shared_ptr<const std::string>,
            std::function<void(base::Result<engines::VirusResult>)> done) override {
    ++*calls_;
    asio::post(io_, [done = std::move(done), a = answer_] { done(a); });
  }

 private:
  asio::io_context& io_;
  engines::VirusResult answer_;
  int* calls_;
};

// Never answers on its own; when destroyed (a reload replaced it) fails what it holds, as the real
// clients' Stop() does.
class HangingSpam final : public SpamEngine {
 public:
  ~HangingSpam() override {
    for (auto& done : pending_) done(base::MakeError("stopped"));
  }
  void Check(const engines::Envelope&, std::shared_ptr<const std::string>,
             std::function<void(base::Result<engines::SpamResult>)> done) override {
    pending_.push_back(std::move(done));
  }

 private:
  std::vector<std::function<void(base::Result<engines::SpamResult>)>> pending_;
};

engines::SpamResult Spam(engines::SpamVerdict v, double score) {
  engines::SpamResult r;
  r.verdict = v;
  r.score = score;
  r.symbols = {"R_SPF_ALLOW", "DMARC_POLICY_ALLOW"};
  return r;
}

class StageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool::Options o;
    o.dir = base::JoinPath(dir_.path(), "spool");
    o.fs = &base::PosixFilesystem();
    o.clock = &clock_;
    auto opened = spool::Spool::Open(o);
    ASSERT_TRUE(opened);
    spool_ = std::move(opened.value());
    telemetry::MailLogOptions lo;
    lo.path = base::JoinPath(dir_.path(), "mail.current");
    auto log = telemetry::MailLog::Open(lo);
    ASSERT_TRUE(log);
    log_ = std::move(log.value());
    report_ = std::make_unique<telemetry::ScanReport>(log_.get(), &counters_);
    auto parsed = config::ParseGatewayConfig(
        "hostname: gw.example.com\n"
        "data_dir: /tmp/x\n"
        "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
        "accepted_domains: [example.com]\n"
        "anti_spam: {url: http://127.0.0.1:1, max_message_size: 4K}\n"
        "anti_virus: {address: 127.0.0.1:1}\n"
        "incoming_mail_policies:\n"
        "  - name: DEFAULT\n"
        "    anti_spam: {positive: quarantine, suspect: tag}\n"
        "    anti_virus: {infected: drop}\n",
        "t.yaml");
    ASSERT_TRUE(parsed) << parsed.error().message;
    auto cfg = std::make_shared<config::GatewayConfig>(**parsed);
    cfg->anti_spam->retry_delay = std::chrono::milliseconds(50);
    cfg->anti_virus->retry_delay = std::chrono::milliseconds(50);
    cfg_ = cfg;
  }

  std::unique_ptr<Stage> MakeStage() {
    Stage::Hooks hooks;
    hooks.deliver = [this](std::vector<spool::MessageMeta> metas) {
      for (auto& m : metas) delivered_.push_back(std::move(m));
    };
    hooks.journal_copy = [this](const spool::MessageMeta& m,
                                std::string_view body) -> std::optional<spool::NewMessage> {
      spool::NewMessage copy;
      copy.meta.mid = 1000 + m.mid;
      copy.meta.kind = spool::MessageKind::kJournal;
      copy.meta.recipients.push_back({0, "intake@intake.test", spool::RecipientState::kPending});
      copy.body = std::string(body);  // the delivered form, as the real hook wraps it
      journaled_bodies_.push_back(copy.body);
      return copy;
    };
    hooks.quarantine = [this](std::string name, spool::MessageMeta meta, std::string,
                              std::string reason, std::function<void(base::Status)> done) {
      quarantined_.push_back(name + " " + std::to_string(meta.mid) + " " + reason);
      done(base::Status::Ok());
    };
    hooks.make_spam = [this](const config::AntiSpamEngine& e) -> std::unique_ptr<SpamEngine> {
      if (e.port == 9) return std::make_unique<HangingSpam>();
      return std::make_unique<FakeSpam>(io_, &spam_script_, &spam_calls_);
    };
    hooks.make_virus = [this](const config::AntiVirusEngine&) {
      return std::make_unique<FakeVirus>(io_, virus_answer_, &virus_calls_);
    };
    return std::make_unique<Stage>(
        io_, spool_.get(), report_.get(), [this] { return cfg_; }, std::move(hooks));
  }

  // Commits a pending message with this body and hands it to the stage.
  void Receive(Stage& stage, std::uint64_t mid, std::string body) {
    spool::NewMessage m = spool::testing::MakeMessage(mid);
    m.meta.attrs["scan"] = "pending";
    m.meta.attrs["client_ip"] = "192.0.2.7";
    m.body = std::move(body);
    ASSERT_TRUE(spool::testing::CommitAndWait(*spool_, {m}));
    stage.Add({m.meta});
  }

  // Runs the loop until `done` or 5 s.
  void RunUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(10));
      io_.restart();
    }
    ASSERT_TRUE(done());
  }

  std::string Log() {
    log_->Flush();
    std::ifstream f(base::JoinPath(dir_.path(), "mail.current"));
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

  spool::testing::TempDir dir_;
  base::FakeClock clock_;
  asio::io_context io_;
  std::unique_ptr<spool::Spool> spool_;
  std::unique_ptr<telemetry::MailLog> log_;
  telemetry::Counters counters_;
  std::unique_ptr<telemetry::ScanReport> report_;
  std::shared_ptr<const config::GatewayConfig> cfg_;
  std::vector<base::Result<engines::SpamResult>> spam_script_{
      Spam(engines::SpamVerdict::kNegative, 1.5)};
  engines::VirusResult virus_answer_{engines::VirusVerdict::kNegative, ""};
  int spam_calls_ = 0, virus_calls_ = 0;
  std::vector<spool::MessageMeta> delivered_;
  std::vector<std::string> journaled_bodies_;
  std::vector<std::string> quarantined_;
};

const std::string kBody =
    "Authentication-Results: gw.example.com; spf=pass\r\nX-Tidegate-Spam: negative\r\n"
    "Subject: hello\r\n\r\nbody\r\n";

TEST_F(StageTest, CleanMessageIsReplacedByItsDeliveredFormWithItsJournalCopyThenDelivered) {
  auto stage = MakeStage();
  Receive(*stage, 5, kBody);
  RunUntil([&] { return delivered_.size() == 2; });
  EXPECT_EQ(delivered_[0].mid, 5u);
  EXPECT_EQ(delivered_[0].attrs.count("scan"), 0u);
  EXPECT_EQ(delivered_[1].mid, 1005u);
  std::string stored;
  ASSERT_TRUE(spool_->ReadBody(5, stored));
  // The forged fields are gone, ours is on top, the rest untouched.
  EXPECT_EQ(stored.find("spf=pass\r\nX-Tidegate-Spam"), std::string::npos);
  EXPECT_EQ(stored.rfind("Authentication-Results: gw.example.com;", 0), 0u) << stored;
  EXPECT_NE(stored.find("Subject: hello\r\n\r\nbody\r\n"), std::string::npos);
  ASSERT_EQ(journaled_bodies_.size(), 1u);
  EXPECT_EQ(journaled_bodies_[0], stored);
  EXPECT_FALSE(spool_->GetMeta(5)->attrs.count("scan"));
  EXPECT_EQ(stage->backlog(), 0u);
  const std::string log = Log();
  EXPECT_NE(log.find("MID 5 using engine: RSPAMD spam negative score 1.50"), std::string::npos);
  EXPECT_NE(log.find("MID 5 authentication spf=pass dkim=none dmarc=pass"), std::string::npos);
  EXPECT_NE(log.find("MID 5 antivirus negative"), std::string::npos);
}

TEST_F(StageTest, UnavailableEngineIsNeverAVerdictAndIsAskedAgain) {
  spam_script_ = {base::MakeError("connection refused"), base::MakeError("timed out after 3 s"),
                  Spam(engines::SpamVerdict::kNegative, 0)};
  auto stage = MakeStage();
  Receive(*stage, 6, kBody);
  RunUntil([&] { return delivered_.size() == 2; });
  EXPECT_EQ(spam_calls_, 3);
  EXPECT_EQ(virus_calls_, 3);  // both asked again: a scan has no side effects
  const std::string log = Log();
  EXPECT_NE(log.find("MID 6 anti-spam scan failed: connection refused; will retry in 1 seconds"),
            std::string::npos)
      << log;
  EXPECT_EQ(counters_.Global().scan_failures, 2u);
}

TEST_F(StageTest, PositiveSpamIsQuarantinedThenFinishedWithoutACopy) {
  spam_script_ = {Spam(engines::SpamVerdict::kPositive, 60)};
  auto stage = MakeStage();
  Receive(*stage, 7, kBody);
  RunUntil([&] { return counters_.Global().quarantined == 1; });
  EXPECT_FALSE(spool_->GetMeta(7));
  ASSERT_EQ(quarantined_.size(), 1u);
  EXPECT_EQ(quarantined_[0], "Spam 7 spam score 60.00");
  EXPECT_TRUE(delivered_.empty());
  EXPECT_TRUE(journaled_bodies_.empty());
  EXPECT_NE(Log().find("MID 7 quarantined to \"Spam\" (antispam)"), std::string::npos);
}

TEST_F(StageTest, VirusIsDroppedEvenWhenSpamWouldQuarantine) {
  spam_script_ = {Spam(engines::SpamVerdict::kPositive, 60)};
  virus_answer_ = {engines::VirusVerdict::kPositive, "Eicar-Test-Signature"};
  auto stage = MakeStage();
  Receive(*stage, 8, kBody);
  RunUntil([&] { return counters_.Global().dropped == 1; });
  EXPECT_FALSE(spool_->GetMeta(8));
  EXPECT_TRUE(quarantined_.empty());
  EXPECT_TRUE(delivered_.empty());
  const std::string log = Log();
  EXPECT_NE(log.find("MID 8 antivirus positive 'Eicar-Test-Signature'"), std::string::npos);
  EXPECT_NE(log.find("Message aborted MID 8 Dropped by antivirus"), std::string::npos);
}

TEST_F(StageTest, SuspectIsTaggedInTheDeliveredFormAndItsCopy) {
  spam_script_ = {Spam(engines::SpamVerdict::kSuspect, 7)};
  auto stage = MakeStage();
  Receive(*stage, 9, kBody);
  RunUntil([&] { return delivered_.size() == 2; });
  std::string stored;
  ASSERT_TRUE(spool_->ReadBody(9, stored));
  EXPECT_NE(stored.find("Subject: [SUSPECTED SPAM] hello\r\n"), std::string::npos) << stored;
  EXPECT_NE(stored.find("X-Tidegate-Spam: suspect, score=7.00\r\n"), std::string::npos);
  EXPECT_EQ(journaled_bodies_.at(0), stored);
}

TEST_F(StageTest, OverTheSizeLimitIsSkippedForThatEngineOnly) {
  auto stage = MakeStage();
  Receive(*stage, 10, "Subject: big\r\n\r\n" + std::string(5000, 'x') + "\r\n");
  RunUntil([&] { return delivered_.size() == 2; });
  EXPECT_EQ(spam_calls_, 0);
  EXPECT_EQ(virus_calls_, 1);
  EXPECT_NE(Log().find("MID 10 using engine: RSPAMD spam skipped size 5018"), std::string::npos);
}

// A reload that replaces the anti-spam engine while a scan is in flight: the scan fails on the old
// engine and is done again on the new one — never skipped.
TEST_F(StageTest, AReloadMidScanScansAgainOnTheNewEngine) {
  // One slot per engine: two messages in flight (hanging), a third waiting, which starts the
  // moment the old engine fails the first two.
  auto working = std::make_shared<config::GatewayConfig>(*cfg_);
  working->anti_spam->max_concurrency = 1;
  working->anti_virus->max_concurrency = 1;
  auto hanging = std::make_shared<config::GatewayConfig>(*working);
  hanging->anti_spam->port = 9;
  cfg_ = hanging;
  auto stage = MakeStage();
  Receive(*stage, 11, kBody);
  Receive(*stage, 12, kBody);
  Receive(*stage, 13, kBody);
  RunUntil([&] { return virus_calls_ == 2; });
  cfg_ = working;
  stage->ConfigChanged();
  RunUntil([&] { return delivered_.size() == 6; });
  EXPECT_EQ(spam_calls_, 3);
  const std::string log = Log();
  for (int mid : {11, 12, 13}) {
    EXPECT_NE(log.find(fmt::format("MID {} using engine: RSPAMD spam negative", mid)),
              std::string::npos)
        << mid;
  }
  EXPECT_NE(log.find("MID 11 anti-spam scan failed: stopped"), std::string::npos);
}

}  // namespace
}  // namespace tidegate::scan
