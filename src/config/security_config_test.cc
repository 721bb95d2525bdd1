// security_config_test.cc — the content-security keys (CONTRACT §10): global engine blocks,
// per-policy settings, "(use default)" resolution and the errors, each with file and line.
#include <gtest/gtest.h>

#include "config/config.h"

namespace tidegate::config {
namespace {

const std::string kHead =
    "hostname: gw.example.com\n"                    // 1
    "data_dir: /d\n"                                // 2
    "listeners: [{name: In, bind: 127.0.0.1:0}]\n"  // 3
    "accepted_domains: [example.com]\n";            // 4

std::shared_ptr<const GatewayConfig> Ok(const std::string& yaml) {
  auto c = ParseGatewayConfig(yaml, "gw.yaml");
  EXPECT_TRUE(c) << (c ? "" : c.error().message);
  return c ? *c : nullptr;
}

std::string Err(const std::string& yaml) {
  auto c = ParseGatewayConfig(yaml, "gw.yaml");
  return c ? std::string("(loaded)") : c.error().message;
}

TEST(SecurityConfig, WithoutEngineSectionsScanningIsOffEverywhere) {
  auto c = Ok(kHead + "incoming_mail_policies:\n  - name: DEFAULT\n");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->anti_spam.has_value());
  EXPECT_FALSE(c->anti_virus.has_value());
  EXPECT_FALSE(c->AntiSpamFor(c->DefaultPolicy()).enabled);
  EXPECT_FALSE(c->AntiVirusFor(c->DefaultPolicy()).enabled);
}

TEST(SecurityConfig, ContractExampleBlocksParse) {
  auto c = Ok(kHead +
              "anti_spam:  {engine: rspamd, url: http://127.0.0.1:11333, timeout: 15s, "
              "max_concurrency: 32, max_message_size: 2M, retry_delay: 30s}\n"
              "anti_virus: {engine: clamd, address: 127.0.0.1:3310, timeout: 30s, "
              "max_concurrency: 16, retry_delay: 30s}\n"
              "quarantine: {retention: 14d, max_size: 1G}\n"
              "incoming_mail_policies:\n  - name: DEFAULT\n");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->anti_spam);
  EXPECT_EQ(c->anti_spam->host, "127.0.0.1");
  EXPECT_EQ(c->anti_spam->port, 11333);
  EXPECT_EQ(c->anti_spam->timeout, std::chrono::seconds(15));
  EXPECT_EQ(c->anti_spam->max_message_size, 2u << 20);
  ASSERT_TRUE(c->anti_virus);
  EXPECT_EQ(c->anti_virus->address, "127.0.0.1:3310");
  EXPECT_EQ(c->anti_virus->max_concurrency, 16u);
  EXPECT_EQ(c->quarantine.retention, std::chrono::hours(24 * 14));
  EXPECT_EQ(c->quarantine.max_size, std::uint64_t{1} << 30);
  // DEFAULT without its own setting: on, with the default actions.
  const AntiSpamSettings as = c->AntiSpamFor(c->DefaultPolicy());
  EXPECT_TRUE(as.enabled);
  EXPECT_EQ(as.positive, ScanAction::kQuarantine);
  EXPECT_EQ(as.suspect, ScanAction::kTag);
  EXPECT_EQ(as.subject_tag, "[SUSPECTED SPAM]");
  const AntiVirusSettings av = c->AntiVirusFor(c->DefaultPolicy());
  EXPECT_TRUE(av.enabled);
  EXPECT_EQ(av.infected, ScanAction::kDrop);
}

TEST(SecurityConfig, UnixSocketAddress) {
  auto c = Ok(kHead + "anti_virus: {address: unix:/run/clamav/clamd.ctl}\n"
                      "incoming_mail_policies:\n  - name: DEFAULT\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->anti_virus->address, "unix:/run/clamav/clamd.ctl");
}

TEST(SecurityConfig, PolicySettingsAndTheirResolution) {
  auto c = Ok(kHead +
              "anti_spam: {url: http://127.0.0.1:11333}\n"                       // 5
              "anti_virus: {address: 127.0.0.1:3310}\n"                          // 6
              "incoming_mail_policies:\n"                                        // 7
              "  - name: Sales\n"                                                // 8
              "    recipients: ['@sales.example.com']\n"                         // 9
              "  - name: Legal\n"                                                // 10
              "    recipients: ['@legal.example.com']\n"                         // 11
              "    anti_spam: off\n"                                             // 12
              "    anti_virus: {infected: quarantine, unscannable: deliver}\n"   // 13
              "  - name: DEFAULT\n"                                              // 14
              "    anti_spam: {positive: drop, suspect: deliver, subject_tag: '[SPAM?]'}\n");
  ASSERT_TRUE(c);
  const Policy& sales = c->policies[0];
  const Policy& legal = c->policies[1];
  EXPECT_EQ(sales.anti_spam.mode, PolicyScanMode::kDefault);
  // Sales follows DEFAULT.
  AntiSpamSettings s = c->AntiSpamFor(sales);
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.positive, ScanAction::kDrop);
  EXPECT_EQ(s.suspect, ScanAction::kDeliver);
  EXPECT_EQ(s.subject_tag, "[SPAM?]");
  EXPECT_FALSE(c->AntiSpamFor(legal).enabled);
  AntiVirusSettings v = c->AntiVirusFor(legal);
  EXPECT_TRUE(v.enabled);
  EXPECT_EQ(v.infected, ScanAction::kQuarantine);
  EXPECT_EQ(v.unscannable, ScanAction::kDeliver);
  // DEFAULT's anti_virus is unset: on with the default actions, and Sales follows it.
  EXPECT_TRUE(c->AntiVirusFor(sales).enabled);
  EXPECT_EQ(c->AntiVirusFor(sales).infected, ScanAction::kDrop);
}

TEST(SecurityConfig, ErrorsNameFileAndLine) {
  const std::string engines =
      "anti_spam: {url: http://127.0.0.1:11333}\n"  // 5
      "anti_virus: {address: 127.0.0.1:3310}\n"     // 6
      "incoming_mail_policies:\n";                   // 7
  EXPECT_EQ(Err(kHead + engines + "  - name: DEFAULT\n    anti_spam: default\n"),
            "gw.yaml:9: incoming_mail_policies[0].anti_spam: the DEFAULT policy cannot use "
            "'default'; expected off or {positive: ACTION, suspect: ACTION, subject_tag: TEXT}");
  EXPECT_EQ(Err(kHead + engines + "  - name: DEFAULT\n    anti_virus: {infected: burn}\n"),
            "gw.yaml:9: incoming_mail_policies[0].anti_virus.infected: expected deliver, tag, "
            "quarantine or drop, got 'burn'");
  EXPECT_NE(Err(kHead + engines + "  - name: DEFAULT\n    anti_spam: {positive: drop, x: 1}\n")
                .find("gw.yaml:9:"),
            std::string::npos);
  EXPECT_EQ(Err(kHead + "anti_spam: {url: ftp://127.0.0.1:11333}\n"
                        "incoming_mail_policies:\n  - name: DEFAULT\n"),
            "gw.yaml:5: anti_spam.url: expected http://HOST:PORT, got 'ftp://127.0.0.1:11333'");
  EXPECT_EQ(Err(kHead + "anti_virus: {address: 'unix:relative'}\n"
                        "incoming_mail_policies:\n  - name: DEFAULT\n"),
            "gw.yaml:5: anti_virus.address: expected unix:/absolute/path, got 'unix:relative'");
  EXPECT_EQ(Err(kHead + "anti_virus: {engine: sophos}\n"
                        "incoming_mail_policies:\n  - name: DEFAULT\n"),
            "gw.yaml:5: anti_virus.engine: unsupported engine 'sophos' (expected clamd)");
  // Actions for an engine that is not configured: an error at the policy.
  EXPECT_EQ(Err(kHead + "incoming_mail_policies:\n"
                        "  - name: DEFAULT\n"
                        "    anti_virus: {infected: drop}\n"),
            "gw.yaml:6: incoming_mail_policies: policy 'DEFAULT' sets anti_virus actions but "
            "there is no global anti_virus engine section");
}

}  // namespace
}  // namespace tidegate::config
