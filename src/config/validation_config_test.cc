// validation_config_test.cc — the recipient_validation keys (CONTRACT §13): every key, its
// default, and every error with file and line; the LDAP password read from its file and never
// shown in an error.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "config/config.h"
#include "config/test_util.h"

namespace tidegate::config {
namespace {

using testing::TempDir;

const std::string kHead =
    "hostname: gw.example.com\n"                                  // 1
    "data_dir: /d\n"                                              // 2
    "listeners: [{name: In, bind: 127.0.0.1:0}]\n"                // 3
    "accepted_domains: [example.com, example.org, .corp.test]\n"  // 4
    "incoming_mail_policies: [{name: DEFAULT}]\n";                // 5

base::Result<std::shared_ptr<const GatewayConfig>> Parse(const std::string& section,
                                                         const std::string& path = "gw.yaml") {
  return ParseGatewayConfig(kHead + "recipient_validation:\n" + section, path);
}

RecipientValidation Ok(const std::string& section, const std::string& path = "gw.yaml") {
  auto c = Parse(section, path);
  EXPECT_TRUE(c) << (c ? "" : c.error().message);
  return c ? (*c)->recipient_validation : RecipientValidation{};
}

std::string Err(const std::string& section, const std::string& path = "gw.yaml") {
  auto c = Parse(section, path);
  return c ? std::string("(loaded)") : c.error().message;
}

TEST(ValidationConfig, AbsentSectionValidatesNothing) {
  auto c = ParseGatewayConfig(kHead, "gw.yaml");
  ASSERT_TRUE(c) << c.error().message;
  const RecipientValidation& rv = (*c)->recipient_validation;
  EXPECT_TRUE(rv.always_accept.empty());
  EXPECT_EQ(rv.cache_ttl, std::chrono::minutes(10));
  EXPECT_EQ(rv.max_invalid_recipients_per_hour, 0u);
  EXPECT_FALSE(rv.ldap);
  EXPECT_FALSE(rv.call_ahead);
}

TEST(ValidationConfig, ContractExampleParses) {
  TempDir dir;
  dir.Write("ldap.secret", "s3cret\n");
  const std::string path = dir / "gw.yaml";
  RecipientValidation rv =
      Ok("  always_accept: [\"Postmaster@\", \"abuse@\", \"Boss@Example.COM\"]\n"
         "  cache_ttl: 10m\n"
         "  max_invalid_recipients_per_hour: 25\n"
         "  ldap:\n"
         "    uri: ldap://127.0.0.1:389\n"
         "    base: dc=example,dc=com\n"
         "    bind_dn: cn=tidegate,dc=example,dc=com\n"
         "    password_file: ldap.secret\n"
         "    filter: \"(|(mail={a})(mailLocalAddress={a}))\"\n"
         "    domains: [example.com]\n"
         "    timeout: 5s\n"
         "    on_failure: tempfail\n"
         "  call_ahead:\n"
         "    domains: [example.org]\n"
         "    timeout: 10s\n"
         "    on_failure: accept\n",
         path);
  EXPECT_EQ(rv.always_accept,
            (std::vector<std::string>{"postmaster@", "abuse@", "boss@example.com"}));
  EXPECT_EQ(rv.cache_ttl, std::chrono::minutes(10));
  EXPECT_EQ(rv.max_invalid_recipients_per_hour, 25u);
  ASSERT_TRUE(rv.ldap);
  EXPECT_EQ(rv.ldap->uris, std::vector<std::string>{"ldap://127.0.0.1:389"});
  EXPECT_FALSE(rv.ldap->starttls);
  EXPECT_EQ(rv.ldap->base, "dc=example,dc=com");
  EXPECT_EQ(rv.ldap->bind_dn, "cn=tidegate,dc=example,dc=com");
  EXPECT_EQ(rv.ldap->password_file, dir / "ldap.secret");
  EXPECT_EQ(rv.ldap->password, "s3cret");
  EXPECT_EQ(rv.ldap->filter, "(|(mail={a})(mailLocalAddress={a}))");
  ASSERT_EQ(rv.ldap->domains.size(), 1u);
  EXPECT_EQ(rv.ldap->domains[0].str(), "example.com");
  EXPECT_EQ(rv.ldap->timeout, std::chrono::seconds(5));
  EXPECT_EQ(rv.ldap->on_failure, OnLookupFailure::kTempFail);
  ASSERT_TRUE(rv.call_ahead);
  ASSERT_EQ(rv.call_ahead->domains.size(), 1u);
  EXPECT_EQ(rv.call_ahead->domains[0].str(), "example.org");
  EXPECT_EQ(rv.call_ahead->timeout, std::chrono::seconds(10));
  EXPECT_EQ(rv.call_ahead->on_failure, OnLookupFailure::kAccept);
}

TEST(ValidationConfig, LdapDefaultsAndUriForms) {
  RecipientValidation rv =
      Ok("  ldap: {uri: [\"ldaps://dir1.example.com\", \"ldap://[::1]:3389/\", "
         "\"ldap://dir2.example.com\"], base: \"o=x\"}\n");
  ASSERT_TRUE(rv.ldap);
  EXPECT_EQ(rv.ldap->uris,
            (std::vector<std::string>{"ldaps://dir1.example.com:636", "ldap://[::1]:3389",
                                      "ldap://dir2.example.com:389"}));
  EXPECT_TRUE(rv.ldap->bind_dn.empty());
  EXPECT_TRUE(rv.ldap->password.empty());
  EXPECT_EQ(rv.ldap->filter, "(|(mail={a})(mailLocalAddress={a}))");
  EXPECT_TRUE(rv.ldap->domains.empty());  // the accepted domains not under call_ahead
  EXPECT_EQ(rv.ldap->timeout, std::chrono::seconds(5));
  EXPECT_EQ(rv.ldap->on_failure, OnLookupFailure::kTempFail);
  EXPECT_EQ(Ok("  ldap: {uri: ldap://h, base: o=x, starttls: true}\n").ldap->starttls, true);
  EXPECT_EQ(Ok("  ldap: {uri: ldap://h, base: o=x, filter: \"uid={u}\"}\n").ldap->filter,
            "uid={u}");
  EXPECT_EQ(Ok("  cache_ttl: 0\n").cache_ttl, Duration(0));
}

TEST(ValidationConfig, CallAheadDefaultsAndSubdomainPatterns) {
  RecipientValidation rv =
      Ok("  call_ahead: {domains: [.corp.test, eu.corp.test, .x.corp.test]}\n");
  ASSERT_TRUE(rv.call_ahead);
  ASSERT_EQ(rv.call_ahead->domains.size(), 3u);
  EXPECT_EQ(rv.call_ahead->domains[0].str(), ".corp.test");
  EXPECT_EQ(rv.call_ahead->timeout, std::chrono::seconds(10));
  EXPECT_EQ(rv.call_ahead->on_failure, OnLookupFailure::kTempFail);
}

TEST(ValidationConfig, DomainInBothListsIsAllowed) {
  // CONTRACT §13: call-ahead takes precedence for its domains; no error, no warning.
  RecipientValidation rv =
      Ok("  ldap: {uri: ldap://h, base: o=x, domains: [example.com, example.org]}\n"
         "  call_ahead: {domains: [example.org]}\n");
  EXPECT_TRUE(rv.ldap && rv.call_ahead);
}

struct Bad {
  std::string section;
  std::string expected;  // the whole first error line
};

TEST(ValidationConfig, EveryErrorNamesFileLineAndKey) {
  const std::vector<Bad> cases = {
      {"  always_accept: [\"no-at-sign\"]\n",
       "gw.yaml:7: recipient_validation.always_accept[0]: invalid entry 'no-at-sign'"},
      {"  always_accept: [\"a b@\"]\n",
       "gw.yaml:7: recipient_validation.always_accept[0]: invalid entry 'a b@'"},
      {"  always_accept: \"postmaster@\"\n", "gw.yaml:7: recipient_validation.always_accept:"},
      {"  cache_ttl: soon\n", "gw.yaml:7: recipient_validation.cache_ttl:"},
      {"  max_invalid_recipients_per_hour: -1\n",
       "gw.yaml:7: recipient_validation.max_invalid_recipients_per_hour:"},
      {"  colour: blue\n", "gw.yaml:7: recipient_validation.colour: unknown key"},
      {"  ldap: {base: o=x}\n", "gw.yaml:7: recipient_validation.ldap.uri: missing required key"},
      {"  ldap: {uri: ldap://h}\n",
       "gw.yaml:7: recipient_validation.ldap.base: missing required key"},
      {"  ldap: {uri: http://h, base: o=x}\n",
       "gw.yaml:7: recipient_validation.ldap.uri: expected ldap://HOST[:PORT] or "
       "ldaps://HOST[:PORT], got 'http://h'"},
      {"  ldap: {uri: [], base: o=x}\n",
       "gw.yaml:7: recipient_validation.ldap.uri: needs at least one URI"},
      {"  ldap: {uri: [ldap://h, \"ldap://h:99999\"], base: o=x}\n",
       "gw.yaml:7: recipient_validation.ldap.uri[1]:"},
      {"  ldap: {uri: ldap://h, base: o=x, bind_dn: cn=a}\n",
       "gw.yaml:7: recipient_validation.ldap.bind_dn: needs password_file"},
      {"  ldap: {uri: ldap://h, base: o=x, password_file: p}\n",
       "gw.yaml:7: recipient_validation.ldap.password_file: needs bind_dn"},
      {"  ldap: {uri: ldap://h, base: o=x, starttls: yes}\n",
       "gw.yaml:7: recipient_validation.ldap.starttls:"},
      {"  ldap: {uri: ldaps://h, base: o=x, starttls: true}\n",
       "gw.yaml:7: recipient_validation.ldap.starttls: StartTLS is for ldap:// URIs"},
      {"  ldap: {uri: ldap://h, base: o=x, filter: \"(mail=*)\"}\n",
       "gw.yaml:7: recipient_validation.ldap.filter: the filter must contain {a}"},
      {"  ldap: {uri: ldap://h, base: o=x, filter: \"(mail={address})\"}\n",
       "gw.yaml:7: recipient_validation.ldap.filter: unknown placeholder '{address}'"},
      {"  ldap: {uri: ldap://h, base: o=x, filter: \"(mail={a}\"}\n",
       "gw.yaml:7: recipient_validation.ldap.filter: unbalanced parentheses"},
      {"  ldap: {uri: ldap://h, base: o=x, filter: \"(mail={a}))(\"}\n",
       "gw.yaml:7: recipient_validation.ldap.filter: unbalanced parentheses"},
      {"  ldap: {uri: ldap://h, base: o=x, filter: \"(mail={a})}\"}\n",
       "gw.yaml:7: recipient_validation.ldap.filter: '}' without '{'"},
      {"  ldap: {uri: ldap://h, base: o=x, domains: [example.net]}\n",
       "gw.yaml:7: recipient_validation.ldap.domains[0]: 'example.net' is not an accepted domain"},
      {"  ldap: {uri: ldap://h, base: o=x, domains: [.example.com]}\n",
       "gw.yaml:7: recipient_validation.ldap.domains[0]: '.example.com' is not an accepted "
       "domain"},
      {"  ldap: {uri: ldap://h, base: o=x, domains: [\"-bad-\"]}\n",
       "gw.yaml:7: recipient_validation.ldap.domains[0]: invalid domain '-bad-'"},
      {"  ldap: {uri: ldap://h, base: o=x, domains: []}\n",
       "gw.yaml:7: recipient_validation.ldap.domains: needs at least one domain"},
      {"  ldap: {uri: ldap://h, base: o=x, timeout: 0}\n",
       "gw.yaml:7: recipient_validation.ldap.timeout:"},
      {"  ldap: {uri: ldap://h, base: o=x, on_failure: bounce}\n",
       "gw.yaml:7: recipient_validation.ldap.on_failure: expected tempfail or accept, got "
       "'bounce'"},
      {"  ldap: {uri: ldap://h, base: o=x, password: hunter2}\n",
       "gw.yaml:7: recipient_validation.ldap.password: unknown key"},
      {"  call_ahead: {timeout: 5s}\n",
       "gw.yaml:7: recipient_validation.call_ahead.domains: missing required key"},
      {"  call_ahead: {domains: []}\n",
       "gw.yaml:7: recipient_validation.call_ahead.domains: needs at least one domain"},
      {"  call_ahead: {domains: [example.net]}\n",
       "gw.yaml:7: recipient_validation.call_ahead.domains[0]: 'example.net' is not an accepted "
       "domain"},
      {"  call_ahead: {domains: [example.org], on_failure: later}\n",
       "gw.yaml:7: recipient_validation.call_ahead.on_failure: expected tempfail or accept"},
      {"  call_ahead: {domains: [example.org], timeout: 1ms}\n",
       "gw.yaml:7: recipient_validation.call_ahead.timeout:"},
      {"  call_ahead: {domains: [example.org], port: 25}\n",
       "gw.yaml:7: recipient_validation.call_ahead.port: unknown key"},
      {"  ldap: [uri]\n", "gw.yaml:7: recipient_validation.ldap:"},
  };
  for (const Bad& bad : cases) {
    const std::string err = Err(bad.section);
    EXPECT_TRUE(err.starts_with(bad.expected)) << bad.section << "  gave: " << err;
  }
  EXPECT_TRUE(ParseGatewayConfig(kHead + "recipient_validation: [ldap]\n", "gw.yaml")
                  .error()
                  .message.starts_with("gw.yaml:6: recipient_validation:"));
}

TEST(ValidationConfig, PasswordFileRelativeToConfigTrailingNewlineDropped) {
  TempDir dir;
  const std::string path = dir / "etc/gw.yaml";
  dir.Write("etc/secrets/ldap", "pa:ss word\r\n");
  RecipientValidation rv =
      Ok("  ldap: {uri: ldap://h, base: o=x, bind_dn: cn=a, password_file: secrets/ldap}\n", path);
  ASSERT_TRUE(rv.ldap);
  EXPECT_EQ(rv.ldap->password_file, dir / "etc/secrets/ldap");
  EXPECT_EQ(rv.ldap->password, "pa:ss word");
  dir.Write("etc/secrets/nonl", "abc");
  EXPECT_EQ(
      Ok("  ldap: {uri: ldap://h, base: o=x, bind_dn: cn=a, password_file: secrets/nonl}\n", path)
          .ldap->password,
      "abc");
}

TEST(ValidationConfig, PasswordFileErrorsNameTheFileNeverThePassword) {
  TempDir dir;
  const std::string path = dir / "gw.yaml";
  const std::string section = "  ldap: {uri: ldap://h, base: o=x, bind_dn: cn=a, password_file: ";
  std::string err = Err(section + "missing}\n", path);
  EXPECT_TRUE(err.starts_with(path +
                              ":7: recipient_validation.ldap.password_file: cannot read "
                              "password file " +
                              dir / "missing" + ": "))
      << err;
  dir.Write("empty", "\n");
  EXPECT_EQ(Err(section + "empty}\n", path),
            path + ":7: recipient_validation.ldap.password_file: password file " + dir / "empty" +
                " is empty");
  dir.Write("two", "Sup3rSecretPw\nsecond\n");
  err = Err(section + "two}\n", path);
  EXPECT_NE(err.find("has more than one line"), std::string::npos) << err;
  EXPECT_EQ(err.find("Sup3rSecretPw"), std::string::npos) << err;
  // An unreadable file (not for root, who reads anything).
  if (geteuid() != 0) {
    const std::string locked = dir.Write("locked", "Sup3rSecretPw\n");
    chmod(locked.c_str(), 0);
    err = Err(section + "locked}\n", path);
    EXPECT_NE(err.find("cannot read password file " + locked), std::string::npos) << err;
  }
  // A password never appears even when another key of the section is wrong.
  dir.Write("good", "Sup3rSecretPw\n");
  err = Err("  ldap: {uri: ldap://h, base: o=x, bind_dn: cn=a, password_file: good, timeout: x}\n",
            path);
  EXPECT_EQ(err.find("Sup3rSecretPw"), std::string::npos) << err;
}

TEST(ValidationConfig, IndependentMistakesAreAllReported) {
  const std::string err =
      Err("  cache_ttl: soon\n"                       // 7
          "  ldap: {uri: ftp://h, base: o=x}\n"       // 8
          "  call_ahead: {domains: [nope.test]}\n");  // 9
  EXPECT_NE(err.find("gw.yaml:7: recipient_validation.cache_ttl"), std::string::npos) << err;
  EXPECT_NE(err.find("gw.yaml:8: recipient_validation.ldap.uri"), std::string::npos) << err;
  EXPECT_NE(err.find("gw.yaml:9: recipient_validation.call_ahead.domains[0]"), std::string::npos)
      << err;
}

}  // namespace
}  // namespace tidegate::config
