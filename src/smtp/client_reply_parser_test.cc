#include "smtp/client_reply_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tidegate::smtp {
namespace {

using Result = ReplyParser::Result;

// Feeds all of input (in pieces of `step` bytes) and collects every reply; stops at an error.
struct Collected {
  std::vector<ServerReply> replies;
  bool error = false;
  std::string message;
};

Collected FeedAll(ReplyParser& parser, std::string_view input, std::size_t step) {
  Collected c;
  std::size_t pos = 0;
  while (pos < input.size() && !c.error) {
    std::string_view piece = input.substr(pos, step);
    pos += piece.size();
    while (!piece.empty()) {
      std::size_t used = 0;
      ServerReply reply;
      Result r = parser.Feed(piece, &used, &reply, &c.message);
      EXPECT_LE(used, piece.size());
      piece.remove_prefix(used);
      if (r == Result::kError) {
        c.error = true;
        break;
      }
      if (r == Result::kNeedMore) {
        EXPECT_TRUE(piece.empty());
        break;
      }
      c.replies.push_back(std::move(reply));
    }
  }
  return c;
}

TEST(ReplyParserTest, SingleLine) {
  ReplyParser parser;
  Collected c = FeedAll(parser, "250 2.1.0 Sender ok\r\n", 1000);
  ASSERT_FALSE(c.error) << c.message;
  ASSERT_EQ(c.replies.size(), 1u);
  EXPECT_EQ(c.replies[0].code, 250);
  EXPECT_EQ(c.replies[0].enhanced, "2.1.0");
  EXPECT_EQ(c.replies[0].lines, std::vector<std::string>{"2.1.0 Sender ok"});
  EXPECT_FALSE(c.replies[0].bare_lf);
  EXPECT_FALSE(c.replies[0].synthetic);
  EXPECT_EQ(parser.buffered(), 0u);
}

TEST(ReplyParserTest, MultiLineSplitAtEveryByte) {
  const std::string input =
      "250-mx.example.net Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"
      "354 End data with <CR><LF>.<CR><LF>\r\n";
  for (std::size_t step = 1; step <= input.size(); ++step) {
    ReplyParser parser;
    Collected c = FeedAll(parser, input, step);
    ASSERT_FALSE(c.error) << c.message << " step " << step;
    ASSERT_EQ(c.replies.size(), 2u) << "step " << step;
    EXPECT_EQ(c.replies[0].code, 250);
    EXPECT_EQ(c.replies[0].lines, (std::vector<std::string>{"mx.example.net Hello", "PIPELINING",
                                                            "SIZE 10240000", "8BITMIME"}));
    EXPECT_EQ(c.replies[0].Text(), "mx.example.net Hello PIPELINING SIZE 10240000 8BITMIME");
    EXPECT_EQ(c.replies[1].code, 354);
    EXPECT_EQ(c.replies[1].enhanced, "");
  }
}

TEST(ReplyParserTest, ConsumedStopsAtEndOfReply) {
  ReplyParser parser;
  std::string input = "250 ok\r\n550 no\r\n";
  std::size_t used = 0;
  ServerReply reply;
  std::string error;
  ASSERT_EQ(parser.Feed(input, &used, &reply, &error), Result::kReply);
  EXPECT_EQ(used, 8u);
  EXPECT_EQ(reply.code, 250);
  ASSERT_EQ(parser.Feed(std::string_view(input).substr(used), &used, &reply, &error),
            Result::kReply);
  EXPECT_EQ(reply.code, 550);
}

TEST(ReplyParserTest, PartialBuffered) {
  ReplyParser parser;
  std::size_t used = 0;
  ServerReply reply;
  std::string error;
  ASSERT_EQ(parser.Feed("250-a\r\n250 b", &used, &reply, &error), Result::kNeedMore);
  EXPECT_EQ(used, 12u);
  EXPECT_EQ(parser.buffered(), 12u);
  ASSERT_EQ(parser.Feed("\r\n", &used, &reply, &error), Result::kReply);
  EXPECT_EQ(parser.buffered(), 0u);
  EXPECT_EQ(reply.Text(), "a b");
}

TEST(ReplyParserTest, EnhancedCodeOnlyWhenWellFormedAndSameClass) {
  struct Case {
    const char* input;
    const char* enhanced;
  } cases[] = {
      {"451 4.3.0 try later\r\n", "4.3.0"},
      {"550 5.1.1\r\n", "5.1.1"},
      {"550 5.100.999 x\r\n", "5.100.999"},
      {"250 5.0.0 odd\r\n", ""},  // class disagrees with the code
      {"250 2.0 short\r\n", ""},
      {"250 2.0.0x\r\n", ""},
      {"250 2.1000.0 x\r\n", ""},
      {"250 ok 2.0.0\r\n", ""},
  };
  for (const Case& c : cases) {
    ReplyParser parser;
    Collected got = FeedAll(parser, c.input, 1000);
    ASSERT_EQ(got.replies.size(), 1u) << c.input;
    EXPECT_EQ(got.replies[0].enhanced, c.enhanced) << c.input;
  }
}

TEST(ReplyParserTest, CodeWithoutTextAndEmptyContinuation) {
  ReplyParser parser;
  Collected c = FeedAll(parser, "250-\r\n250\r\n", 1000);
  ASSERT_FALSE(c.error) << c.message;
  ASSERT_EQ(c.replies.size(), 1u);
  EXPECT_EQ(c.replies[0].lines, (std::vector<std::string>{"", ""}));
}

TEST(ReplyParserTest, BareLfAcceptedButFlagged) {
  ReplyParser parser;
  Collected c = FeedAll(parser, "250-a\n250 b\r\n220 c\r\n", 1);
  ASSERT_FALSE(c.error) << c.message;
  ASSERT_EQ(c.replies.size(), 2u);
  EXPECT_TRUE(c.replies[0].bare_lf);
  EXPECT_EQ(c.replies[0].Text(), "a b");
  EXPECT_FALSE(c.replies[1].bare_lf);
}

TEST(ReplyParserTest, LineCap) {
  std::string ok = "250 " + std::string(ReplyParser::kMaxLineBytes - 4, 'x') + "\r\n";
  std::string too_long = "250 " + std::string(ReplyParser::kMaxLineBytes - 3, 'x') + "\r\n";
  for (std::size_t step : {std::size_t{1}, std::size_t{7}, std::size_t{100000}}) {
    ReplyParser p1;
    Collected c1 = FeedAll(p1, ok, step);
    EXPECT_FALSE(c1.error) << c1.message;
    EXPECT_EQ(c1.replies.size(), 1u);
    ReplyParser p2;
    Collected c2 = FeedAll(p2, too_long, step);
    EXPECT_TRUE(c2.error);
    EXPECT_NE(c2.message.find("line longer"), std::string::npos) << c2.message;
  }
}

TEST(ReplyParserTest, OverlongLineRejectedBeforeItEnds) {
  // A peer that never sends LF must not make us buffer without bound.
  ReplyParser parser;
  std::size_t used = 0;
  ServerReply reply;
  std::string error;
  std::string chunk(1000, 'x');
  ASSERT_EQ(parser.Feed("250 ", &used, &reply, &error), Result::kNeedMore);
  Result r = Result::kNeedMore;
  for (int i = 0; i < 10 && r == Result::kNeedMore; ++i)
    r = parser.Feed(chunk, &used, &reply, &error);
  EXPECT_EQ(r, Result::kError);
  EXPECT_LE(parser.buffered(), ReplyParser::kMaxLineBytes + 2);
}

TEST(ReplyParserTest, ReplyCap) {
  std::string line = "250-" + std::string(1000, 'y') + "\r\n";
  std::string input;
  while (input.size() < ReplyParser::kMaxReplyBytes) input += line;
  input += "250 end\r\n";
  ReplyParser parser;
  Collected c = FeedAll(parser, input, 4096);
  EXPECT_TRUE(c.error);
  EXPECT_NE(c.message.find("reply longer"), std::string::npos) << c.message;
  EXPECT_TRUE(c.replies.empty());

  // Just under the cap is fine.
  std::string small;
  for (int i = 0; i < 60; ++i) small += line;
  small += "250 end\r\n";
  ReplyParser parser2;
  Collected c2 = FeedAll(parser2, small, 4096);
  EXPECT_FALSE(c2.error) << c2.message;
  ASSERT_EQ(c2.replies.size(), 1u);
  EXPECT_EQ(c2.replies[0].lines.size(), 61u);
}

TEST(ReplyParserTest, HostileInputsAreErrors) {
  const char* cases[] = {
      "250-first\r\n550 second\r\n",  // code changes within a multi-line reply
      "hello\r\n",
      "25\r\n",
      "2500 x\r\n",
      "250x\r\n",
      "650 x\r\n",
      "199 x\r\n",
      "260 x\r\n",  // second digit > 5
      "25a x\r\n",
      "\r\n",
      "250 a\rb\r\n",  // CR inside a line
      "250 esc \x1b[31m\r\n",
  };
  for (const char* input : cases) {
    ReplyParser parser;
    Collected c = FeedAll(parser, input, 1000);
    EXPECT_TRUE(c.error) << input;
    EXPECT_TRUE(c.replies.empty()) << input;
    EXPECT_FALSE(c.message.empty());
  }
}

TEST(ReplyParserTest, NulIsAnErrorEvenInAPartialLine) {
  ReplyParser parser;
  std::size_t used = 0;
  ServerReply reply;
  std::string error;
  EXPECT_EQ(parser.Feed(std::string_view("250 a\0b", 7), &used, &reply, &error), Result::kError);
  EXPECT_EQ(error, "NUL byte in reply");
}

TEST(ReplyParserTest, ErrorIsStickyUntilReset) {
  ReplyParser parser;
  std::size_t used = 0;
  ServerReply reply;
  std::string error;
  EXPECT_EQ(parser.Feed("garbage\r\n", &used, &reply, &error), Result::kError);
  EXPECT_TRUE(parser.failed());
  error.clear();
  EXPECT_EQ(parser.Feed("250 ok\r\n", &used, &reply, &error), Result::kError);
  EXPECT_FALSE(error.empty());
  parser.Reset();
  EXPECT_EQ(parser.Feed("250 ok\r\n", &used, &reply, &error), Result::kReply);
  EXPECT_EQ(reply.code, 250);
}

TEST(ReplyParserTest, TabAndEightBitTextAllowed) {
  ReplyParser parser;
  Collected c = FeedAll(parser, "550 5.1.1 <j\xc3\xb6rg@x>\tunknown\r\n", 3);
  ASSERT_FALSE(c.error) << c.message;
  ASSERT_EQ(c.replies.size(), 1u);
  EXPECT_EQ(c.replies[0].Text(), "5.1.1 <j\xc3\xb6rg@x>\tunknown");
}

TEST(ServerReplyTest, LocalReply) {
  ServerReply r = MakeLocalReply(553, "5.6.7", "SMTPUTF8 required");
  EXPECT_TRUE(r.synthetic);
  EXPECT_TRUE(r.permanent());
  EXPECT_EQ(r.Text(), "5.6.7 SMTPUTF8 required");
}

}  // namespace
}  // namespace tidegate::smtp
