#include "smtp/command.h"

#include <gtest/gtest.h>

#include <string>

#include "smtp/reply.h"

namespace tidegate::smtp {
namespace {

using namespace std::string_literals;

// "code enhanced" of a failed parse, e.g. "501 5.1.7"; "" if the parse succeeded.
template <typename T>
std::string Failure(const std::variant<T, Reply>& r) {
  if (std::holds_alternative<T>(r)) return "";
  const Reply& reply = std::get<Reply>(r);
  return std::to_string(reply.code) + " " + reply.lines.at(0).substr(0, 5);
}

MailFromArgs Mail(std::string_view arg, bool esmtp = true) {
  auto r = ParseMailFrom(arg, esmtp);
  EXPECT_EQ(Failure(r), "") << arg;
  return std::holds_alternative<MailFromArgs>(r) ? std::get<MailFromArgs>(r) : MailFromArgs{};
}

RcptToArgs Rcpt(std::string_view arg, bool smtputf8 = false) {
  auto r = ParseRcptTo(arg, smtputf8);
  EXPECT_EQ(Failure(r), "") << arg;
  return std::holds_alternative<RcptToArgs>(r) ? std::get<RcptToArgs>(r) : RcptToArgs{};
}

TEST(Reply, WireSingleAndMultiLine) {
  EXPECT_EQ(MakeReply(250, "2.1.0", "Ok").Wire(), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(MakeReply(354, "", "Go").Wire(), "354 Go\r\n");
  EXPECT_EQ((Reply{250, {"a", "b", "c"}}).Wire(), "250-a\r\n250-b\r\n250 c\r\n");
  EXPECT_EQ((Reply{250, {}}).Wire(), "250\r\n");
}

TEST(Reply, WireNeverCarriesControlBytes) {
  EXPECT_EQ(MakeReply(250, "", "a\r\n250 forged\0x"s).Wire(), "250 a??250 forged?x\r\n");
  EXPECT_EQ(MakeReply(250, "", "\xc3\xa9").Wire(), "250 ??\r\n");
  EXPECT_EQ(SanitizeForReply("ab\ncd", 3), "ab?");
}

TEST(ParseCommand, VerbIsCaseInsensitiveAndArgTrimmed) {
  auto c = ParseCommand("mAiL FROM:<a@b.example>  ");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->verb, Verb::kMail);
  EXPECT_EQ(c->verb_text, "mAiL");
  EXPECT_EQ(c->arg, "FROM:<a@b.example>");
  c = ParseCommand("\tQUIT ");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->verb, Verb::kQuit);
  EXPECT_EQ(c->arg, "");
}

TEST(ParseCommand, AllVerbs) {
  const std::pair<const char*, Verb> cases[] = {
      {"EHLO", Verb::kEhlo},     {"helo", Verb::kHelo},   {"MAIL", Verb::kMail},
      {"rcpt", Verb::kRcpt},     {"DATA", Verb::kData},   {"RSET", Verb::kRset},
      {"NOOP", Verb::kNoop},     {"QUIT", Verb::kQuit},   {"VRFY", Verb::kVrfy},
      {"EXPN", Verb::kExpn},     {"HELP", Verb::kHelp},   {"StartTLS", Verb::kStartTls},
      {"AUTH", Verb::kAuth},     {"BDAT", Verb::kBdat},   {"POST", Verb::kUnknown},
      {"MAILX", Verb::kUnknown}, {"MAI", Verb::kUnknown}, {"STARTTLS2", Verb::kUnknown},
  };
  for (const auto& [text, verb] : cases) {
    auto c = ParseCommand(text);
    ASSERT_TRUE(c) << text;
    EXPECT_EQ(c->verb, verb) << text;
  }
}

TEST(ParseCommand, RejectsEmptyNulAndBareLineEndings) {
  EXPECT_FALSE(ParseCommand(""));
  EXPECT_FALSE(ParseCommand("   "));
  EXPECT_FALSE(ParseCommand("NOOP\0x"s));
  EXPECT_FALSE(ParseCommand("RSET\rMAIL FROM:<a@b.example>"));
  EXPECT_FALSE(ParseCommand("RSET\nMAIL FROM:<a@b.example>"));
}

TEST(ParseMailFrom, PlainNullAndLenientSpace) {
  EXPECT_EQ(Mail("FROM:<User@Example.COM>").sender.str(), "User@Example.COM");
  EXPECT_TRUE(Mail("from:<>").sender.null());
  EXPECT_EQ(Mail("FROM: <a@b.example>").sender.str(), "a@b.example");
  EXPECT_TRUE(Mail("FROM:<>", false).sender.null());
}

TEST(ParseMailFrom, Parameters) {
  auto m = Mail("FROM:<a@b.example> SIZE=1000 body=8bitmime");
  EXPECT_EQ(m.size, 1000u);
  EXPECT_TRUE(m.body_8bit);
  EXPECT_FALSE(m.smtputf8);
  m = Mail("FROM:<a@b.example> BODY=7BIT SMTPUTF8");
  EXPECT_FALSE(m.body_8bit);
  EXPECT_TRUE(m.smtputf8);
  EXPECT_EQ(Mail("FROM:<a@b.example> SIZE=99999999999999999999999999").size, UINT64_MAX);
  EXPECT_EQ(Mail("FROM:<a@b.example>   SIZE=0").size, 0u);
}

TEST(ParseMailFrom, Errors) {
  EXPECT_EQ(Failure(ParseMailFrom("TO:<a@b.example>", true)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM <a@b.example>", true)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("", true)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:a@b.example", true)), "501 5.1.7");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b..example>", true)), "501 5.1.7");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example", true)), "501 5.1.7");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example>x", true)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example> SIZE=", true)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example> SIZE=12k", true)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example> SIZE", true)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example> SIZE=1 SIZE=2", true)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example> BODY=BINARYMIME", true)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example> SMTPUTF8=yes", true)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example> =x", true)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example> RET=HDRS", true)), "555 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example> AUTH=<>", true)), "555 5.5.4");
  // After HELO no extension exists: every parameter is unsupported.
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example> SIZE=10", false)), "555 5.5.4");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b.example> BODY=8BITMIME", false)), "555 5.5.4");
}

TEST(ParseMailFrom, EightBitAddressNeedsSmtputf8) {
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<j\xc3\xb6rg@b.example>", true)), "553 5.6.7");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<a@b\xc3\xa9.example>", true)), "553 5.6.7");
  EXPECT_EQ(Mail("FROM:<j\xc3\xb6rg@b.example> SMTPUTF8").sender.local, "j\xc3\xb6rg");
  // Malformed UTF-8 is a syntax error even with SMTPUTF8.
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<j\xc3rg@b.example> SMTPUTF8", true)), "501 5.1.7");
  EXPECT_EQ(Failure(ParseMailFrom("FROM:<j\xc0\xafrg@b.example> SMTPUTF8", true)), "501 5.1.7");
}

TEST(ParseRcptTo, PlainAndPostmaster) {
  EXPECT_EQ(Rcpt("TO:<u@example.com>").recipient.str(), "u@example.com");
  EXPECT_EQ(Rcpt("to: <u@example.com>").recipient.str(), "u@example.com");
  EXPECT_EQ(Rcpt("TO:<@relay.example:u@example.com>").recipient.str(), "u@example.com");
  auto pm = Rcpt("TO:<PostMaster>").recipient;
  EXPECT_EQ(pm.local, "PostMaster");
  EXPECT_EQ(pm.domain, "");
}

TEST(ParseRcptTo, Errors) {
  EXPECT_EQ(Failure(ParseRcptTo("FROM:<u@example.com>", false)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseRcptTo("TO:<>", false)), "501 5.1.3");
  EXPECT_EQ(Failure(ParseRcptTo("TO:<u>", false)), "501 5.1.3");
  EXPECT_EQ(Failure(ParseRcptTo("TO:u@example.com", false)), "501 5.1.3");
  EXPECT_EQ(Failure(ParseRcptTo("TO:<u@example.com>junk", false)), "501 5.5.4");
  EXPECT_EQ(Failure(ParseRcptTo("TO:<u@example.com> NOTIFY=NEVER", false)), "555 5.5.4");
  EXPECT_EQ(Failure(ParseRcptTo("TO:<\xc3\xb6@example.com>", false)), "553 5.6.7");
  EXPECT_EQ(Rcpt("TO:<\xc3\xb6@example.com>", true).recipient.local, "\xc3\xb6");
  EXPECT_EQ(Failure(ParseRcptTo("TO:<\xff@example.com>", true)), "501 5.1.3");
}

mail::Address Addr(std::string_view path) {
  size_t consumed = 0;
  auto a = mail::ParsePath(path, {}, consumed);
  EXPECT_TRUE(a) << path;
  return a ? *a : mail::Address{};
}

TEST(HasRoutingLocalPart, PercentBangAndQuotedAt) {
  EXPECT_FALSE(HasRoutingLocalPart(Addr("<user@example.com>")));
  EXPECT_FALSE(HasRoutingLocalPart(Addr("<\"john doe\"@example.com>")));
  EXPECT_TRUE(HasRoutingLocalPart(Addr("<u%other.example@example.com>")));
  EXPECT_TRUE(HasRoutingLocalPart(Addr("<other.example!u@example.com>")));
  EXPECT_TRUE(HasRoutingLocalPart(Addr("<\"u%other.example\"@example.com>")));
  EXPECT_TRUE(HasRoutingLocalPart(Addr("<\"other!u\"@example.com>")));
  EXPECT_TRUE(HasRoutingLocalPart(Addr("<\"u@other.example\"@example.com>")));
  EXPECT_TRUE(HasRoutingLocalPart(Addr("<\"u\\@other.example\"@example.com>")));
}

TEST(IsValidUtf8, Cases) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xb6\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong, 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
}

}  // namespace
}  // namespace tidegate::smtp
