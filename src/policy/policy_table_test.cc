#include "policy/policy_table.h"

#include <gtest/gtest.h>

namespace tidegate::policy {
namespace {

mail::Address A(std::string_view s) { return *mail::ParseMailbox(s); }

std::shared_ptr<const config::GatewayConfig> Config() {
  auto cfg = config::ParseGatewayConfig(
      "hostname: gw.example.com\n"
      "data_dir: /tmp/x\n"
      "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
      "accepted_domains: [example.com, .example.com]\n"
      "incoming_mail_policies:\n"
      "  - name: Sales\n"
      "    recipients: ['@sales.example.com', 'ceo@example.com']\n"
      "  - name: Vip\n"
      "    senders: ['boss@partner.test']\n"
      "  - name: Legal\n"
      "    recipients: ['@.legal.example.com']\n"
      "    threat_defense_connector: off\n"
      "  - name: DEFAULT\n",
      "t.yaml");
  EXPECT_TRUE(cfg) << cfg.error().message;
  return *cfg;
}

TEST(PolicyTable, FirstMatchWinsAndGroupsByFirstRecipient) {
  auto cfg = Config();
  auto table = PolicyTable::Build(*cfg);
  ASSERT_TRUE(table);
  auto groups =
      table->Assign(A("a@x.test"), {A("joe@example.com"), A("ceo@example.com"),
                                    A("ann@eu.legal.example.com"), A("bob@sales.example.com")});
  ASSERT_TRUE(groups);
  ASSERT_EQ(groups->size(), 3u);
  EXPECT_EQ(cfg->policies[(*groups)[0].policy].name, "DEFAULT");
  EXPECT_EQ((*groups)[0].rids, (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(cfg->policies[(*groups)[1].policy].name, "Sales");
  EXPECT_EQ((*groups)[1].rids, (std::vector<std::uint32_t>{1, 3}));
  EXPECT_EQ(cfg->policies[(*groups)[2].policy].name, "Legal");
}

TEST(PolicyTable, SenderPolicyTakesAllRecipients) {
  auto cfg = Config();
  auto table = *PolicyTable::Build(*cfg);
  auto groups =
      *table.Assign(A("Boss@Partner.test"), {A("joe@example.com"), A("x@eu.legal.example.com")});
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(cfg->policies[groups[0].policy].name, "Vip");
  // Sales is above Vip: its recipients stay Sales.
  auto mixed = *table.Assign(A("boss@partner.test"), {A("ceo@example.com"), A("a@example.com")});
  ASSERT_EQ(mixed.size(), 2u);
  EXPECT_EQ(cfg->policies[mixed[0].policy].name, "Sales");
  EXPECT_EQ(cfg->policies[mixed[1].policy].name, "Vip");
}

TEST(PolicyTable, NullSenderMatchesOnlyAnySender) {
  auto cfg = Config();
  auto table = *PolicyTable::Build(*cfg);
  auto groups = *table.Assign(mail::Address{}, {A("joe@example.com")});
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(cfg->policies[groups[0].policy].name, "DEFAULT");
}

TEST(PolicyTable, QuotedLocalPartPatternMatchesTheUnquotedAddress) {
  auto cfg = config::ParseGatewayConfig(
      "hostname: gw.example.com\ndata_dir: /tmp/x\nlisteners: [{name: In, bind: 127.0.0.1:0}]\n"
      "accepted_domains: [example.com]\nincoming_mail_policies:\n"
      "  - {name: Quoted, recipients: ['\"John\"@example.com']}\n  - name: DEFAULT\n",
      "t.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto table = *PolicyTable::Build(**cfg);
  auto groups = *table.Assign(A("a@x.test"), {A("john@example.com")});
  EXPECT_EQ((*cfg)->policies[groups[0].policy].name, "Quoted");
}

TEST(PolicyTable, BuildRefusesAPatternTheLoaderWouldRefuse) {
  config::GatewayConfig cfg = *Config();
  cfg.policies[0].recipients.push_back("sales.example.com");
  auto table = PolicyTable::Build(cfg);
  ASSERT_FALSE(table);
  EXPECT_EQ(table.error().message,
            "policy Sales: invalid pattern 'sales.example.com': missing '@'");
}

}  // namespace
}  // namespace tidegate::policy
