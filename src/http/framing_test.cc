#include "http/framing.h"

#include <gtest/gtest.h>

#include <string>

namespace tidegate::http {
namespace {

constexpr const char* kLine = "POST /api/v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n";

Verdict FrameOf(const std::string& head, Limits limits = {}) { return Frame(head, limits); }

struct Hostile {
  const char* what;
  std::string head;
  int status;
};

TEST(Framing, RefusesEveryHostileHeadAndSaysWhy) {
  const std::string line = kLine;
  const Hostile cases[] = {
      // Transfer-Encoding other than exactly `chunked` (request smuggling), with and without CL.
      {"TE gzip", line + "Transfer-Encoding: gzip\r\n\r\n", 400},
      {"TE identity", line + "Transfer-Encoding: identity\r\n\r\n", 400},
      {"TE xchunked", line + "Transfer-Encoding: xchunked\r\n\r\n", 400},
      {"TE chunked, identity", line + "Transfer-Encoding: chunked, identity\r\n\r\n", 400},
      {"TE gzip, chunked", line + "Transfer-Encoding: gzip, chunked\r\n\r\n", 400},
      {"TE chunked;x", line + "Transfer-Encoding: chunked;x=1\r\n\r\n", 400},
      {"TE empty", line + "Transfer-Encoding: \r\n\r\n", 400},
      {"TE gzip + CL", line + "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n", 400},
      {"TE identity + CL", line + "Content-Length: 5\r\nTransfer-Encoding: identity\r\n\r\n", 400},
      {"two TE fields", line + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"CL + TE chunked", line + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"TE chunked + CL", line + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400},
      {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      // Content-Length.
      {"two CL differing", line + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
      {"two CL equal", line + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400},
      {"CL list", line + "Content-Length: 5, 5\r\n\r\n", 400},
      {"CL sign", line + "Content-Length: +5\r\n\r\n", 400},
      {"CL negative", line + "Content-Length: -1\r\n\r\n", 400},
      {"CL hex", line + "Content-Length: 0x10\r\n\r\n", 400},
      {"CL empty", line + "Content-Length:\r\n\r\n", 400},
      {"CL overflow", line + "Content-Length: 99999999999999999999999\r\n\r\n", 400},
      {"CL over max_body", line + "Content-Length: 1048577\r\n\r\n", 413},
      // Field syntax.
      {"space before colon", line + "Transfer-Encoding : chunked\r\n\r\n", 400},
      {"tab before colon", line + "Content-Length\t: 5\r\n\r\n", 400},
      {"obs-fold", line + "X-A: b\r\n c\r\n\r\n", 400},
      {"obs-fold hiding TE", line + "X-A: b\r\n\tTransfer-Encoding: chunked\r\n\r\n", 400},
      {"no colon", line + "Transfer-Encoding chunked\r\n\r\n", 400},
      {"empty name", line + ": x\r\n\r\n", 400},
      {"bare LF", line + "X-A: b\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"bare CR", line + "X-A: b\rTransfer-Encoding: chunked\r\n\r\n", 400},
      {"NUL in value", line + std::string("X-A: b\0c\r\n\r\n", 12), 400},
      {"DEL in value", line + "X-A: b\x7f\r\n\r\n", 400},
      // Request line.
      {"empty line first", "\r\n" + line + "\r\n", 400},
      {"no target", "GET HTTP/1.1\r\n\r\n", 400},
      {"two spaces", "GET  / HTTP/1.1\r\n\r\n", 400},
      {"HTTP/9.9", "GET / HTTP/9.9\r\n\r\n", 400},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
      {"lower-case version", "GET / http/1.1\r\n\r\n", 400},
      {"TLS hello", std::string("\x16\x03\x01\x02\x00 hello\r\n\r\n", 15), 400},
      {"control in target", "GET /a\x01 HTTP/1.1\r\n\r\n", 400},
      {"trailing space", "GET / HTTP/1.1 \r\n\r\n", 400},
      // Size.
      {"big header", line + "X-Big: " + std::string(20000, 'a') + "\r\n\r\n", 431},
      {"no end, over the limit", line + "X-Big: " + std::string(20000, 'a'), 431},
  };
  for (const Hostile& c : cases) {
    Verdict v = FrameOf(c.head);
    EXPECT_TRUE(v.refused()) << c.what;
    EXPECT_EQ(v.status, c.status) << c.what;
    EXPECT_FALSE(v.reason.empty()) << c.what;
    // The same bytes give the same verdict, and more bytes after a bad head change nothing.
    Verdict again = FrameOf(c.head + "GET /second HTTP/1.1\r\n\r\n");
    EXPECT_EQ(again.status, c.status) << c.what;
  }
}

TEST(Framing, AcceptsOrdinaryRequestsWithTheirBodyFraming) {
  Verdict get = FrameOf("GET /x?y=1 HTTP/1.1\r\nHost: h\r\n\r\nnext");
  ASSERT_TRUE(get.accepted()) << get.reason;
  EXPECT_EQ(get.head_size, std::string("GET /x?y=1 HTTP/1.1\r\nHost: h\r\n\r\n").size());
  EXPECT_EQ(get.body, Body::kNone);
  EXPECT_EQ(get.version, 11u);

  Verdict length = FrameOf(std::string(kLine) + "content-LENGTH:  12 \t\r\n\r\n");
  ASSERT_TRUE(length.accepted()) << length.reason;
  EXPECT_EQ(length.body, Body::kLength);
  EXPECT_EQ(length.content_length, 12u);

  Verdict zero = FrameOf(std::string(kLine) + "Content-Length: 0\r\n\r\n");
  ASSERT_TRUE(zero.accepted());
  EXPECT_EQ(zero.body, Body::kNone);

  for (const char* te : {"chunked", "Chunked", "CHUNKED", " chunked\t"}) {
    Verdict chunked = FrameOf(std::string(kLine) + "Transfer-Encoding:" + te + "\r\n\r\n");
    ASSERT_TRUE(chunked.accepted()) << te;
    EXPECT_EQ(chunked.body, Body::kChunked) << te;
  }

  Verdict old = FrameOf("GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(old.accepted());
  EXPECT_EQ(old.version, 10u);

  // Values may carry obs-text and tabs; the limit is inclusive.
  EXPECT_TRUE(FrameOf(std::string(kLine) + "X-A: caf\xc3\xa9\tb\r\n\r\n").accepted());
  std::string exact = std::string(kLine) + "X-Pad: ";
  exact += std::string(100 - exact.size() - 4, 'p') + "\r\n\r\n";
  ASSERT_EQ(exact.size(), 100u);
  EXPECT_TRUE(FrameOf(exact, Limits{.max_header_bytes = 100}).accepted());
  EXPECT_EQ(FrameOf(exact, Limits{.max_header_bytes = 99}).status, 431);
  EXPECT_TRUE(FrameOf(std::string(kLine) + "Content-Length: 10\r\n\r\n", Limits{.max_body = 10})
                  .accepted());
}

TEST(Framing, WaitsForTheWholeHeadUntilTheLimit) {
  EXPECT_EQ(FrameOf("").kind, Verdict::Kind::kNeedMore);
  EXPECT_EQ(FrameOf("GET / HTTP/1.1\r\nHost: h\r\n").kind, Verdict::Kind::kNeedMore);
  EXPECT_EQ(FrameOf("GET / HTTP/1.1\r\nHost: h\r\n\r").kind, Verdict::Kind::kNeedMore);
  EXPECT_EQ(FrameOf(std::string(100, 'a'), Limits{.max_header_bytes = 100}).kind,
            Verdict::Kind::kNeedMore);
  EXPECT_EQ(FrameOf(std::string(101, 'a'), Limits{.max_header_bytes = 100}).status, 431);
}

}  // namespace
}  // namespace tidegate::http
