#include "mail/auth_results.h"

#include <gtest/gtest.h>

#include "mail/edits.h"
#include "mail/headers.h"

namespace tidegate::mail {
namespace {

AuthResults Results(std::string spf, std::string dkim, std::string dmarc) {
  AuthResults r;
  r.spf = std::move(spf);
  r.dkim = std::move(dkim);
  r.dmarc = std::move(dmarc);
  return r;
}

TEST(AuthResults, SymbolTableOfTheContract) {
  const struct {
    const char* symbol;
    AuthResults expected;
  } cases[] = {
      {"R_SPF_ALLOW", Results("pass", "none", "none")},
      {"R_SPF_FAIL", Results("fail", "none", "none")},
      {"R_SPF_SOFTFAIL", Results("softfail", "none", "none")},
      {"R_SPF_NEUTRAL", Results("neutral", "none", "none")},
      {"R_SPF_DNSFAIL", Results("temperror", "none", "none")},
      {"R_SPF_PERMFAIL", Results("permerror", "none", "none")},
      {"R_SPF_NA", Results("none", "none", "none")},
      {"R_DKIM_ALLOW", Results("none", "pass", "none")},
      {"R_DKIM_REJECT", Results("none", "fail", "none")},
      {"R_DKIM_TEMPFAIL", Results("none", "temperror", "none")},
      {"R_DKIM_PERMFAIL", Results("none", "permerror", "none")},
      {"R_DKIM_NA", Results("none", "none", "none")},
      {"DMARC_POLICY_ALLOW", Results("none", "none", "pass")},
      {"DMARC_POLICY_REJECT", Results("none", "none", "fail")},
      {"DMARC_POLICY_QUARANTINE", Results("none", "none", "fail")},
      {"DMARC_POLICY_SOFTFAIL", Results("none", "none", "fail")},
      {"DMARC_BAD_POLICY", Results("none", "none", "permerror")},
      {"DMARC_NA", Results("none", "none", "none")},
      {"BAYES_SPAM", Results("none", "none", "none")},
      {"r_spf_allow", Results("none", "none", "none")},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(AuthResultsFromRspamdSymbols({"MIME_GOOD", c.symbol}), c.expected) << c.symbol;
  }
  EXPECT_EQ(AuthResultsFromRspamdSymbols({}), AuthResults{});
  EXPECT_EQ(AuthResultsFromRspamdSymbols({"R_SPF_ALLOW", "R_DKIM_REJECT", "DMARC_POLICY_ALLOW"}),
            Results("pass", "fail", "pass"));
}

TEST(AuthResults, TwoSymbolsOfOneMethodDoNotDependOnOrder) {
  EXPECT_EQ(AuthResultsFromRspamdSymbols({"R_SPF_ALLOW", "R_SPF_FAIL"}).spf, "fail");
  EXPECT_EQ(AuthResultsFromRspamdSymbols({"R_SPF_FAIL", "R_SPF_ALLOW"}).spf, "fail");
  EXPECT_EQ(AuthResultsFromRspamdSymbols({"R_DKIM_NA", "R_DKIM_ALLOW"}).dkim, "pass");
}

TEST(AuthResults, FormatIsFoldedRfc8601) {
  const std::string f = FormatAuthResults("gw.example", Results("pass", "fail", "pass"),
                                          "Sender.Example.", "from.example");
  EXPECT_EQ(f,
            "Authentication-Results: gw.example;\r\n spf=pass smtp.mailfrom=sender.example;\r\n"
            " dkim=fail;\r\n dmarc=pass header.from=from.example");
  EXPECT_TRUE(IsWellFormedField(f));
  const std::string m = f + "\r\n\r\nbody";
  EXPECT_EQ(FirstHeaderValue(HeaderSection(m), "Authentication-Results"),
            "gw.example; spf=pass smtp.mailfrom=sender.example; dkim=fail; dmarc=pass "
            "header.from=from.example");
  // Our own field is recognised as ours.
  EXPECT_EQ(FindOwnAuthResults(m, "gw.example"), std::vector<std::uint32_t>{0});
}

TEST(AuthResults, FormatInjectsNothing) {
  const std::string f =
      FormatAuthResults("gw.example;\r\n x=(y)", Results("pass\r\nX: y", "pass; a=b", "fail"),
                        "evil.example\r\nInjected: 1", "a;b.example");
  EXPECT_EQ(f, "Authentication-Results: gw.examplexy;\r\n spf=none;\r\n dkim=none;\r\n dmarc=fail");
  EXPECT_EQ(FormatAuthResults("", AuthResults{}, "", "nodot"),
            "Authentication-Results: localhost;\r\n spf=none;\r\n dkim=none;\r\n dmarc=none "
            "header.from=nodot");
  // Not ASCII domains, literals, empty labels: no property.
  EXPECT_EQ(FormatAuthResults("gw", AuthResults{}, "b\xc3\xa9.example", "[192.0.2.1]"),
            "Authentication-Results: gw;\r\n spf=none;\r\n dkim=none;\r\n dmarc=none");
  EXPECT_EQ(FormatAuthResults("gw", AuthResults{}, "a..b", "-a.b"),
            "Authentication-Results: gw;\r\n spf=none;\r\n dkim=none;\r\n dmarc=none");
}

TEST(AuthResults, FindsOwnFieldsInEveryForm) {
  const std::string m =
      "Received: x\r\n"
      "Authentication-Results: gw.example; spf=pass\r\n"             // 1
      "authentication-results: GW.Example.;\r\n dkim=pass\r\n"       // 2 case, trailing dot
      "Authentication-Results:\r\n gw.example\r\n ; dmarc=pass\r\n"  // 3 folded
      "Authentication-Results: (a (nested) comment) gw.example 1; spf=pass\r\n"  // 4
      "Authentication-Results: \"gw.example\"; spf=pass\r\n"                     // 5 quoted
      "Authentication-Results: gw.example\r\n"                                   // 6 id alone
      "Authentication-Results: gw.example/x; spf=pass\r\n"          // 7 token ends at '/'
      "Authentication-Results: other.example; spf=pass\r\n"         // 8 not ours
      "Authentication-Results: gw.example.evil; spf=pass\r\n"       // 9 not ours
      "Authentication-Results: sub.gw.example; spf=pass\r\n"        // 10 not ours
      "Authentication-Results: (gw.example) other; spf=pass\r\n"    // 11 not ours
      "Authentication-Results: (unclosed gw.example; spf=pass\r\n"  // 12 no id
      "ARC-Authentication-Results: i=1; gw.example; spf=pass\r\n"   // 13 other field
      "X-Authentication-Results: gw.example\r\n"                    // 14 other field
      "\r\n"
      "Authentication-Results: gw.example; in the body\r\n";
  EXPECT_EQ(FindOwnAuthResults(m, "gw.example"), (std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(FindOwnAuthResults(m, "GW.EXAMPLE."),
            (std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(FindOwnAuthResults(m, "").empty());
  EXPECT_TRUE(FindOwnAuthResults(m, "nobody.example").empty());
  // The indexes remove exactly those fields.
  Edits e;
  e.remove = FindOwnAuthResults(m, "gw.example");
  const std::string out = ApplyEdits(m, e);
  EXPECT_EQ(CountHeaders(HeaderSection(out), "Authentication-Results"), 5u);
  EXPECT_TRUE(FindOwnAuthResults(out, "gw.example").empty());
}

TEST(AuthResults, HeaderFromDomain) {
  const auto from = [](std::string_view value) {
    return HeaderFromDomain("To: x@y\r\nFrom: " + std::string(value) + "\r\n\r\nFrom: a@body\r\n");
  };
  EXPECT_EQ(from("a@Example.COM"), "example.com");
  EXPECT_EQ(from("Alice <alice@example.com>"), "example.com");
  EXPECT_EQ(from("\"Bob <bob@evil.example>\" <bob@good.example>"), "good.example");
  EXPECT_EQ(from("\"a@evil.example\"@good.example"), "good.example");
  EXPECT_EQ(from("alice@example.com (Alice <x@evil.example>)"), "example.com");
  EXPECT_EQ(from("(c) Alice\r\n <alice@example.com.>"), "example.com");
  EXPECT_EQ(from("a@one.example, b@two.example"), "");
  EXPECT_EQ(from("<a@one.example> <b@two.example>"), "");
  EXPECT_EQ(from("group: a@one.example;"), "");
  EXPECT_EQ(from("nobody"), "");
  EXPECT_EQ(from("a@[192.0.2.1]"), "");
  EXPECT_EQ(from("a@b\xc3\xa9.example"), "");
  EXPECT_EQ(HeaderFromDomain("Subject: x\r\n\r\nFrom: a@b.example\r\n"), "");
  EXPECT_EQ(HeaderFromDomain(""), "");
}

}  // namespace
}  // namespace tidegate::mail
