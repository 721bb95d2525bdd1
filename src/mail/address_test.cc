#include "mail/address.h"

#include <gtest/gtest.h>

namespace tidegate::mail {
namespace {

Address Path(std::string_view text, PathOptions opt = {}) {
  size_t consumed = 0;
  auto r = ParsePath(text, opt, consumed);
  EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error().message);
  return r ? *r : Address{};
}

bool PathFails(std::string_view text, PathOptions opt = {}) {
  size_t consumed = 0;
  return !ParsePath(text, opt, consumed);
}

TEST(ParsePath, Plain) {
  auto a = Path("<User@Example.COM>");
  EXPECT_EQ(a.local, "User");
  EXPECT_EQ(a.domain, "Example.COM");
  EXPECT_EQ(a.domain_lower(), "example.com");
  EXPECT_EQ(a.str(), "User@Example.COM");
}

TEST(ParsePath, ConsumedStopsAtBracket) {
  size_t consumed = 0;
  auto a = ParsePath("<a@b.c> SIZE=100", {}, consumed);
  ASSERT_TRUE(a);
  EXPECT_EQ(consumed, 7u);
}

TEST(ParsePath, NullOnlyWhenAllowed) {
  EXPECT_TRUE(Path("<>", {.allow_null = true}).null());
  EXPECT_TRUE(PathFails("<>"));
}

TEST(ParsePath, QuotedLocalKeptByteExact) {
  auto a = Path(R"(<"john \"q\" doe"@example.com>)");
  EXPECT_EQ(a.local, R"("john \"q\" doe")");
  EXPECT_EQ(a.local_unquoted(), R"(john "q" doe)");
  EXPECT_TRUE(a.quoted_local());
}

TEST(ParsePath, SourceRouteDropped) {
  auto a = Path("<@ours.example,@x.example:u@ext.example>");
  EXPECT_EQ(a.str(), "u@ext.example");
}

TEST(ParsePath, AddressLiteral) {
  EXPECT_EQ(Path("<u@[127.0.0.1]>").domain, "[127.0.0.1]");
  EXPECT_EQ(Path("<u@[IPv6:::1]>").domain, "[IPv6:::1]");
  EXPECT_TRUE(PathFails("<u@[999.1.1.1]>"));
}

TEST(ParsePath, TooLongLeavesConsumedAtZero) {
  // 64 + 1 + 247 bytes: each part within its own limit, the whole over 254.
  const std::string label(60, 'b');
  const std::string path =
      "<" + std::string(64, 'a') + "@" + label + "." + label + "." + label + "." + label + ".com>";
  size_t consumed = 99;
  EXPECT_FALSE(ParsePath(path, {}, consumed));
  EXPECT_EQ(consumed, 0u);
}

// address_fuzz finding: inet_pton() stopped at the NUL, so the bytes after it reached the domain.
TEST(ParsePath, AddressLiteralWithNulRefused) {
  EXPECT_TRUE(PathFails(std::string_view("<u@[1.2.3.4\0\r\nRCPT TO:<x@y>]>", 29)));
  EXPECT_TRUE(PathFails(std::string_view("<u@[IPv6:::1\0x]>", 16)));
  EXPECT_FALSE(ParseMailbox(std::string_view("u@[1.2.3.4\0x]", 13)));
}

TEST(ParsePath, RejectsControlsAndInjection) {
  EXPECT_TRUE(PathFails("<a\r\nb@example.com>"));
  EXPECT_TRUE(PathFails(std::string_view("<a\0b@example.com>", 18)));
  EXPECT_TRUE(PathFails("<\"a\r\"@example.com>"));
  EXPECT_TRUE(PathFails("<a@exa\nmple.com>"));
  EXPECT_TRUE(PathFails("<a@example.com"));
  EXPECT_TRUE(PathFails("a@example.com"));
  EXPECT_TRUE(PathFails("<a..b@example.com>"));
  EXPECT_TRUE(PathFails("<a@-example.com>"));
  EXPECT_TRUE(PathFails("<a@example..com>"));
  EXPECT_TRUE(PathFails("<@example.com>"));
}

TEST(ParsePath, EightBitNeedsSmtputf8) {
  EXPECT_TRUE(PathFails("<j\xc3\xb6rg@example.com>"));
  auto a = Path("<j\xc3\xb6rg@ex\xc3\xa4mple.com>", {.allow_utf8 = true});
  EXPECT_TRUE(a.has_utf8());
}

TEST(ParseMailbox, Whole) {
  auto a = ParseMailbox("b5986efe-374c-47a5-aade-b8d98847e1a6@intake.example.net");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->domain, "intake.example.net");
  EXPECT_FALSE(ParseMailbox("a@b.c extra"));
  EXPECT_FALSE(ParseMailbox("nobody"));
  EXPECT_FALSE(ParseMailbox("<a@b.c>"));
}

TEST(IsValidDomain, Basics) {
  EXPECT_TRUE(IsValidDomain("example.com"));
  EXPECT_TRUE(IsValidDomain("localhost"));
  EXPECT_FALSE(IsValidDomain("exa mple.com"));
  EXPECT_FALSE(IsValidDomain(".example.com"));
  EXPECT_FALSE(IsValidDomain("[1.2.3.4]"));
}

}  // namespace
}  // namespace tidegate::mail
