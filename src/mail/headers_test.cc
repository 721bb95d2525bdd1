#include "mail/headers.h"

#include <gtest/gtest.h>

namespace tidegate::mail {
namespace {

const char kMessage[] =
    "Received: from a\r\n"
    "\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    "Subject:  Hello\r\n"
    "  world \r\n"
    "message-id: <1@x>\r\n"
    "Received: from c\r\n"
    "\r\n"
    "Subject: not a header\r\n";

TEST(Headers, SectionStopsAtEmptyLine) {
  std::string_view h = HeaderSection(kMessage);
  EXPECT_TRUE(h.ends_with("Received: from c\r\n"));
  EXPECT_EQ(HeaderSection("\r\nbody"), "");
  EXPECT_EQ(HeaderSection("A: b\r\n"), "A: b\r\n");
}

TEST(Headers, FirstValueUnfoldsAndTrims) {
  std::string_view h = HeaderSection(kMessage);
  EXPECT_EQ(FirstHeaderValue(h, "Subject"), "Hello  world");
  EXPECT_EQ(FirstHeaderValue(h, "Message-ID"), "<1@x>");
  EXPECT_EQ(FirstHeaderValue(h, "X-Missing"), std::nullopt);
}

TEST(Headers, CountAndGarbage) {
  std::string_view h = HeaderSection(kMessage);
  EXPECT_EQ(CountHeaders(h, "received"), 2u);
  EXPECT_EQ(CountHeaders("garbage line\r\n: empty\r\n x\r\nA: 1\r\n", "a"), 1u);
  EXPECT_EQ(FirstHeaderValue("Subject:\r\n", "subject"), "");
}

TEST(Headers, FieldWithLineEndCoversContinuationsAndTheLineEnding) {
  const std::string_view h = "A: 1\r\nB: 2\r\n  more\r\nC: 3\nD: 4";
  const std::vector<HeaderField> f = ParseHeaderFields(h);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(FieldWithLineEnd(h, f[0]), "A: 1\r\n");
  EXPECT_EQ(FieldWithLineEnd(h, f[1]), "B: 2\r\n  more\r\n");
  EXPECT_EQ(FieldWithLineEnd(h, f[2]), "C: 3\n");
  EXPECT_EQ(FieldWithLineEnd(h, f[3]), "D: 4");
  EXPECT_EQ(UnfoldedValue(f[1]), "2  more");
  EXPECT_TRUE(HeaderNameIs(f[1], "b"));
  EXPECT_FALSE(HeaderNameIs(f[1], "B2"));
}

}  // namespace
}  // namespace tidegate::mail
