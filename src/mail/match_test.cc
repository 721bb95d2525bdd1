#include "mail/match.h"

#include <gtest/gtest.h>

namespace tidegate::mail {
namespace {

Address A(std::string_view s) { return *ParseMailbox(s, /*allow_utf8=*/true); }
DomainPattern D(std::string_view s) { return *ParseDomainPattern(s); }
AddressPattern P(std::string_view s) { return *ParseAddressPattern(s); }
std::string Why(const base::Result<AddressPattern>& r) { return r ? "" : r.error().message; }

TEST(DomainPattern, ParsesToLowerCaseWithoutTheDot) {
  EXPECT_EQ(D("Example.COM"), (DomainPattern{"example.com", false}));
  EXPECT_EQ(D(".Example.ORG"), (DomainPattern{"example.org", true}));
  EXPECT_EQ(D("Example.COM").str(), "example.com");
  EXPECT_EQ(D(".Example.ORG").str(), ".example.org");
}

TEST(DomainPattern, ExactOrSubdomainsOnlyInAnyCase) {
  struct Case {
    std::string_view pattern, name;
    bool matches;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"Example.COM", "example.com", true},
           {"example.com", "EXAMPLE.com", true},
           {"example.com", "a.example.com", false},
           {"example.com", "example.co", false},
           {"example.com", "xexample.com", false},
           {"example.com", "", false},
           {".Example.ORG", "a.example.org", true},
           {".example.org", "A.B.EXAMPLE.org", true},
           {".example.org", "example.org", false},
           {".example.org", "badexample.org", false},
           {".example.org", ".example.org", false},
           {".example.org", "a.example.org.evil", false},
           // Trailing dots and address literals never match.
           {"example.com", "example.com.", false},
           {".example.com", "a.example.com.", false},
           {"example.com", "[192.0.2.1]", false},
       }) {
    EXPECT_EQ(D(c.pattern).Matches(c.name), c.matches) << c.pattern << " ~ " << c.name;
  }
}

TEST(DomainPattern, RejectsWhatIsNoDomain) {
  for (std::string_view bad : {"", ".", "..example.com", "example.com.", "*.example.org",
                               "exa mple.com", "[192.0.2.1]", "-example.com", "b\xc3\xbc.de"}) {
    EXPECT_FALSE(ParseDomainPattern(bad)) << bad;
  }
}

TEST(AddressPattern, TheFourForms) {
  const AddressPattern exact = P("CEO@Example.com");
  EXPECT_TRUE(exact.Matches(A("ceo@EXAMPLE.COM")));
  EXPECT_FALSE(exact.Matches(A("cfo@example.com")));
  EXPECT_FALSE(exact.Matches(A("ceo@eu.example.com")));
  const AddressPattern domain = P("@sales.example.com");
  EXPECT_TRUE(domain.Matches(A("x@Sales.Example.com")));
  EXPECT_FALSE(domain.Matches(A("x@eu.sales.example.com")));
  const AddressPattern sub = P("@.example.com");
  EXPECT_TRUE(sub.Matches(A("x@eu.example.com")));
  EXPECT_FALSE(sub.Matches(A("x@example.com")));
  EXPECT_FALSE(sub.Matches(A("x@badexample.com")));
  const AddressPattern user = P("postmaster@");
  EXPECT_FALSE(user.domain);
  EXPECT_TRUE(user.Matches(A("Postmaster@anything.test")));
  EXPECT_FALSE(user.Matches(A("root@anything.test")));
  const AddressPattern user_sub = P("info@.example.com");
  EXPECT_TRUE(user_sub.Matches(A("INFO@eu.example.com")));
  EXPECT_FALSE(user_sub.Matches(A("info@example.com")));
}

TEST(AddressPattern, StrKeepsTheLocalPartAndLowersTheDomain) {
  EXPECT_EQ(P("CEO@Example.COM").str(), "CEO@example.com");
  EXPECT_EQ(P("@.Example.COM").str(), "@.example.com");
  EXPECT_EQ(P("Postmaster@").str(), "Postmaster@");
  EXPECT_EQ(P("\"a@b\"@Example.com").str(), "\"a@b\"@example.com");
}

TEST(AddressPattern, QuotedLocalPartsCompareUnquoted) {
  const AddressPattern quoted = P("\"John Doe\"@example.com");
  EXPECT_EQ(quoted.local, "\"John Doe\"");
  EXPECT_TRUE(quoted.Matches(A("\"john doe\"@example.com")));
  EXPECT_FALSE(quoted.Matches(A("john@example.com")));
  EXPECT_TRUE(P("\"john\"@example.com").Matches(A("John@example.com")));
  // The last '@' splits: the quoted local part keeps its own.
  EXPECT_TRUE(P("\"a@b\"@").Matches(A("\"a@b\"@example.com")));
}

TEST(AddressPattern, EightBitAddressesMatchByDomainAndByteExactLocal) {
  EXPECT_TRUE(P("@example.com").Matches(A("j\xc3\xbcrgen@Example.com")));
  EXPECT_TRUE(P("@.example.com").Matches(A("x@m\xc3\xbcnchen.example.com")));
  EXPECT_FALSE(P("jurgen@").Matches(A("j\xc3\xbcrgen@example.com")));
}

TEST(AddressPattern, TheNullPathNeverMatches) {
  EXPECT_FALSE(P("postmaster@").Matches(Address{}));
  EXPECT_FALSE(P("@example.com").Matches(Address{}));
}

TEST(AddressPattern, RejectionsSayWhy) {
  EXPECT_EQ(Why(ParseAddressPattern("")), "missing '@'");
  EXPECT_EQ(Why(ParseAddressPattern("sales.example.com")), "missing '@'");
  EXPECT_EQ(Why(ParseAddressPattern("@")), "empty pattern");
  EXPECT_EQ(Why(ParseAddressPattern("@.")), "bad domain");
  EXPECT_EQ(Why(ParseAddressPattern("user@.")), "bad domain");
  EXPECT_EQ(Why(ParseAddressPattern("@example.com.")), "bad domain");
  EXPECT_EQ(Why(ParseAddressPattern("@b\xc3\xbc.de")), "bad domain");
  EXPECT_EQ(Why(ParseAddressPattern("a b@example.com")), "bad local part: missing @domain");
  EXPECT_EQ(Why(ParseAddressPattern("j\xc3\xbcrgen@")),
            "bad local part: 8-bit character without SMTPUTF8");
  EXPECT_EQ(Why(ParseAddressPattern("a.@example.com")),
            "bad local part: local part ends with a dot");
}

}  // namespace
}  // namespace tidegate::mail
