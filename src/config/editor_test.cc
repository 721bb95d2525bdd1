#include "config/editor.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "config/test_util.h"

namespace tidegate::config {
namespace {

using testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// `text` with the only occurrence of `from` replaced (the test fails if there is not exactly one).
std::string Replace(const std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "not found: " << from;
  if (at == std::string::npos) return text;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "not unique: " << from;
  return text.substr(0, at) + to + text.substr(at + from.size());
}

mail::Address Mailbox(const std::string& text) {
  auto address = mail::ParseMailbox(text);
  EXPECT_TRUE(address.ok()) << text;
  return address.ok() ? *address : mail::Address{};
}

PolicyTdc Custom(const std::string& address) {
  return PolicyTdc{PolicyTdcMode::kCustom, Mailbox(address)};
}
PolicyTdc Mode(PolicyTdcMode mode) { return PolicyTdc{mode, std::nullopt}; }

std::vector<std::string> Names(const GatewayConfig& config) {
  std::vector<std::string> names;
  for (const Policy& p : config.policies) names.push_back(p.name);
  return names;
}

// The edited text must load on its own, exactly as the file will.
std::shared_ptr<const GatewayConfig> Reparsed(const ConfigEditor& editor) {
  auto config = ParseGatewayConfig(editor.text(), editor.path());
  EXPECT_TRUE(config.ok()) << (config.ok() ? "" : config.error().message);
  return config.ok() ? *config : nullptr;
}

// ---- examples/gateway.yaml, with the ../run files `make run` generates ----

class ExampleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "examples");
    original_ = ReadFile(std::string(TIDEGATE_SOURCE_DIR) + "/examples/gateway.yaml");
    ASSERT_GT(original_.size(), 1000u);
    // The demo gives Sales a custom intake address; these tests start from CONTRACT §3's shape,
    // where Sales says "default", so put that back (the rest of the file stays as shipped).
    const std::string custom = "    threat_defense_connector:             #";
    if (auto at = original_.find(custom); at != std::string::npos) {
      auto end = original_.find('\n', original_.find('\n', at) + 1);
      ASSERT_NE(end, std::string::npos);
      original_.replace(at, end + 1 - at,
                        "    threat_defense_connector: default     # default | global | off | "
                        "{intake_address: ADDRESS}\n");
    }
    path_ = dir_.Write("examples/gateway.yaml", original_);
    for (const char* name :
         {"run/tls/gateway.crt", "run/tls/gateway.key", "run/tls/ca.crt", "run/admin.password",
        "run/ldap/slapd/bind.password"}) {
      dir_.Write(name, "x\n");
    }
  }
  ConfigEditor Load() {
    auto editor = ConfigEditor::Load(path_);
    EXPECT_TRUE(editor.ok()) << (editor.ok() ? "" : editor.error().message);
    return std::move(editor).value();
  }

  TempDir dir_;
  std::string path_;
  std::string original_;
};

TEST_F(ExampleTest, DisableReplacesOnlyTheValue) {
  ConfigEditor editor = Load();
  ASSERT_TRUE(editor.SetTdcEnabled(false).ok());
  EXPECT_EQ(editor.text(), Replace(original_, "  enabled: true\n", "  enabled: false\n"));
  EXPECT_FALSE(Reparsed(editor)->tdc.enabled);
  // Enabling again restores the file byte for byte.
  ASSERT_TRUE(editor.SetTdcEnabled(true).ok());
  EXPECT_EQ(editor.text(), original_);
}

TEST_F(ExampleTest, SetIntakeAddressReplacesOnlyTheAddress) {
  ConfigEditor editor = Load();
  ASSERT_TRUE(editor.SetTdcIntakeAddress("acct-2@intake.example.net").ok());
  EXPECT_EQ(editor.text(),
            Replace(original_, "b5986efe-374c-47a5-aade-b8d98847e1a6@intake.example.net",
                    "acct-2@intake.example.net"));
  EXPECT_EQ(Reparsed(editor)->tdc.intake_address->str(), "acct-2@intake.example.net");
  EXPECT_EQ(editor.config()->tdc.intake_address->str(), "acct-2@intake.example.net");
}

TEST_F(ExampleTest, PolicyCustomAddressKeepsTheComment) {
  ConfigEditor editor = Load();
  ASSERT_TRUE(editor.SetPolicyTdc("Sales", Custom("sales@intake.example.net")).ok());
  EXPECT_EQ(editor.text(),
            Replace(original_, "    threat_defense_connector: default     # default",
                    "    threat_defense_connector: {intake_address: sales@intake.example.net}"
                    "     # default"));
  auto config = Reparsed(editor);
  const Policy* sales = config->FindPolicy("Sales");
  ASSERT_NE(sales, nullptr);
  EXPECT_EQ(sales->tdc.mode, PolicyTdcMode::kCustom);
  EXPECT_EQ(config->JournalAddress(*sales)->str(), "sales@intake.example.net");
  // Custom to another custom address: only the address moves.
  ASSERT_TRUE(editor.SetPolicyTdc("Sales", Custom("s2@intake.example.net")).ok());
  EXPECT_EQ(editor.text(),
            Replace(original_, "    threat_defense_connector: default     # default",
                    "    threat_defense_connector: {intake_address: s2@intake.example.net}"
                    "     # default"));
}

TEST_F(ExampleTest, DefaultPolicyOff) {
  ConfigEditor editor = Load();
  ASSERT_TRUE(editor.SetPolicyTdc("DEFAULT", Mode(PolicyTdcMode::kOff)).ok());
  EXPECT_EQ(editor.text(), Replace(original_, "threat_defense_connector: global      #",
                                   "threat_defense_connector: off      #"));
  auto config = Reparsed(editor);
  EXPECT_FALSE(config->JournalAddress(config->DefaultPolicy()).has_value());
  // Sales says "(use default)", so it follows DEFAULT.
  EXPECT_FALSE(config->JournalAddress(*config->FindPolicy("Sales")).has_value());
}

TEST_F(ExampleTest, AddPolicyBeforeDefaultInTheFilesIndentation) {
  ConfigEditor editor = Load();
  PolicySpec legal{
      "Legal", {"@legal.example.com"}, {"counsel@example.org"}, Mode(PolicyTdcMode::kOff)};
  ASSERT_TRUE(editor.AddPolicy(legal, 1).ok());
  EXPECT_EQ(editor.text(), Replace(original_, "  - name: DEFAULT\n",
                                   "  - name: Legal\n"
                                   "    recipients: [\"@legal.example.com\"]\n"
                                   "    senders: [\"counsel@example.org\"]\n"
                                   "    threat_defense_connector: off\n"
                                   "  - name: DEFAULT\n"));
  auto config = Reparsed(editor);
  EXPECT_EQ(Names(*config), (std::vector<std::string>{"Sales", "Legal", "DEFAULT"}));
  EXPECT_EQ(config->policies[1].recipients, std::vector<std::string>{"@legal.example.com"});
  EXPECT_EQ(config->policies[1].senders, std::vector<std::string>{"counsel@example.org"});
  EXPECT_EQ(config->policies[1].tdc.mode, PolicyTdcMode::kOff);
}

TEST_F(ExampleTest, AddMoveDeleteRoundTrip) {
  ConfigEditor editor = Load();
  ASSERT_TRUE(
      editor.AddPolicy({"Ops", {"ops@example.com"}, {}, Mode(PolicyTdcMode::kGlobal)}, 0).ok());
  EXPECT_EQ(Names(*editor.config()), (std::vector<std::string>{"Ops", "Sales", "DEFAULT"}));
  EXPECT_EQ(editor.text(), Replace(original_, "  - name: Sales\n",
                                   "  - name: Ops\n"
                                   "    recipients: [\"ops@example.com\"]\n"
                                   "    threat_defense_connector: global\n"
                                   "  - name: Sales\n"));
  ASSERT_TRUE(editor.MovePolicy("Ops", 1).ok());
  EXPECT_EQ(Names(*Reparsed(editor)), (std::vector<std::string>{"Sales", "Ops", "DEFAULT"}));
  EXPECT_EQ(editor.text(), Replace(original_, "  - name: DEFAULT\n",
                                   "  - name: Ops\n"
                                   "    recipients: [\"ops@example.com\"]\n"
                                   "    threat_defense_connector: global\n"
                                   "  - name: DEFAULT\n"));
  ASSERT_TRUE(editor.DeletePolicy("Ops").ok());
  EXPECT_EQ(editor.text(), original_);
}

TEST_F(ExampleTest, UpdateSalesChangesOnlyWhatChanged) {
  ConfigEditor editor = Load();
  PolicySpec spec{"Sales",
                  {"@sales.example.com", "ceo@example.com"},
                  {"@partner.example"},
                  Mode(PolicyTdcMode::kDefault)};
  ASSERT_TRUE(editor.UpdatePolicy("Sales", spec).ok());
  EXPECT_EQ(editor.text(), Replace(original_, "    senders: []                     # empty = any",
                                   "    senders: [\"@partner.example\"]                     "
                                   "# empty = any"));
  EXPECT_EQ(Reparsed(editor)->policies[0].senders, std::vector<std::string>{"@partner.example"});
  // The same spec again: nothing to change.
  const std::string before = editor.text();
  ASSERT_TRUE(editor.UpdatePolicy("Sales", spec).ok());
  EXPECT_EQ(editor.text(), before);
}

TEST_F(ExampleTest, CommitWritesAtomicallyAndKeepsPrevious) {
  ConfigEditor editor = Load();
  ASSERT_TRUE(editor.SetTdcEnabled(false).ok());
  ASSERT_TRUE(editor.SetPolicyTdc("Sales", Custom("sales@intake.example.net")).ok());
  ASSERT_TRUE(editor.Commit().ok());
  EXPECT_EQ(ReadFile(path_), editor.text());
  EXPECT_EQ(ReadFile(path_ + ".prev"), original_);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
  EXPECT_FALSE(std::filesystem::exists(path_ + ".prev.tmp"));
  auto loaded = LoadGatewayConfig(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_FALSE((*loaded)->tdc.enabled);
  EXPECT_EQ((*loaded)->FindPolicy("Sales")->tdc.intake_address->str(), "sales@intake.example.net");
  // A second commit from the same editor: .prev is now the first commit's text.
  const std::string first = editor.text();
  ASSERT_TRUE(editor.SetTdcEnabled(true).ok());
  ASSERT_TRUE(editor.Commit().ok());
  EXPECT_EQ(ReadFile(path_ + ".prev"), first);
  EXPECT_EQ(ReadFile(path_), editor.text());
}

// ---- Hand-written variants ----

// Comments at ends of lines, a quoted address, a block list, a block-mapping TDC, blank lines.
const std::string kBlock =
    "# tidegate test config\n"
    "hostname: gw.example.com   # greeting\n"
    "data_dir: /var/lib/tidegate\n"
    "listeners:\n"
    "  - name: In\n"
    "    bind: 127.0.0.1:0\n"
    "accepted_domains: [example.com]\n"
    "threat_defense_connector:\n"
    "  enabled: false            # off for now\n"
    "  intake_address: 'tdc@intake.example.net'   # quoted\n"
    "  service_name: \"Secure Email Threat Defense\"\n"
    "incoming_mail_policies:\n"
    "  # Sales first\n"
    "  - name: Sales\n"
    "    recipients: [\"@sales.example.com\"]  # the sales team\n"
    "    threat_defense_connector: off\n"
    "\n"
    "  - name: Legal\n"
    "    senders:\n"
    "      - \"@law.example\"   # outside counsel\n"
    "    threat_defense_connector:\n"
    "      intake_address: legal@intake.example.net\n"
    "  - name: DEFAULT\n"
    "    threat_defense_connector: global  # all others\n"
    "# trailing comment\n";

class VariantTest : public ::testing::Test {
 protected:
  ConfigEditor LoadText(const std::string& text) {
    path_ = dir_.Write("gateway.yaml", text);
    auto editor = ConfigEditor::Load(path_);
    EXPECT_TRUE(editor.ok()) << (editor.ok() ? "" : editor.error().message);
    return std::move(editor).value();
  }

  TempDir dir_;
  std::string path_;
};

TEST_F(VariantTest, EnableKeepsTheEndOfLineComment) {
  ConfigEditor editor = LoadText(kBlock);
  ASSERT_TRUE(editor.SetTdcEnabled(true).ok());
  EXPECT_EQ(editor.text(), Replace(kBlock, "  enabled: false            # off for now\n",
                                   "  enabled: true            # off for now\n"));
  EXPECT_TRUE(Reparsed(editor)->tdc.enabled);
}

TEST_F(VariantTest, QuotedAddressStaysQuoted) {
  ConfigEditor editor = LoadText(kBlock);
  ASSERT_TRUE(editor.SetTdcIntakeAddress("o'brien@intake.example.net").ok());
  EXPECT_EQ(editor.text(),
            Replace(kBlock, "'tdc@intake.example.net'", "'o''brien@intake.example.net'"));
  EXPECT_EQ(Reparsed(editor)->tdc.intake_address->str(), "o'brien@intake.example.net");
}

TEST_F(VariantTest, BlockMappingCustomAddressChangesInPlace) {
  ConfigEditor editor = LoadText(kBlock);
  ASSERT_TRUE(editor.SetPolicyTdc("Legal", Custom("legal2@intake.example.net")).ok());
  EXPECT_EQ(editor.text(), Replace(kBlock, "intake_address: legal@intake.example.net",
                                   "intake_address: legal2@intake.example.net"));
}

TEST_F(VariantTest, BlockMappingCustomToOffRemovesItsLines) {
  ConfigEditor editor = LoadText(kBlock);
  ASSERT_TRUE(editor.SetPolicyTdc("Legal", Mode(PolicyTdcMode::kOff)).ok());
  EXPECT_EQ(editor.text(), Replace(kBlock,
                                   "    threat_defense_connector:\n"
                                   "      intake_address: legal@intake.example.net\n",
                                   "    threat_defense_connector: off\n"));
  EXPECT_EQ(Reparsed(editor)->FindPolicy("Legal")->tdc.mode, PolicyTdcMode::kOff);
}

TEST_F(VariantTest, ScalarToCustomBecomesAFlowMapping) {
  ConfigEditor editor = LoadText(kBlock);
  ASSERT_TRUE(editor.SetPolicyTdc("Sales", Custom("\"odd one\"@intake.example.net")).ok());
  EXPECT_EQ(editor.text(), Replace(kBlock, "    threat_defense_connector: off\n\n",
                                   "    threat_defense_connector: {intake_address: "
                                   "\"\\\"odd one\\\"@intake.example.net\"}\n\n"));
  EXPECT_EQ(Reparsed(editor)->FindPolicy("Sales")->tdc.intake_address->str(),
            "\"odd one\"@intake.example.net");
}

TEST_F(VariantTest, UpdateRenamesAddsRecipientsAndKeepsBlockListStyle) {
  ConfigEditor editor = LoadText(kBlock);
  PolicySpec spec{"Compliance",
                  {"audit@example.com"},
                  {"@law.example", "@court.example"},
                  Custom("legal@intake.example.net")};
  ASSERT_TRUE(editor.UpdatePolicy("Legal", spec).ok());
  EXPECT_EQ(editor.text(), Replace(kBlock,
                                   "  - name: Legal\n"
                                   "    senders:\n"
                                   "      - \"@law.example\"   # outside counsel\n",
                                   "  - name: Compliance\n"
                                   "    recipients: [\"audit@example.com\"]\n"
                                   "    senders:\n"
                                   "      - \"@law.example\"\n"
                                   "      - \"@court.example\"\n"));
  auto config = Reparsed(editor);
  EXPECT_EQ(Names(*config), (std::vector<std::string>{"Sales", "Compliance", "DEFAULT"}));
  EXPECT_EQ(config->policies[1].recipients, std::vector<std::string>{"audit@example.com"});
  EXPECT_EQ(config->policies[1].senders,
            (std::vector<std::string>{"@law.example", "@court.example"}));
  EXPECT_EQ(config->policies[1].tdc.intake_address->str(), "legal@intake.example.net");
}

TEST_F(VariantTest, DeleteTakesTheAttachedCommentAndBlankLine) {
  ConfigEditor editor = LoadText(kBlock);
  ASSERT_TRUE(editor.DeletePolicy("Sales").ok());
  EXPECT_EQ(editor.text(), Replace(kBlock,
                                   "  # Sales first\n"
                                   "  - name: Sales\n"
                                   "    recipients: [\"@sales.example.com\"]  # the sales team\n"
                                   "    threat_defense_connector: off\n"
                                   "\n",
                                   ""));
  EXPECT_EQ(Names(*Reparsed(editor)), (std::vector<std::string>{"Legal", "DEFAULT"}));
}

TEST_F(VariantTest, MoveUpCarriesTheWholePolicy) {
  ConfigEditor editor = LoadText(kBlock);
  ASSERT_TRUE(editor.MovePolicy("Legal", 0).ok());
  const std::string legal =
      "  - name: Legal\n"
      "    senders:\n"
      "      - \"@law.example\"   # outside counsel\n"
      "    threat_defense_connector:\n"
      "      intake_address: legal@intake.example.net\n";
  EXPECT_EQ(editor.text(),
            Replace(Replace(kBlock, legal, ""), "  # Sales first\n", legal + "  # Sales first\n"));
  EXPECT_EQ(Names(*Reparsed(editor)), (std::vector<std::string>{"Legal", "Sales", "DEFAULT"}));
  // And back down: the original text again.
  ASSERT_TRUE(editor.MovePolicy("Legal", 1).ok());
  EXPECT_EQ(Names(*editor.config()), (std::vector<std::string>{"Sales", "Legal", "DEFAULT"}));
}

const std::string kFlow =
    "hostname: gw.example.com\n"
    "data_dir: /var/lib/tidegate\n"
    "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
    "accepted_domains: [example.com]\n"
    "threat_defense_connector: {intake_address: \"tdc@intake.example.net\"}  # flow\n"
    "incoming_mail_policies: [{name: Sales, recipients: [\"@sales.example.com\"]}, "
    "{name: DEFAULT}]\n";

TEST_F(VariantTest, FlowSectionGetsEnabledInsideTheBraces) {
  ConfigEditor editor = LoadText(kFlow);
  ASSERT_TRUE(editor.SetTdcEnabled(true).ok());
  const std::string enabled =
      Replace(kFlow, "{intake_address: \"tdc", "{enabled: true, intake_address: \"tdc");
  EXPECT_EQ(editor.text(), enabled);
  EXPECT_TRUE(Reparsed(editor)->tdc.enabled);
  ASSERT_TRUE(editor.SetTdcIntakeAddress("new@intake.example.net").ok());
  EXPECT_EQ(editor.text(),
            Replace(enabled, "\"tdc@intake.example.net\"", "\"new@intake.example.net\""));
  ASSERT_TRUE(editor.SetTdcEnabled(false).ok());
  EXPECT_EQ(editor.text(), Replace(kFlow, "{intake_address: \"tdc@intake.example.net\"}",
                                   "{enabled: false, intake_address: \"new@intake.example.net\"}"));
}

TEST_F(VariantTest, FlowPolicyListEdits) {
  ConfigEditor editor = LoadText(kFlow);
  ASSERT_TRUE(editor.SetPolicyTdc("DEFAULT", Mode(PolicyTdcMode::kOff)).ok());
  EXPECT_EQ(editor.text(),
            Replace(kFlow, "{name: DEFAULT}", "{name: DEFAULT, threat_defense_connector: off}"));
  ASSERT_TRUE(
      editor.AddPolicy({"Ops", {}, {"ops@example.com"}, Mode(PolicyTdcMode::kGlobal)}, 0).ok());
  ASSERT_TRUE(editor.MovePolicy("Sales", 0).ok());
  EXPECT_EQ(editor.text(),
            Replace(kFlow, "[{name: Sales, recipients: [\"@sales.example.com\"]}, {name: DEFAULT}]",
                    "[{name: Sales, recipients: [\"@sales.example.com\"]}, {name: Ops, senders: "
                    "[\"ops@example.com\"], threat_defense_connector: global}, "
                    "{name: DEFAULT, threat_defense_connector: off}]"));
  EXPECT_EQ(Names(*Reparsed(editor)), (std::vector<std::string>{"Sales", "Ops", "DEFAULT"}));
  ASSERT_TRUE(editor.DeletePolicy("Ops").ok());
  ASSERT_TRUE(editor.SetPolicyTdc("DEFAULT", Mode(PolicyTdcMode::kGlobal)).ok());
  EXPECT_EQ(editor.text(),
            Replace(kFlow, "{name: DEFAULT}", "{name: DEFAULT, threat_defense_connector: global}"));
}

// No threat_defense_connector section at all; DEFAULT without a TDC key; 4-space indentation.
const std::string kFourSpaces =
    "hostname: gw.example.com\n"
    "data_dir: /var/lib/tidegate\n"
    "listeners:\n"
    "    - name: In\n"
    "      bind: 127.0.0.1:0\n"
    "accepted_domains: [example.com]\n"
    "delivery:\n"
    "    tls: preferred\n"
    "# The policies, top-down.\n"
    "incoming_mail_policies:\n"
    "    - name: DEFAULT\n"
    "log: {mail_log: mail.current}\n";

TEST_F(VariantTest, MissingSectionIsAddedBeforePoliciesInTheDocumentsIndentation) {
  ConfigEditor editor = LoadText(kFourSpaces);
  EXPECT_FALSE(editor.SetTdcEnabled(true).ok());
  EXPECT_EQ(editor.text(), kFourSpaces);
  ASSERT_TRUE(editor.SetTdcEnabled(false).ok());  // already off: nothing to write
  EXPECT_EQ(editor.text(), kFourSpaces);
  ASSERT_TRUE(editor.SetTdcIntakeAddress("tdc@intake.example.net").ok());
  ASSERT_TRUE(editor.SetTdcEnabled(true).ok());
  EXPECT_EQ(editor.text(), Replace(kFourSpaces, "# The policies, top-down.\n",
                                   "threat_defense_connector:\n"
                                   "    enabled: true\n"
                                   "    intake_address: tdc@intake.example.net\n"
                                   "# The policies, top-down.\n"));
  auto config = Reparsed(editor);
  EXPECT_TRUE(config->tdc.enabled);
  EXPECT_EQ(config->JournalAddress(config->DefaultPolicy())->str(), "tdc@intake.example.net");
}

TEST_F(VariantTest, FourSpacePolicyAddedAndTdcKeyAppended) {
  ConfigEditor editor = LoadText(kFourSpaces);
  ASSERT_TRUE(
      editor.AddPolicy({"Sales", {"@sales.example.com"}, {}, Mode(PolicyTdcMode::kOff)}, 0).ok());
  ASSERT_TRUE(editor.SetPolicyTdc("DEFAULT", Mode(PolicyTdcMode::kOff)).ok());
  EXPECT_EQ(editor.text(), Replace(kFourSpaces, "    - name: DEFAULT\n",
                                   "    - name: Sales\n"
                                   "      recipients: [\"@sales.example.com\"]\n"
                                   "      threat_defense_connector: off\n"
                                   "    - name: DEFAULT\n"
                                   "      threat_defense_connector: off\n"));
  EXPECT_EQ(Reparsed(editor)->DefaultPolicy().tdc.mode, PolicyTdcMode::kOff);
}

TEST_F(VariantTest, CrlfLineEndingsAreKeptInInsertedLines) {
  std::string crlf;
  for (char c : kFourSpaces) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  ConfigEditor editor = LoadText(crlf);
  ASSERT_TRUE(editor.SetTdcIntakeAddress("tdc@intake.example.net").ok());
  ASSERT_TRUE(
      editor.AddPolicy({"Sales", {"@sales.example.com"}, {}, Mode(PolicyTdcMode::kOff)}, 0).ok());
  ASSERT_TRUE(editor.SetPolicyTdc("Sales", Custom("s@intake.example.net")).ok());
  EXPECT_EQ(editor.text(),
            Replace(Replace(crlf, "# The policies",
                            "threat_defense_connector:\r\n"
                            "    intake_address: tdc@intake.example.net\r\n"
                            "# The policies"),
                    "    - name: DEFAULT\r\n",
                    "    - name: Sales\r\n"
                    "      recipients: [\"@sales.example.com\"]\r\n"
                    "      threat_defense_connector: {intake_address: s@intake.example.net}\r\n"
                    "    - name: DEFAULT\r\n"));
  auto config = Reparsed(editor);
  EXPECT_EQ(config->FindPolicy("Sales")->tdc.intake_address->str(), "s@intake.example.net");
}

TEST_F(VariantTest, NoTrailingNewlineAndBlockListBeforeTheInsertedKey) {
  const std::string text =
      "hostname: gw.example.com\n"
      "data_dir: /var/lib/tidegate\n"
      "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
      "accepted_domains: [example.com]\n"
      "incoming_mail_policies:\n"
      "- name: Ops\n"
      "  recipients:\n"
      "  - ops@example.com   # on call\n"
      "  - noc@example.com\n"
      "- name: DEFAULT";
  ConfigEditor editor = LoadText(text);
  ASSERT_TRUE(editor.SetPolicyTdc("Ops", Mode(PolicyTdcMode::kOff)).ok());
  ASSERT_TRUE(editor.SetPolicyTdc("DEFAULT", Mode(PolicyTdcMode::kOff)).ok());
  EXPECT_EQ(editor.text(),
            Replace(text + "\n  threat_defense_connector: off\n", "  - noc@example.com\n",
                    "  - noc@example.com\n  threat_defense_connector: off\n"));
  auto config = Reparsed(editor);
  EXPECT_EQ(config->FindPolicy("Ops")->tdc.mode, PolicyTdcMode::kOff);
  EXPECT_EQ(config->FindPolicy("Ops")->recipients,
            (std::vector<std::string>{"ops@example.com", "noc@example.com"}));
}

TEST_F(VariantTest, BlockScalarsAreMeasured) {
  const std::string text =
      "hostname: gw.example.com\n"
      "data_dir: /var/lib/tidegate\n"
      "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
      "accepted_domains: [example.com]\n"
      "threat_defense_connector:\n"
      "  service_name: >-\n"
      "    Secure Email\n"
      "    Threat Defense\n"
      "\n"
      "incoming_mail_policies:\n"
      "  - name: >-\n"
      "      DEFAULT\n"
      "\n"
      "log: {mail_log: mail.current}\n";
  ConfigEditor editor = LoadText(text);
  ASSERT_TRUE(editor.SetTdcIntakeAddress("tdc@intake.example.net").ok());
  ASSERT_TRUE(editor.SetPolicyTdc("DEFAULT", Mode(PolicyTdcMode::kOff)).ok());
  EXPECT_EQ(editor.text(),
            Replace(Replace(text, "  service_name: >-\n",
                            "  intake_address: tdc@intake.example.net\n"
                            "  service_name: >-\n"),
                    "      DEFAULT\n", "      DEFAULT\n    threat_defense_connector: off\n"));
  auto config = Reparsed(editor);
  EXPECT_EQ(config->tdc.service_name, "Secure Email Threat Defense");
  EXPECT_EQ(config->DefaultPolicy().tdc.mode, PolicyTdcMode::kOff);
}

TEST_F(VariantTest, KeysAddedTogetherKeepTheSchemaOrder) {
  const std::string text =
      "hostname: gw.example.com\n"
      "data_dir: /var/lib/tidegate\n"
      "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
      "accepted_domains: [example.com]\n"
      "incoming_mail_policies:\n"
      "  - name: Ops\n"
      "    recipients: [ops@example.com]   # pager\n"
      "  - name: DEFAULT\n";
  ConfigEditor editor = LoadText(text);
  ASSERT_TRUE(
      editor
          .UpdatePolicy("Ops",
                        {"Ops", {"ops@example.com"}, {"@corp.example"}, Mode(PolicyTdcMode::kOff)})
          .ok());
  EXPECT_EQ(editor.text(), Replace(text, "# pager\n",
                                   "# pager\n"
                                   "    senders: [\"@corp.example\"]\n"
                                   "    threat_defense_connector: off\n"));
  // Clearing the senders again keeps the key, as an explicit empty list.
  ASSERT_TRUE(
      editor.UpdatePolicy("Ops", {"Ops", {"ops@example.com"}, {}, Mode(PolicyTdcMode::kOff)}).ok());
  EXPECT_EQ(editor.text(), Replace(text, "# pager\n",
                                   "# pager\n"
                                   "    senders: []\n"
                                   "    threat_defense_connector: off\n"));
  EXPECT_TRUE(Reparsed(editor)->FindPolicy("Ops")->senders.empty());
}

// ---- Refused edits change nothing ----

// ---- anti_spam / anti_virus of a policy ----

const std::string kScan =
    "hostname: gw.example.com\n"
    "data_dir: /var/lib/tidegate\n"
    "listeners:\n"
    "  - name: In\n"
    "    bind: 127.0.0.1:0\n"
    "accepted_domains: [example.com]\n"
    "anti_spam: {url: 'http://127.0.0.1:11333'}\n"
    "anti_virus: {address: '127.0.0.1:3310'}\n"
    "incoming_mail_policies:\n"
    "  - name: Sales\n"
    "    recipients: [\"@sales.example.com\"]\n"
    "    threat_defense_connector: off   # no copies\n"
    "  - name: Legal\n"
    "    recipients: [\"@legal.example.com\"]\n"
    "    anti_spam:\n"
    "      positive: drop\n"
    "      suspect: tag\n"
    "    anti_virus: off  # counsel's own scanner\n"
    "  - name: DEFAULT\n"
    "    threat_defense_connector: global\n";

PolicyAntiSpam SpamOn(ScanAction positive, ScanAction suspect, std::string tag) {
  PolicyAntiSpam s{PolicyScanMode::kOn, {}};
  s.settings.enabled = true;
  s.settings.positive = positive;
  s.settings.suspect = suspect;
  s.settings.subject_tag = std::move(tag);
  return s;
}

TEST_F(VariantTest, AntiSpamInsertedBeforeTheTdcKeyAsOneFlowMapping) {
  ConfigEditor editor = LoadText(kScan);
  ASSERT_TRUE(
      editor.SetPolicyAntiSpam("Sales", SpamOn(ScanAction::kTag, ScanAction::kDeliver, "[SPAM]"))
          .ok());
  EXPECT_EQ(editor.text(),
            Replace(kScan, "    threat_defense_connector: off   # no copies\n",
                    "    anti_spam: {positive: tag, suspect: deliver, subject_tag: \"[SPAM]\"}\n"
                    "    threat_defense_connector: off   # no copies\n"));
  auto config = Reparsed(editor);
  const AntiSpamSettings s = config->AntiSpamFor(*config->FindPolicy("Sales"));
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.positive, ScanAction::kTag);
  EXPECT_EQ(s.suspect, ScanAction::kDeliver);
  EXPECT_EQ(s.subject_tag, "[SPAM]");
  // anti_virus goes between anti_spam and the TDC key.
  ASSERT_TRUE(editor.SetPolicyAntiVirus("Sales", {PolicyScanMode::kOff, {}}).ok());
  EXPECT_NE(editor.text().find("subject_tag: \"[SPAM]\"}\n    anti_virus: off\n"
                               "    threat_defense_connector: off"),
            std::string::npos)
      << editor.text();
  EXPECT_FALSE(Reparsed(editor)->AntiVirusFor(*editor.config()->FindPolicy("Sales")).enabled);
}

TEST_F(VariantTest, AntiSpamBlockMappingReplacedAndBackToDefault) {
  ConfigEditor editor = LoadText(kScan);
  ASSERT_TRUE(editor.SetPolicyAntiSpam("Legal", {PolicyScanMode::kOff, {}}).ok());
  EXPECT_EQ(editor.text(), Replace(kScan,
                                   "    anti_spam:\n"
                                   "      positive: drop\n"
                                   "      suspect: tag\n",
                                   "    anti_spam: off\n"));
  EXPECT_FALSE(Reparsed(editor)->AntiSpamFor(*editor.config()->FindPolicy("Legal")).enabled);
  ASSERT_TRUE(editor.SetPolicyAntiSpam("Legal", {PolicyScanMode::kDefault, {}}).ok());
  EXPECT_EQ(editor.config()->FindPolicy("Legal")->anti_spam.mode, PolicyScanMode::kDefault);
  // DEFAULT has no key, i.e. on with the default actions: Legal follows it.
  EXPECT_TRUE(Reparsed(editor)->AntiSpamFor(*editor.config()->FindPolicy("Legal")).enabled);
  // The comment on the anti_virus line stays when its value changes.
  PolicyAntiVirus av{PolicyScanMode::kOn, {}};
  av.settings.infected = ScanAction::kQuarantine;
  av.settings.unscannable = ScanAction::kDeliver;
  av.settings.subject_tag = "[AV]";
  ASSERT_TRUE(editor.SetPolicyAntiVirus("Legal", av).ok());
  EXPECT_NE(editor.text().find("    anti_virus: {infected: quarantine, unscannable: deliver, "
                               "subject_tag: \"[AV]\"}  # counsel's own scanner\n"),
            std::string::npos)
      << editor.text();
  const AntiVirusSettings s = Reparsed(editor)->AntiVirusFor(*editor.config()->FindPolicy("Legal"));
  EXPECT_EQ(s.infected, ScanAction::kQuarantine);
  EXPECT_EQ(s.unscannable, ScanAction::kDeliver);
  // Setting the same again changes nothing.
  const std::string before = editor.text();
  ASSERT_TRUE(editor.SetPolicyAntiVirus("Legal", av).ok());
  EXPECT_EQ(editor.text(), before);
}

TEST_F(VariantTest, AntiSpamOnDefaultAppendsAndQuotesTheTag) {
  ConfigEditor editor = LoadText(kScan);
  ASSERT_TRUE(editor
                  .SetPolicyAntiSpam("DEFAULT", SpamOn(ScanAction::kQuarantine, ScanAction::kTag,
                                                       "\"quoted\" # not a comment"))
                  .ok());
  EXPECT_EQ(Reparsed(editor)->DefaultPolicy().anti_spam.settings.subject_tag,
            "\"quoted\" # not a comment");
  EXPECT_EQ(editor.config()->DefaultPolicy().anti_spam.mode, PolicyScanMode::kOn);
}

TEST_F(VariantTest, InvalidScanSettingsChangeNothing) {
  ConfigEditor editor = LoadText(kScan);
  auto refused = [&](base::Status s, std::string_view needle) {
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find(needle), std::string::npos) << s.error().message;
    EXPECT_EQ(editor.text(), kScan);
  };
  refused(editor.SetPolicyAntiSpam("DEFAULT", {PolicyScanMode::kDefault, {}}), "DEFAULT");
  refused(editor.SetPolicyAntiVirus("DEFAULT", {PolicyScanMode::kDefault, {}}), "DEFAULT");
  refused(editor.SetPolicyAntiSpam("Nope", {PolicyScanMode::kOff, {}}), "Nope");
  refused(editor.SetPolicyAntiSpam(
              "Sales", SpamOn(ScanAction::kTag, ScanAction::kTag, std::string(101, 'x'))),
          "100");
  refused(editor.SetPolicyAntiSpam("Sales", SpamOn(ScanAction::kTag, ScanAction::kTag, "a\nb")),
          "control");
  // Without the global engine section, "on" is refused; off is fine.
  ConfigEditor bare = LoadText(Replace(kScan, "anti_virus: {address: '127.0.0.1:3310'}\n", ""));
  const std::string bare_text = bare.text();
  base::Status s = bare.SetPolicyAntiVirus("Sales", {PolicyScanMode::kOn, {}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("no global anti_virus engine"), std::string::npos);
  EXPECT_EQ(bare.text(), bare_text);
  EXPECT_TRUE(bare.SetPolicyAntiVirus("Sales", {PolicyScanMode::kOff, {}}).ok());
}

TEST_F(VariantTest, ScanSettingsInAFlowPolicyList) {
  ConfigEditor editor =
      LoadText(kScan.substr(0, kScan.find("incoming_mail_policies:")) +
               "incoming_mail_policies: [{name: Sales, recipients: [\"@sales.example.com\"]}, "
               "{name: DEFAULT, anti_spam: off}]\n");
  ASSERT_TRUE(editor.SetPolicyAntiVirus("Sales", {PolicyScanMode::kOff, {}}).ok());
  ASSERT_TRUE(
      editor.SetPolicyAntiSpam("DEFAULT", SpamOn(ScanAction::kDrop, ScanAction::kTag, "[S]")).ok());
  EXPECT_NE(editor.text().find("{name: Sales, recipients: [\"@sales.example.com\"], "
                               "anti_virus: off}"),
            std::string::npos)
      << editor.text();
  EXPECT_NE(editor.text().find("{name: DEFAULT, anti_spam: {positive: drop, suspect: tag, "
                               "subject_tag: \"[S]\"}}"),
            std::string::npos)
      << editor.text();
  EXPECT_TRUE(Reparsed(editor)->AntiSpamFor(editor.config()->DefaultPolicy()).enabled);
}

TEST_F(VariantTest, InvalidEditsChangeNothing) {
  ConfigEditor editor = LoadText(kBlock);
  auto refused = [&](const base::Status& status, const std::string& needle) {
    ASSERT_FALSE(status.ok()) << needle;
    EXPECT_NE(status.error().message.find(needle), std::string::npos) << status.error().message;
    EXPECT_EQ(editor.text(), kBlock);
    EXPECT_EQ(editor.config()->policies.size(), 3u);
  };
  refused(editor.SetTdcIntakeAddress("not-an-address"), "invalid Message Intake Address");
  refused(editor.SetTdcIntakeAddress("tdc@[127.0.0.1]"), "domain name");
  refused(editor.SetTdcIntakeAddress("tdc@10.0.0.1"), "domain name");
  refused(editor.SetPolicyTdc("DEFAULT", Mode(PolicyTdcMode::kDefault)), "DEFAULT");
  refused(editor.SetPolicyTdc("Sales", PolicyTdc{PolicyTdcMode::kCustom, std::nullopt}),
          "required");
  refused(editor.SetPolicyTdc("Nobody", Mode(PolicyTdcMode::kOff)), "no incoming mail policy");
  refused(editor.DeletePolicy("DEFAULT"), "cannot be deleted");
  refused(editor.MovePolicy("DEFAULT", 0), "cannot move");
  refused(editor.MovePolicy("Sales", 2), "not before DEFAULT");
  refused(editor.AddPolicy({"sales", {"a@example.com"}, {}, {}}, 0), "already exists");
  refused(editor.AddPolicy({"New", {"a@example.com"}, {}, {}}, 3), "after DEFAULT");
  refused(editor.AddPolicy({"Default", {"a@example.com"}, {}, {}}, 0), "reserved");
  refused(editor.AddPolicy({"has space", {"a@example.com"}, {}, {}}, 0), "invalid policy name");
  refused(editor.AddPolicy({"Empty", {}, {}, {}}, 0), "at least one");
  refused(editor.UpdatePolicy("DEFAULT", {"Other", {}, {}, Mode(PolicyTdcMode::kOff)}),
          "cannot be renamed");
  refused(
      editor.UpdatePolicy("DEFAULT", {"DEFAULT", {"a@b.example"}, {}, Mode(PolicyTdcMode::kOff)}),
      "takes no recipients");
  refused(editor.UpdatePolicy("Sales", {"Legal", {"a@example.com"}, {}, {}}), "already exists");
}

TEST_F(VariantTest, LoaderRejectionIsReportedWithoutFileLocations) {
  ConfigEditor editor = LoadText(kBlock);
  // Only the loader knows pattern syntax: the edit is refused by validating the result.
  auto status = editor.AddPolicy({"Bad", {"no-at-sign"}, {}, {}}, 0);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("invalid pattern 'no-at-sign'"), std::string::npos)
      << status.error().message;
  EXPECT_EQ(status.error().message.find(path_), std::string::npos) << status.error().message;
  EXPECT_EQ(editor.text(), kBlock);
}

TEST_F(VariantTest, LoadRefusesAnInvalidFile) {
  path_ = dir_.Write("gateway.yaml", Replace(kBlock, "global  # all", "sometimes  # all"));
  auto editor = ConfigEditor::Load(path_);
  ASSERT_FALSE(editor.ok());
  EXPECT_NE(editor.error().message.find(path_ + ":24: "), std::string::npos)
      << editor.error().message;
  EXPECT_FALSE(ConfigEditor::Load(dir_ / "missing.yaml").ok());
}

TEST_F(VariantTest, AnchorsAndAliasesAreNeverEditedThroughTheWrongText) {
  // yaml-cpp places an alias at its anchor; editing "Support" there would change "Sales".
  const std::string text =
      "hostname: gw.example.com\n"
      "data_dir: /var/lib/tidegate\n"
      "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
      "accepted_domains: [example.com]\n"
      "incoming_mail_policies:\n"
      "  - name: Sales\n"
      "    recipients: &team [\"@sales.example.com\"]\n"
      "  - name: Support\n"
      "    recipients: *team\n"
      "  - name: DEFAULT\n";
  ConfigEditor editor = LoadText(text);
  EXPECT_FALSE(editor.UpdatePolicy("Support", {"Support", {"@support.example.com"}, {}, {}}).ok());
  EXPECT_FALSE(editor.UpdatePolicy("Sales", {"Sales", {"@s2.example.com"}, {}, {}}).ok());
  auto status = editor.SetPolicyTdc("Support", Mode(PolicyTdcMode::kOff));
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("edit the file by hand"), std::string::npos);
  EXPECT_FALSE(editor.DeletePolicy("Sales").ok());  // the alias would dangle: invalid
  EXPECT_EQ(editor.text(), text);
  // What the anchor does not affect still works.
  ASSERT_TRUE(editor.SetPolicyTdc("Sales", Mode(PolicyTdcMode::kOff)).ok());
  EXPECT_EQ(editor.text(),
            Replace(text, "[\"@sales.example.com\"]\n",
                    "[\"@sales.example.com\"]\n    threat_defense_connector: off\n"));
}

// ---- Commit ----

TEST_F(VariantTest, ConcurrentModificationIsRefused) {
  ConfigEditor first = LoadText(kBlock);
  auto second = ConfigEditor::Load(path_);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(first.SetTdcEnabled(true).ok());
  ASSERT_TRUE(first.Commit().ok());
  ASSERT_TRUE(second->SetPolicyTdc("Sales", Mode(PolicyTdcMode::kGlobal)).ok());
  auto status = second->Commit();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("changed on disk"), std::string::npos);
  EXPECT_EQ(ReadFile(path_), first.text());
  EXPECT_EQ(ReadFile(path_ + ".prev"), kBlock);

  // A hand edit behind the editor's back is detected too.
  std::ofstream(path_, std::ios::app) << "# edited by hand\n";
  ASSERT_TRUE(first.SetTdcEnabled(false).ok());
  EXPECT_FALSE(first.Commit().ok());
  EXPECT_EQ(ReadFile(path_),
            Replace(kBlock, "enabled: false ", "enabled: true ") + "# edited by hand\n");
}

TEST_F(VariantTest, CommitKeepsModeAndSymlink) {
  ConfigEditor unused = LoadText(kBlock);
  ASSERT_EQ(::chmod(path_.c_str(), 0640), 0);
  const std::string link = dir_ / "link.yaml";
  std::filesystem::create_symlink(path_, link);
  auto editor = ConfigEditor::Load(link);
  ASSERT_TRUE(editor.ok());
  ASSERT_TRUE(editor->SetTdcEnabled(true).ok());
  ASSERT_TRUE(editor->Commit().ok());
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(ReadFile(path_), editor->text());
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  // Nothing changed since: committing again writes nothing and succeeds.
  ASSERT_TRUE(editor->Commit().ok());
}

// A reader polling the file while commits replace it sees the old or the new text, whole, and
// never a missing file.
TEST_F(VariantTest, ReadersNeverSeeAMixedOrMissingFile) {
  ConfigEditor editor = LoadText(kBlock);
  const std::string off = kBlock;
  const std::string on = Replace(kBlock, "enabled: false ", "enabled: true ");
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!done.load()) {
      const std::string seen = ReadFile(path_);
      if (seen != off && seen != on) bad.fetch_add(1);
      reads.fetch_add(1);
    }
  });
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(editor.SetTdcEnabled(i % 2 == 0).ok());
    ASSERT_TRUE(editor.Commit().ok());
    EXPECT_EQ(ReadFile(path_ + ".prev"), i % 2 == 0 ? off : on);
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(ReadFile(path_), off);
}

// Two processes' worth of editors committing at once: each commit either lands or is refused as
// a concurrent change; none is lost silently.
TEST_F(VariantTest, RacingCommitsNeverLoseAnUpdate) {
  ConfigEditor base = LoadText(kBlock);
  for (int round = 0; round < 10; ++round) {
    auto a = ConfigEditor::Load(path_);
    auto b = ConfigEditor::Load(path_);
    ASSERT_TRUE(a.ok() && b.ok());
    const std::string name_a = "A" + std::to_string(round);
    const std::string name_b = "B" + std::to_string(round);
    ASSERT_TRUE(a->AddPolicy({name_a, {"a@example.com"}, {}, {}}, 0).ok());
    ASSERT_TRUE(b->AddPolicy({name_b, {"b@example.com"}, {}, {}}, 0).ok());
    base::Status sa, sb;
    std::thread ta([&] { sa = a->Commit(); });
    std::thread tb([&] { sb = b->Commit(); });
    ta.join();
    tb.join();
    EXPECT_NE(sa.ok(), sb.ok()) << "exactly one of two commits from the same version lands";
    auto loaded = LoadGatewayConfig(path_);
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ((*loaded)->FindPolicy(name_a) != nullptr, sa.ok());
    EXPECT_EQ((*loaded)->FindPolicy(name_b) != nullptr, sb.ok());
  }
}

// ---- recipient_validation (CONTRACT §13) ----

const std::string kRv =
    "hostname: gw.example.com\n"
    "data_dir: /var/lib/tidegate\n"
    "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
    "accepted_domains: [example.com, example.org]\n"
    "incoming_mail_policies:\n"
    "  - name: DEFAULT\n"
    "# the end\n";

RecipientValidation RvExample(const std::string& password_file) {
  RecipientValidation rv;
  rv.always_accept = {"postmaster@", "boss@example.com"};
  rv.cache_ttl = std::chrono::minutes(5);
  rv.max_invalid_recipients_per_hour = 25;
  LdapValidation l;
  l.uris = {"ldap://127.0.0.1:389", "ldaps://dir.example.com:636"};
  l.base = "dc=example,dc=com";
  l.bind_dn = "cn=tidegate,dc=example,dc=com";
  l.password_file = password_file;
  l.password = "must-not-be-written";
  l.filter = "(uid={u})";
  l.domains = {*mail::ParseDomainPattern("example.com")};
  l.timeout = std::chrono::seconds(3);
  l.on_failure = OnLookupFailure::kAccept;
  rv.ldap = l;
  CallAheadValidation c;
  c.domains = {*mail::ParseDomainPattern("example.org")};
  c.on_failure = OnLookupFailure::kAccept;
  rv.call_ahead = c;
  return rv;
}

TEST_F(VariantTest, RecipientValidationAppendedAndReadBackTheSame) {
  const std::string secret = dir_.Write("ldap.secret", "pw-from-file\n");
  ConfigEditor editor = LoadText(kRv);
  ASSERT_TRUE(editor.SetRecipientValidation(RvExample(secret)).ok());
  // Every line that was there stays; the section follows the last entry.
  const std::string head = Replace(kRv, "# the end\n", "");
  EXPECT_TRUE(editor.text().starts_with(head + "recipient_validation: {\n")) << editor.text();
  EXPECT_TRUE(editor.text().ends_with("\n}\n# the end\n")) << editor.text();
  EXPECT_EQ(editor.text().find("must-not-be-written"), std::string::npos) << editor.text();
  EXPECT_EQ(editor.text().find("pw-from-file"), std::string::npos) << editor.text();
  auto config = Reparsed(editor);
  const RecipientValidation& rv = config->recipient_validation;
  RecipientValidation expected = RvExample(secret);
  expected.ldap->password = "pw-from-file";  // read from the file, as the loader does
  EXPECT_EQ(rv, expected);
  // The same setting again: nothing changes.
  const std::string before = editor.text();
  ASSERT_TRUE(editor.SetRecipientValidation(RvExample(secret)).ok());
  EXPECT_EQ(editor.text(), before);
}

TEST_F(VariantTest, RecipientValidationReplacesABlockSectionKeepingTheRest) {
  dir_.Write("pw", "x\n");
  const std::string text = Replace(kRv, "# the end\n",
                                   "recipient_validation:   # issue 17\n"
                                   "  always_accept: [\"abuse@\"]\n"
                                   "  call_ahead:\n"
                                   "    domains: [example.org]\n"
                                   "# the end\n");
  ConfigEditor editor = LoadText(text);
  RecipientValidation rv = editor.config()->recipient_validation;
  rv.call_ahead.reset();
  rv.max_invalid_recipients_per_hour = 10;
  ASSERT_TRUE(editor.SetRecipientValidation(rv).ok());
  EXPECT_EQ(editor.text(), Replace(kRv, "# the end\n",
                                   "recipient_validation: {\n"
                                   "  always_accept: [\"abuse@\"],\n"
                                   "  max_invalid_recipients_per_hour: 10\n"
                                   "}   # issue 17\n"
                                   "# the end\n"))
      << editor.text();
  EXPECT_EQ(Reparsed(editor)->recipient_validation, rv);
  // Everything off: an empty mapping, which loads as the defaults.
  ASSERT_TRUE(editor.SetRecipientValidation(RecipientValidation{}).ok());
  EXPECT_NE(editor.text().find("recipient_validation: {}"), std::string::npos) << editor.text();
  EXPECT_EQ(Reparsed(editor)->recipient_validation, RecipientValidation{});
}

TEST_F(VariantTest, InvalidRecipientValidationChangesNothing) {
  ConfigEditor editor = LoadText(kRv);
  auto refused = [&](const RecipientValidation& rv, std::string_view needle) {
    base::Status s = editor.SetRecipientValidation(rv);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find(needle), std::string::npos) << s.error().message;
    EXPECT_EQ(editor.text(), kRv);
  };
  RecipientValidation rv = RvExample(dir_ / "missing.secret");
  refused(rv, "cannot read password file " + dir_ / "missing.secret");
  dir_.Write("ok.secret", "pw\n");
  rv = RvExample(dir_ / "ok.secret");
  rv.ldap->filter = "(mail=*)";
  refused(rv, "recipient_validation.ldap.filter: the filter must contain {a}");
  rv = RvExample(dir_ / "ok.secret");
  rv.call_ahead->domains = {*mail::ParseDomainPattern("example.net")};
  refused(rv, "'example.net' is not an accepted domain");
  rv = RvExample(dir_ / "ok.secret");
  rv.call_ahead->domains.clear();
  refused(rv, "needs at least one domain");
  rv = RvExample(dir_ / "ok.secret");
  rv.ldap->uris = {"http://h"};
  refused(rv, "expected ldap://HOST[:PORT]");
  rv = RvExample(dir_ / "ok.secret");
  rv.always_accept = {"not an address"};
  refused(rv, "invalid entry");
  // The error of a candidate names no line of a file that was never written.
  rv.always_accept = {"x y"};
  base::Status s = editor.SetRecipientValidation(rv);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message.find(path_ + ":"), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace tidegate::config
