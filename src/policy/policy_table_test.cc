#include "policy/policy_table.h"

#include <gtest/gtest.h>

namespace tidegate::policy {
namespace {

mail::Address A(std::string_view s) { return *mail::ParseMailbox(s); }

TEST(Pattern, Forms) {
  auto exact = *ParsePattern("CEO@Example.com");
  EXPECT_TRUE(exact.Matches(A("ceo@EXAMPLE.COM")));
  EXPECT_FALSE(exact.Matches(A("cfo@example.com")));
  auto domain = *ParsePattern("@sales.example.com");
  EXPECT_TRUE(domain.Matches(A("x@Sales.Example.com")));
  EXPECT_FALSE(domain.Matches(A("x@eu.sales.example.com")));
  auto sub = *ParsePattern("@.example.com");
  EXPECT_TRUE(sub.Matches(A("x@eu.example.com")));
  EXPECT_FALSE(sub.Matches(A("x@example.com")));
  EXPECT_FALSE(sub.Matches(A("x@badexample.com")));
  auto user = *ParsePattern("postmaster@");
  EXPECT_TRUE(user.Matches(A("Postmaster@anything.test")));
  EXPECT_FALSE(user.Matches(A("root@anything.test")));
  EXPECT_FALSE(ParsePattern("nobody"));
  EXPECT_FALSE(ParsePattern("@"));
}

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
  auto groups = table->Assign(A("a@x.test"), {A("joe@example.com"), A("ceo@example.com"),
                                              A("ann@eu.legal.example.com"),
                                              A("bob@sales.example.com")});
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
  auto groups = *table.Assign(A("Boss@Partner.test"), {A("joe@example.com"),
                                                      A("x@eu.legal.example.com")});
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

}  // namespace
}  // namespace tidegate::policy
