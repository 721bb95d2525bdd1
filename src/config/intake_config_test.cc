#include <gtest/gtest.h>

#include <filesystem>

#include "config/config.h"
#include "config/test_util.h"

namespace tidegate::config {
namespace {

using testing::TempDir;

const std::string kMinimal =
    "listen: 127.0.0.1:0\n"                         // 1
    "data_dir: /var/lib/tidegate-intake\n"          // 2
    "accounts:\n"                                   // 3
    "  - name: acme\n"                              // 4
    "    intake_address: a1@intake.example.net\n";  // 5

std::string Err(const std::string& yaml, const std::string& path = "intake.yaml") {
  auto config = ParseIntakeConfig(yaml, path);
  EXPECT_FALSE(config.ok());
  return config.ok() ? "(loaded)" : config.error().message;
}

TEST(IntakeConfig, ExampleLoads) {
  TempDir dir;
  std::filesystem::create_directories(dir / "examples");
  std::filesystem::copy_file(std::string(TIDEGATE_SOURCE_DIR) + "/examples/intake.yaml",
                             dir / "examples/intake.yaml");
  for (const char* name : {"run/tls/intake.crt", "run/tls/intake.key", "run/intake.password"}) {
    dir.Write(name, "x\n");
  }
  auto loaded = LoadIntakeConfig(dir / "examples/intake.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const IntakeConfig& c = **loaded;
  EXPECT_EQ(c.hostname, "intake.example.net");
  EXPECT_EQ(c.listen.str(), "127.0.0.1:2727");
  ASSERT_TRUE(c.tls.has_value());
  EXPECT_EQ(c.tls->certificate, dir / "run/tls/intake.crt");
  EXPECT_TRUE(c.require_tls);
  EXPECT_EQ(c.remote_ip_header, "X-IronPort-RemoteIP");
  EXPECT_EQ(c.data_dir, dir / "run/intake");
  EXPECT_EQ(c.console.bind.str(), "127.0.0.1:8081");
  EXPECT_EQ(c.console.password_file, dir / "run/intake.password");
  ASSERT_EQ(c.accounts.size(), 2u);
  EXPECT_EQ(c.accounts[0].name, "demo");
  EXPECT_EQ(c.accounts[1].name, "sales");
}

// The gateway example journals to the address the intake example serves, over the route the
// gateway example names: the two demo files must agree.
TEST(IntakeConfig, ExamplesAgreeOnTheIntakeAddressAndPort) {
  TempDir dir;
  std::filesystem::create_directories(dir / "examples");
  for (const char* name : {"gateway.yaml", "intake.yaml"}) {
    std::filesystem::copy_file(std::string(TIDEGATE_SOURCE_DIR) + "/examples/" + name,
                               dir / (std::string("examples/") + name));
  }
  for (const char* name :
       {"run/tls/intake.crt", "run/tls/intake.key", "run/intake.password", "run/tls/gateway.crt",
        "run/tls/gateway.key", "run/tls/ca.crt", "run/admin.password",
        "run/ldap/slapd/bind.password"}) {
    dir.Write(name, "x\n");
  }
  auto gateway = LoadGatewayConfig(dir / "examples/gateway.yaml");
  auto intake = LoadIntakeConfig(dir / "examples/intake.yaml");
  ASSERT_TRUE(gateway.ok()) << gateway.error().message;
  ASSERT_TRUE(intake.ok()) << intake.error().message;
  const mail::Address address = *(*gateway)->tdc.intake_address;
  EXPECT_NE((*intake)->FindAccountByAddress(address), nullptr);
  const auto& route = (*gateway)->smtp_routes.at(address.domain_lower());
  EXPECT_EQ(route.at(0), (*intake)->listen);
  // The Sales policy's custom intake address is the intake's second account.
  const auto* sales = (*gateway)->FindPolicy("Sales");
  ASSERT_NE(sales, nullptr);
  auto custom = (*gateway)->JournalAddress(*sales);
  ASSERT_TRUE(custom.has_value());
  const auto* account = (*intake)->FindAccountByAddress(*custom);
  ASSERT_NE(account, nullptr);
  EXPECT_EQ(account->name, "sales");
}

TEST(IntakeConfig, DefaultsApply) {
  auto c = ParseIntakeConfig(kMinimal, "intake.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->hostname, "localhost");
  EXPECT_FALSE((*c)->tls.has_value());
  EXPECT_FALSE((*c)->require_tls);
  EXPECT_EQ((*c)->remote_ip_header, "X-IronPort-RemoteIP");
  EXPECT_EQ((*c)->max_message_size, 64u << 20);
  EXPECT_EQ((*c)->console.bind.str(), "127.0.0.1:8081");
  EXPECT_EQ((*c)->console.user, "admin");
  EXPECT_EQ((*c)->console.password_file, "");
}

TEST(IntakeConfig, FindsAccountsCaseInsensitively) {
  auto c = ParseIntakeConfig(kMinimal +
                                 "  - name: beta\n"
                                 "    intake_address: B2@Intake.Example.NET\n",
                             "intake.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto address = mail::ParseMailbox("b2@intake.example.net");
  ASSERT_TRUE(address.ok());
  const IntakeAccount* account = (*c)->FindAccountByAddress(*address);
  ASSERT_NE(account, nullptr);
  EXPECT_EQ(account->name, "beta");
  EXPECT_EQ((*c)->FindAccountByName("acme"), &(*c)->accounts[0]);
  EXPECT_EQ((*c)->FindAccountByName("nobody"), nullptr);
  auto other = mail::ParseMailbox("zz@intake.example.net");
  EXPECT_EQ((*c)->FindAccountByAddress(*other), nullptr);
}

TEST(IntakeConfig, RequiredKeys) {
  EXPECT_EQ(Err("data_dir: /d\naccounts: [{name: a, intake_address: a@i.example}]\n"),
            "intake.yaml:1: listen: missing required key");
  EXPECT_EQ(Err("listen: 127.0.0.1:0\ndata_dir: /d\naccounts: []\n"),
            "intake.yaml:3: accounts: needs at least one account");
  EXPECT_EQ(Err(kMinimal + "  - name: b\n"),
            "intake.yaml:6: accounts[1].intake_address: missing required key");
  EXPECT_EQ(Err(kMinimal + "console: {user: boss}\n"),
            "intake.yaml:6: console.password_file: missing required key");
}

TEST(IntakeConfig, AccountsAreUnique) {
  EXPECT_EQ(Err(kMinimal + "  - name: acme\n    intake_address: A1@INTAKE.example.net\n"),
            "intake.yaml:6: accounts[1].name: duplicate account name 'acme'\n"
            "intake.yaml:7: accounts[1].intake_address: intake address A1@INTAKE.example.net "
            "already belongs to another account");
}

TEST(IntakeConfig, ValuesAreValidated) {
  EXPECT_EQ(Err(kMinimal + "require_tls: true\n"),
            "intake.yaml:6: require_tls: needs tls {certificate, key}");
  EXPECT_EQ(Err(kMinimal + "listn: 127.0.0.1:25\n"),
            "intake.yaml:6: listn: unknown key (did you mean 'listen'?)");
  EXPECT_EQ(Err("listen: 127.0.0.1:0\ndata_dir: /d\naccounts:\n"
                "  - {name: a, intake_address: 'a@[10.0.0.1]'}\n"),
            "intake.yaml:4: accounts[0].intake_address: invalid address 'a@[10.0.0.1]': an "
            "intake address needs a domain name, not an address literal");
  EXPECT_EQ(Err(kMinimal + "console: {bind: '127.0.0.1:8081', user: 'a:b', password_file: x}\n"),
            "intake.yaml:6: console.user: must not contain ':' or spaces\n"
            "intake.yaml:6: console.password_file: " +
                (std::filesystem::current_path() / "x").string() + ": no such file");
}

TEST(IntakeConfig, TlsFilesResolveAndMustExist) {
  TempDir dir;
  dir.Write("certs/intake.crt", "c");
  dir.Write("certs/intake.key", "k");
  auto c = ParseIntakeConfig(kMinimal +
                                 "tls: {certificate: certs/intake.crt, "
                                 "key: certs/intake.key}\nrequire_tls: true\n",
                             dir / "intake.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->tls->key, dir / "certs/intake.key");
  // TLS is required at the intake: the intermediate profile unless the operator says otherwise.
  EXPECT_EQ((*c)->tls->profile, TlsProfile::kIntermediate);
  EXPECT_EQ((*c)->tls->ciphers, "");
  EXPECT_EQ(Err(kMinimal + "tls: {certificate: certs/intake.crt}\n", dir / "intake.yaml"),
            dir / "intake.yaml" + ":6: tls.key: missing required key");
}

TEST(IntakeConfig, TlsProfileAndCiphersAreValidated) {
  TempDir dir;
  dir.Write("c.pem", "c");
  dir.Write("k.pem", "k");
  auto c = ParseIntakeConfig(
      kMinimal + "tls: {certificate: c.pem, key: k.pem, profile: opportunistic}\n",
      dir / "intake.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->tls->profile, TlsProfile::kOpportunistic);
  EXPECT_EQ(Err(kMinimal + "tls:\n  certificate: c.pem\n  key: k.pem\n  profile: modern\n"
                           "  ciphers: NOPE-CIPHER\n",
                dir / "intake.yaml"),
            dir / "intake.yaml" +
                ":9: tls.profile: unknown TLS profile 'modern' (expected opportunistic or "
                "intermediate)\n" +
                dir / "intake.yaml" +
                ":10: tls.ciphers: OpenSSL selects no TLS 1.2 cipher from 'NOPE-CIPHER' "
                "(expected a cipher string such as ECDHE+AESGCM:ECDHE+CHACHA20)");
}

// check-config tells the two kinds apart by the intake's `accounts` and the gateway's `listeners`.
TEST(IntakeConfig, IsIntakeConfigTellsTheKinds) {
  EXPECT_TRUE(IsIntakeConfig(kMinimal));
  EXPECT_TRUE(IsIntakeConfig("accounts: 3\n"));  // then reported by the intake's schema
  EXPECT_FALSE(IsIntakeConfig("hostname: gw\nlisteners: []\naccounts: []\n"));
  EXPECT_FALSE(IsIntakeConfig("hostname: gw\nlisteners:\n  - name: x\n"));
  EXPECT_FALSE(IsIntakeConfig(""));
  EXPECT_FALSE(IsIntakeConfig("- accounts\n"));
  EXPECT_FALSE(IsIntakeConfig("accounts: [\n"));  // not YAML: the gateway's errors
}

}  // namespace
}  // namespace tidegate::config
