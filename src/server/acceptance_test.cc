#include "server/acceptance.h"

#include <gtest/gtest.h>

namespace tidegate::server {
namespace {

mail::Address A(std::string_view s) { return *mail::ParseMailbox(s, /*allow_utf8=*/true); }

// Sales journals to its own intake, Legal is never journaled, Support uses DEFAULT's setting,
// DEFAULT the global intake. `tdc` is the threat_defense_connector section's flow map body.
std::shared_ptr<const config::GatewayConfig> Config(std::string tdc = "enabled: true") {
  auto cfg = config::ParseGatewayConfig(
      "hostname: gw.example.com\n"
      "data_dir: /tmp/x\n"
      "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
      "accepted_domains: [example.com, .example.com]\n"
      "threat_defense_connector: {intake_address: global@intake.example.net, " +
          tdc +
          "}\n"
          "incoming_mail_policies:\n"
          "  - name: Sales\n"
          "    recipients: ['@sales.example.com']\n"
          "    threat_defense_connector: {intake_address: sales@intake.example.net}\n"
          "  - name: Legal\n"
          "    recipients: ['@.legal.example.com']\n"
          "    threat_defense_connector: off\n"
          "  - name: Support\n"
          "    recipients: ['help@example.com']\n"
          "  - name: DEFAULT\n",
      "t.yaml");
  EXPECT_TRUE(cfg) << cfg.error().message;
  return *cfg;
}

inbound::ReceivedMessage Message(std::vector<std::string_view> recipients) {
  inbound::ReceivedMessage m;
  m.mid = 100;
  m.icid = 7;
  m.received = base::SystemTime(std::chrono::seconds(1'700'000'000));
  m.listener = "In";
  m.client_ip = "192.0.2.1";
  m.helo = "client.example.net";
  m.tls = true;
  m.sender = A("a@partner.test");
  for (std::string_view r : recipients) m.recipients.push_back(A(r));
  m.body = "Received: by gw\r\nSubject: hi\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n";
  m.message_id = "<x@y>";
  m.subject = "hi";
  m.received_headers = 1;
  return m;
}

// Hands out 200, 201, ... and counts the calls.
struct Ids {
  std::uint64_t next = 200;
  int calls = 0;
  AcceptanceContext Context(std::size_t backlog = 0) {
    return AcceptanceContext{.next_mid =
                                 [this] {
                                   ++calls;
                                   return next++;
                                 },
                             .journal_backlog = backlog};
  }
};

AcceptancePlan PlanOrDie(inbound::ReceivedMessage m, const config::GatewayConfig& cfg,
                         AcceptanceContext context) {
  auto table = policy::PolicyTable::Build(cfg);
  EXPECT_TRUE(table);
  auto plan = PlanAcceptance(std::move(m), cfg, *table, context);
  EXPECT_TRUE(plan) << plan.error().message;
  return plan ? std::move(*plan) : AcceptancePlan{};
}

std::vector<std::string> Addresses(const spool::MessageMeta& meta) {
  std::vector<std::string> out;
  for (const spool::Recipient& r : meta.recipients) out.push_back(r.address);
  return out;
}

std::vector<std::uint32_t> Rids(const spool::MessageMeta& meta) {
  std::vector<std::uint32_t> out;
  for (const spool::Recipient& r : meta.recipients) out.push_back(r.rid);
  return out;
}

// The events as short strings, for whole-sequence comparisons.
std::vector<std::string> Trace(const AcceptancePlan& plan) {
  std::vector<std::string> out;
  for (const AcceptanceEvent& any : plan.events) {
    if (const auto* e = std::get_if<event::Received>(&any)) {
      out.push_back("received " + std::to_string(e->mid));
    } else if (const auto* e = std::get_if<event::Accepted>(&any)) {
      out.push_back("accepted " + std::to_string(e->mid) + " parent " +
                    std::to_string(e->parent_mid) + " " + e->policy);
    } else if (const auto* e = std::get_if<event::JournalCopyMade>(&any)) {
      out.push_back("journal " + std::to_string(e->journal_mid) + " of " + std::to_string(e->mid) +
                    " to " + e->intake);
    } else if (const auto* e = std::get_if<event::JournalSkipped>(&any)) {
      out.push_back("skipped " + std::to_string(e->mid) + " at " + std::to_string(e->queued));
    } else if (const auto* e = std::get_if<event::Queued>(&any)) {
      out.push_back("queued " + std::to_string(e->mid));
    }
  }
  return out;
}

TEST(PlanAcceptance, OnePolicyKeepsTheReceivedMidAndTakesNoId) {
  auto cfg = Config("enabled: false");
  Ids ids;
  auto message = Message({"bob@example.com", "ann@example.com"});
  const std::string body = message.body;
  auto plan = PlanOrDie(std::move(message), *cfg, ids.Context());
  EXPECT_FALSE(plan.refusal);
  EXPECT_EQ(ids.calls, 0);
  ASSERT_EQ(plan.messages.size(), 1u);
  const spool::MessageMeta& meta = plan.messages[0].meta;
  EXPECT_EQ(meta.mid, 100u);
  EXPECT_EQ(meta.parent_mid, 0u);
  EXPECT_EQ(meta.icid, 7u);
  EXPECT_EQ(meta.kind, spool::MessageKind::kOriginal);
  EXPECT_EQ(meta.received, base::SystemTime(std::chrono::seconds(1'700'000'000)));
  EXPECT_EQ(meta.sender, "a@partner.test");
  EXPECT_EQ(meta.policy, "DEFAULT");
  EXPECT_EQ(Addresses(meta), (std::vector<std::string>{"bob@example.com", "ann@example.com"}));
  EXPECT_EQ(Rids(meta), (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(meta.attrs.at("client_ip"), "192.0.2.1");
  EXPECT_EQ(meta.attrs.at("helo"), "client.example.net");
  EXPECT_EQ(meta.attrs.at("listener"), "In");
  EXPECT_EQ(meta.attrs.at("message_id"), "<x@y>");
  EXPECT_EQ(meta.attrs.at("subject"), "hi");
  EXPECT_EQ(plan.messages[0].body, body);
  EXPECT_EQ(meta.body_size, body.size());
  EXPECT_EQ(Trace(plan), (std::vector<std::string>{"received 100", "accepted 100 parent 0 DEFAULT",
                                                   "queued 100"}));
  const auto& received = std::get<event::Received>(plan.events[0]);
  EXPECT_EQ(received.size, body.size());
  EXPECT_TRUE(received.tls);
  EXPECT_EQ(received.sender, "a@partner.test");
  EXPECT_EQ(std::get<event::Accepted>(plan.events[1]).recipients,
            (std::vector<std::string>{"bob@example.com", "ann@example.com"}));
}

TEST(PlanAcceptance, EmptyHeaderValuesLeaveTheirAttrsOut) {
  auto cfg = Config("enabled: false");
  Ids ids;
  auto message = Message({"bob@example.com"});
  message.message_id.clear();
  message.subject.clear();
  auto plan = PlanOrDie(std::move(message), *cfg, ids.Context());
  ASSERT_EQ(plan.messages.size(), 1u);
  EXPECT_EQ(plan.messages[0].meta.attrs.count("message_id"), 0u);
  EXPECT_EQ(plan.messages[0].meta.attrs.count("subject"), 0u);
}

TEST(PlanAcceptance, SeveralPoliciesSplitInFirstRecipientOrder) {
  auto cfg = Config("enabled: false");
  Ids ids;
  auto message = Message({"x@eu.legal.example.com", "bob@example.com", "s@sales.example.com",
                          "y@legal.example.com", "z@us.legal.example.com"});
  const std::string body = message.body;
  auto plan = PlanOrDie(std::move(message), *cfg, ids.Context());
  EXPECT_EQ(ids.calls, 2);
  ASSERT_EQ(plan.messages.size(), 3u);
  EXPECT_EQ(plan.messages[0].meta.mid, 100u);
  EXPECT_EQ(plan.messages[0].meta.policy, "Legal");
  EXPECT_EQ(Rids(plan.messages[0].meta), (std::vector<std::uint32_t>{0, 4}));
  EXPECT_EQ(plan.messages[1].meta.mid, 200u);
  EXPECT_EQ(plan.messages[1].meta.parent_mid, 100u);
  EXPECT_EQ(plan.messages[1].meta.policy, "DEFAULT");
  // legal.example.com itself is not a subdomain of legal.example.com: DEFAULT.
  EXPECT_EQ(Addresses(plan.messages[1].meta),
            (std::vector<std::string>{"bob@example.com", "y@legal.example.com"}));
  EXPECT_EQ(Rids(plan.messages[1].meta), (std::vector<std::uint32_t>{1, 3}));
  EXPECT_EQ(plan.messages[2].meta.mid, 201u);
  EXPECT_EQ(plan.messages[2].meta.policy, "Sales");
  for (const spool::NewMessage& m : plan.messages) {
    EXPECT_EQ(m.body, body) << m.meta.mid;
    EXPECT_EQ(m.meta.kind, spool::MessageKind::kOriginal);
    EXPECT_EQ(m.meta.attrs.at("client_ip"), "192.0.2.1");
  }
  EXPECT_EQ(Trace(plan),
            (std::vector<std::string>{"received 100", "accepted 100 parent 0 Legal", "queued 100",
                                      "accepted 200 parent 100 DEFAULT", "queued 200",
                                      "accepted 201 parent 100 Sales", "queued 201"}));
}

TEST(PlanAcceptance, JournalCopiesFollowEachPolicysSettingAndTakeIdsInOrder) {
  auto cfg = Config();
  Ids ids;
  auto message = Message(
      {"s@sales.example.com", "x@a.legal.example.com", "bob@example.com", "help@example.com"});
  auto plan = PlanOrDie(std::move(message), *cfg, ids.Context());
  // Sales (custom intake), Legal (off), DEFAULT (global), Support (default → DEFAULT's global).
  EXPECT_EQ(Trace(plan),
            (std::vector<std::string>{
                "received 100", "accepted 100 parent 0 Sales",
                "journal 200 of 100 to sales@intake.example.net", "queued 100",
                "accepted 201 parent 100 Legal", "queued 201", "accepted 202 parent 100 DEFAULT",
                "journal 203 of 202 to global@intake.example.net", "queued 202",
                "accepted 204 parent 100 Support",
                "journal 205 of 204 to global@intake.example.net", "queued 204"}));
  ASSERT_EQ(plan.messages.size(), 7u);
  // Each copy right after its message, in the commit order.
  std::vector<std::uint64_t> order;
  for (const spool::NewMessage& m : plan.messages) order.push_back(m.meta.mid);
  EXPECT_EQ(order, (std::vector<std::uint64_t>{100, 200, 201, 202, 203, 204, 205}));
  const spool::NewMessage& copy = plan.messages[1];
  EXPECT_EQ(copy.meta.kind, spool::MessageKind::kJournal);
  EXPECT_EQ(copy.meta.parent_mid, 100u);
  EXPECT_EQ(copy.meta.icid, 7u);
  EXPECT_EQ(copy.meta.sender, "");
  EXPECT_EQ(copy.meta.policy, "Sales");
  EXPECT_EQ(Addresses(copy.meta), (std::vector<std::string>{"sales@intake.example.net"}));
  EXPECT_EQ(copy.meta.attrs.at("original_mid"), "100");
  EXPECT_EQ(copy.meta.attrs.at("message_id"), "<x@y>");
  EXPECT_EQ(copy.meta.attrs.at("subject"), "hi");
  EXPECT_EQ(copy.meta.attrs.count("client_ip"), 0u);
  EXPECT_EQ(copy.meta.body_size, copy.body.size());
  // The journal report names this policy's recipients only and embeds the original.
  EXPECT_NE(copy.body.find("s@sales.example.com"), std::string::npos);
  EXPECT_EQ(copy.body.find("bob@example.com"), std::string::npos);
  EXPECT_NE(copy.body.find("Received: by gw\r\nSubject: hi"), std::string::npos);
  EXPECT_EQ(plan.messages[6].meta.attrs.at("original_mid"), "204");
}

TEST(PlanAcceptance, TdcDisabledGloballyJournalsNothingWhateverThePolicies) {
  auto cfg = Config("enabled: false");
  Ids ids;
  auto plan = PlanOrDie(Message({"s@sales.example.com", "bob@example.com"}), *cfg, ids.Context());
  EXPECT_EQ(plan.messages.size(), 2u);
  for (const spool::NewMessage& m : plan.messages) {
    EXPECT_EQ(m.meta.kind, spool::MessageKind::kOriginal);
  }
}

TEST(PlanAcceptance, JournalQuotaSkipsCopiesOnceTheQueueIsFull) {
  auto cfg = Config("enabled: true, max_queued: 10");
  Ids ids;
  // One slot left: the first message gets its copy, the second finds the queue full.
  auto plan = PlanOrDie(Message({"s@sales.example.com", "bob@example.com"}), *cfg,
                        ids.Context(/*backlog=*/9));
  EXPECT_EQ(Trace(plan), (std::vector<std::string>{"received 100", "accepted 100 parent 0 Sales",
                                                   "journal 200 of 100 to sales@intake.example.net",
                                                   "queued 100", "accepted 201 parent 100 DEFAULT",
                                                   "skipped 201 at 10", "queued 201"}));
  EXPECT_EQ(plan.messages.size(), 3u);
  Ids full;
  auto none = PlanOrDie(Message({"bob@example.com"}), *cfg, full.Context(/*backlog=*/12));
  EXPECT_EQ(Trace(none), (std::vector<std::string>{"received 100", "accepted 100 parent 0 DEFAULT",
                                                   "skipped 100 at 12", "queued 100"}));
  EXPECT_EQ(full.calls, 0);
}

TEST(PlanAcceptance, TooManyReceivedHeadersIsRefusedWithoutTakingIds) {
  auto cfg = Config();
  Ids ids;
  auto message = Message({"bob@example.com", "s@sales.example.com"});
  message.received_headers = kMaxReceivedHeaders + 1;
  auto plan = PlanOrDie(std::move(message), *cfg, ids.Context());
  ASSERT_TRUE(plan.refusal);
  EXPECT_EQ(plan.refusal->enhanced_code, "5.4.6");
  EXPECT_EQ(plan.refusal->text, "Too many hops: 51 Received: headers (limit 50), mail loop");
  EXPECT_TRUE(plan.messages.empty());
  EXPECT_TRUE(plan.events.empty());
  EXPECT_EQ(ids.calls, 0);

  auto at_limit = Message({"bob@example.com"});
  at_limit.received_headers = kMaxReceivedHeaders;
  EXPECT_FALSE(PlanOrDie(std::move(at_limit), *cfg, ids.Context()).refusal);
}

TEST(PlanAcceptance, NoIdForASplitOrAJournalCopyFailsThePlan) {
  auto cfg = Config();
  auto table = *policy::PolicyTable::Build(*cfg);
  const AcceptanceContext no_ids{.next_mid = [] { return std::uint64_t{0}; }};
  auto split = PlanAcceptance(
      Message({"x@a.legal.example.com", "y@b.legal.example.com", "s@sales.example.com"}), *cfg,
      table, no_ids);
  ASSERT_FALSE(split);
  EXPECT_EQ(split.error().message, "no message id available (spool ids file)");
  auto journal = PlanAcceptance(Message({"bob@example.com"}), *cfg, table, no_ids);
  ASSERT_FALSE(journal);
  EXPECT_EQ(journal.error().message, "no journal copy id available (spool ids file)");
}

TEST(PlanAcceptance, TransferNeedsAreRecordedPerMessageAndPerJournalCopy) {
  auto cfg = Config();
  Ids ids;
  auto message = Message({"s@sales.example.com", "j\xc3\xbcrgen@example.com"});
  message.body += "caf\xc3\xa9\r\n";
  message.declared_8bitmime = true;
  message.declared_smtputf8 = true;
  auto plan = PlanOrDie(std::move(message), *cfg, ids.Context());
  ASSERT_EQ(plan.messages.size(), 4u);
  const spool::MessageMeta& sales = plan.messages[0].meta;
  const spool::MessageMeta& other = plan.messages[2].meta;
  ASSERT_EQ(other.policy, "DEFAULT");
  // One body, scanned once: both parts are 8-bit; only the part with the UTF-8 recipient needs
  // SMTPUTF8; both keep what the client declared.
  for (const spool::MessageMeta* m : {&sales, &other}) {
    EXPECT_EQ(m->attrs.at("body_8bit"), "yes") << m->mid;
    EXPECT_EQ(m->attrs.at("declared_8bitmime"), "yes") << m->mid;
    EXPECT_EQ(m->attrs.at("declared_smtputf8"), "yes") << m->mid;
  }
  EXPECT_EQ(sales.attrs.at("smtputf8"), "no");
  EXPECT_EQ(other.attrs.at("smtputf8"), "yes");
  // Journal copies: their own report body and envelope (<> to an ASCII intake), nothing declared.
  for (std::size_t i : {1u, 3u}) {
    const spool::NewMessage& copy = plan.messages[i];
    ASSERT_EQ(copy.meta.kind, spool::MessageKind::kJournal);
    EXPECT_EQ(copy.meta.attrs.at("body_8bit"), "yes");  // the original is embedded as is
    EXPECT_EQ(copy.meta.attrs.at("smtputf8"), "no");
    EXPECT_EQ(copy.meta.attrs.count("declared_8bitmime"), 0u);
    EXPECT_EQ(copy.meta.attrs.count("declared_smtputf8"), 0u);
  }
}

TEST(PlanAcceptance, ASevenBitMessageSaysSo) {
  auto cfg = Config();
  Ids ids;
  auto plan = PlanOrDie(Message({"bob@example.com"}), *cfg, ids.Context());
  ASSERT_EQ(plan.messages.size(), 2u);
  for (const spool::NewMessage& m : plan.messages) {
    EXPECT_EQ(m.meta.attrs.at("body_8bit"), "no") << m.meta.mid;
    EXPECT_EQ(m.meta.attrs.at("smtputf8"), "no") << m.meta.mid;
    EXPECT_EQ(m.meta.attrs.count("declared_8bitmime"), 0u);
  }
}

// A policy that scans defers its journal copy to the verdict (made from the delivered form then)
// and marks the message for the scan stage; a policy with both engines off is planned as before.
TEST(PlanAcceptance, ScanningPoliciesWaitForTheirVerdictWithoutAJournalCopy) {
  auto cfg = config::ParseGatewayConfig(
      "hostname: gw.example.com\n"
      "data_dir: /tmp/x\n"
      "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
      "accepted_domains: [example.com, .example.com]\n"
      "threat_defense_connector: {intake_address: global@intake.example.net, enabled: true}\n"
      "anti_spam: {url: http://127.0.0.1:11333}\n"
      "anti_virus: {address: 127.0.0.1:3310}\n"
      "incoming_mail_policies:\n"
      "  - name: Raw\n"
      "    recipients: ['@raw.example.com']\n"
      "    anti_spam: off\n"
      "    anti_virus: off\n"
      "  - name: VirusOnly\n"
      "    recipients: ['@av.example.com']\n"
      "    anti_spam: off\n"
      "  - name: DEFAULT\n",
      "t.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  Ids ids;
  AcceptancePlan plan = PlanOrDie(
      Message({"a@example.com", "b@raw.example.com", "c@av.example.com"}), **cfg, ids.Context());
  // DEFAULT (scanned), Raw + its journal copy, VirusOnly (scanned).
  ASSERT_EQ(plan.messages.size(), 4u);
  EXPECT_EQ(plan.messages[0].meta.policy, "DEFAULT");
  EXPECT_EQ(plan.messages[0].meta.attrs.at("scan"), "pending");
  EXPECT_EQ(plan.messages[1].meta.policy, "Raw");
  EXPECT_EQ(plan.messages[1].meta.attrs.count("scan"), 0u);
  EXPECT_EQ(plan.messages[2].meta.kind, spool::MessageKind::kJournal);
  EXPECT_EQ(plan.messages[2].meta.parent_mid, plan.messages[1].meta.mid);
  EXPECT_EQ(plan.messages[3].meta.policy, "VirusOnly");
  EXPECT_EQ(plan.messages[3].meta.attrs.at("scan"), "pending");
  int copies = 0;
  for (const AcceptanceEvent& e : plan.events)
    copies += std::holds_alternative<event::JournalCopyMade>(e);
  EXPECT_EQ(copies, 1);
}

}  // namespace
}  // namespace tidegate::server
