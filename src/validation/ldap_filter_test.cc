// ldap_filter_test.cc — RFC 4515 escaping and the filter template (ldap_filter.h).
#include "validation/ldap_filter.h"

#include <gtest/gtest.h>

#include <string>

namespace tidegate::validation {
namespace {

using namespace std::string_literals;

mail::Address Addr(std::string local, std::string domain) {
  return mail::Address{std::move(local), std::move(domain)};
}

const char kDefault[] = "(|(mail={a})(mailLocalAddress={a}))";

TEST(EscapeFilterValue, EverySpecial) {
  EXPECT_EQ(EscapeFilterValue("*"), "\\2a");
  EXPECT_EQ(EscapeFilterValue("("), "\\28");
  EXPECT_EQ(EscapeFilterValue(")"), "\\29");
  EXPECT_EQ(EscapeFilterValue("\\"), "\\5c");
  EXPECT_EQ(EscapeFilterValue("\0"s), "\\00");
  EXPECT_EQ(EscapeFilterValue("a*b(c)d\\e\0f"s), "a\\2ab\\28c\\29d\\5ce\\00f");
}

TEST(EscapeFilterValue, KeepsEverythingElse) {
  EXPECT_EQ(EscapeFilterValue(""), "");
  EXPECT_EQ(EscapeFilterValue("alice.o'brien+tag=x&y|z!~@example.com"),
            "alice.o'brien+tag=x&y|z!~@example.com");
  // UTF-8 stays as is (RFC 4515 allows it; the directory compares it).
  const std::string utf8 =
      "j\xc3\xb6rg@b\xc3\xbc"
      "cher.example";
  EXPECT_EQ(EscapeFilterValue(utf8), utf8);
}

TEST(ExpandFilter, Placeholders) {
  auto a = Addr("alice", "Example.COM");
  EXPECT_EQ(ExpandFilter(kDefault, a),
            "(|(mail=alice@Example.COM)(mailLocalAddress=alice@Example.COM))");
  EXPECT_EQ(ExpandFilter("(&(uid={u})(domain={d}))", a), "(&(uid=alice)(domain=Example.COM))");
  EXPECT_EQ(ExpandFilter("(mail={a}){a}{u}{d}", a),
            "(mail=alice@Example.COM)alice@Example.COMaliceExample.COM");
}

TEST(ExpandFilter, OtherBracesAreCopied) {
  auto a = Addr("bob", "example.com");
  EXPECT_EQ(ExpandFilter("(x={b}{a)({})({{a}})", a), "(x={b}{a)({})({bob@example.com})");
  EXPECT_EQ(ExpandFilter("{", a), "{");
  EXPECT_EQ(ExpandFilter("{a", a), "{a");
  EXPECT_EQ(ExpandFilter("", a), "");
  EXPECT_EQ(ExpandFilter("(objectClass=*)", a), "(objectClass=*)");  // the template's own `*`
}

TEST(ExpandFilter, QuotedLocalPartIsDecodedThenEscaped) {
  auto a = Addr("\"a b\\\"c\"", "example.com");
  EXPECT_EQ(ExpandFilter("(mail={a})", a), "(mail=a b\"c@example.com)");
}

TEST(ExpandFilter, InjectionWildcard) {
  EXPECT_EQ(ExpandFilter(kDefault, Addr("*", "example.com")),
            "(|(mail=\\2a@example.com)(mailLocalAddress=\\2a@example.com))");
  EXPECT_EQ(ExpandFilter("(uid={u})", Addr("*", "*")), "(uid=\\2a)");
  EXPECT_EQ(ExpandFilter("(mail=*@{d})", Addr("x", "*")), "(mail=*@\\2a)");
}

TEST(ExpandFilter, InjectionExtraComponent) {
  // A quoted local part `a)(mail=*` would, unescaped, close the component and add a wildcard one.
  auto a = Addr("\"a)(mail=*\"", "example.com");
  EXPECT_EQ(
      ExpandFilter(kDefault, a),
      "(|(mail=a\\29\\28mail=\\2a@example.com)(mailLocalAddress=a\\29\\28mail=\\2a@example.com))");
  auto b = Addr("\"alice)(|(objectClass=*\"", "example.com");
  EXPECT_EQ(ExpandFilter("(mail={a})", b), "(mail=alice\\29\\28|\\28objectClass=\\2a@example.com)");
}

TEST(ExpandFilter, InjectionPreEscaped) {
  // `x\2a` must stay a literal backslash, not become an escape of `*`.
  auto a = Addr("\"x\\\\2a\"", "example.com");
  ASSERT_EQ(a.local_unquoted(), "x\\2a");
  EXPECT_EQ(ExpandFilter("(mail={a})", a), "(mail=x\\5c2a@example.com)");
}

TEST(ExpandFilter, InjectionNul) {
  // mail::ParsePath never yields a NUL; the escaping does not rely on that.
  auto a = Addr("alice\0*"s, "example.com");
  EXPECT_EQ(ExpandFilter("(mail={a})", a), "(mail=alice\\00\\2a@example.com)");
}

}  // namespace
}  // namespace tidegate::validation
