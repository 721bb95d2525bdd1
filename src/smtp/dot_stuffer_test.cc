#include "smtp/dot_stuffer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tidegate::smtp {
namespace {

// What a strict RFC 5321 server does with the DATA stream: split at CRLF, stop at the lone ".",
// remove one leading dot. Returns false if the stream is not a well-formed, terminated one
// (bare CR or LF, no terminator, bytes after it).
bool Unstuff(std::string_view wire, std::string* body) {
  body->clear();
  std::size_t pos = 0;
  while (pos < wire.size()) {
    std::size_t end = wire.find("\r\n", pos);
    if (end == std::string_view::npos) return false;
    std::string_view line = wire.substr(pos, end - pos);
    if (line.find_first_of("\r\n") != std::string_view::npos) return false;
    pos = end + 2;
    if (line == ".") return pos == wire.size();
    if (!line.empty() && line[0] == '.') line.remove_prefix(1);
    body->append(line);
    body->append("\r\n");
  }
  return false;
}

const std::vector<std::string>& Bodies() {
  static const std::vector<std::string> bodies = {
      "",
      "a",
      "\r\n",
      ".",
      ".\r\n",
      "..\r\n",
      "Subject: x\r\n\r\nhello\r\n.\r\nworld\r\n",
      ".starts\r\n.\r\n..\r\nmid.dle\r\nend.",
      "no final line end",
      "bare\nlf\n.dot\n",
      "bare\rcr\r.dot\r",
      "\r\r\n\n.\r.\n.",
  };
  return bodies;
}

TEST(DotStuffTest, KnownOutputs) {
  EXPECT_EQ(DotStuff(""), ".\r\n");
  EXPECT_EQ(DotStuff("a\r\n"), "a\r\n.\r\n");
  EXPECT_EQ(DotStuff("a"), "a\r\n.\r\n");
  EXPECT_EQ(DotStuff("a\r\nb"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(DotStuff(".a\r\n..b\r\n.\r\nc.d\r\n"), "..a\r\n...b\r\n..\r\nc.d\r\n.\r\n");
  EXPECT_EQ(DotStuff("x\r\n."), "x\r\n..\r\n.\r\n");
  // Bare line ends become CRLF, so "\n.\n" can never end the message at a lenient next hop.
  EXPECT_EQ(DotStuff("a\n.\nb"), "a\r\n..\r\nb\r\n.\r\n");
  EXPECT_EQ(DotStuff("a\r.\rb"), "a\r\n..\r\nb\r\n.\r\n");
  EXPECT_EQ(DotStuff("a\r"), "a\r\n.\r\n");
}

TEST(DotStuffTest, RoundTripsThroughAStrictServer) {
  for (const std::string& body : Bodies()) {
    std::string wire = DotStuff(body);
    std::string back;
    ASSERT_TRUE(Unstuff(wire, &back)) << "body: " << testing::PrintToString(body);
    // The server sees the body with every line end as CRLF and a final CRLF.
    std::string expected;
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (body[i] == '\r') {
        expected += "\r\n";
        if (i + 1 < body.size() && body[i + 1] == '\n') ++i;
      } else if (body[i] == '\n') {
        expected += "\r\n";
      } else {
        expected += body[i];
      }
    }
    bool ends_crlf = expected.size() >= 2 && expected.compare(expected.size() - 2, 2, "\r\n") == 0;
    if (!expected.empty() && !ends_crlf) expected += "\r\n";
    EXPECT_EQ(back, expected) << "body: " << testing::PrintToString(body);
  }
}

std::string StuffInChunks(std::string_view body, const std::vector<std::size_t>& cuts) {
  DotStuffer stuffer;
  std::string out;
  std::size_t prev = 0;
  for (std::size_t cut : cuts) {
    stuffer.Feed(body.substr(prev, cut - prev), &out);
    prev = cut;
  }
  stuffer.Feed(body.substr(prev), &out);
  stuffer.Finish(&out);
  return out;
}

TEST(DotStufferTest, EveryTwoAndThreeWaySplitMatchesDotStuff) {
  for (const std::string& body : Bodies()) {
    const std::string expected = DotStuff(body);
    for (std::size_t a = 0; a <= body.size(); ++a) {
      ASSERT_EQ(StuffInChunks(body, {a}), expected) << testing::PrintToString(body) << " @" << a;
      for (std::size_t b = a; b <= body.size(); ++b) {
        ASSERT_EQ(StuffInChunks(body, {a, b}), expected)
            << testing::PrintToString(body) << " @" << a << "," << b;
      }
    }
  }
}

TEST(DotStufferTest, ByteByByteMatchesDotStuff) {
  for (const std::string& body : Bodies()) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < body.size(); ++i) cuts.push_back(i);
    EXPECT_EQ(StuffInChunks(body, cuts), DotStuff(body)) << testing::PrintToString(body);
  }
}

TEST(DotStufferTest, LargeBodyInUnevenChunks) {
  std::string body;
  for (int i = 0; i < 5000; ++i) {
    body += (i % 7 == 0 ? "." : "") + std::string(static_cast<std::size_t>(i % 90), 'q') + "\r\n";
  }
  std::vector<std::size_t> cuts;
  for (std::size_t pos = 13; pos < body.size(); pos += 1 + (pos * 31) % 997) cuts.push_back(pos);
  const std::string expected = DotStuff(body);
  EXPECT_EQ(StuffInChunks(body, cuts), expected);
  std::string back;
  ASSERT_TRUE(Unstuff(expected, &back));
  EXPECT_EQ(back, body);
}

}  // namespace
}  // namespace tidegate::smtp
