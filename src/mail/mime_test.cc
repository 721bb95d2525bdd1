#include "mail/mime.h"

#include <gtest/gtest.h>

#include "mail/headers.h"

namespace tidegate::mail {
namespace {

using std::chrono::seconds;

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find("\r\n", pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.emplace_back(text.substr(pos, nl - pos));
    pos = nl + 2;
  }
  return lines;
}

TEST(Mime, DateIsRfc5322InUtc) {
  EXPECT_EQ(FormatRfc5322Date(base::SystemTime(seconds(1708118362))),
            "Fri, 16 Feb 2024 21:19:22 +0000");
  EXPECT_EQ(FormatRfc5322Date(base::SystemTime(seconds(0))), "Thu, 1 Jan 1970 00:00:00 +0000");
}

TEST(Mime, Sanitizers) {
  EXPECT_EQ(SanitizeLine(std::string("a\r\nb\0c\xc3\xa9", 8)), "a  b c\xc3\xa9");
  EXPECT_EQ(SanitizeAscii("x\x01y\tz\x7f\xc3\xa9"), "x y\tz ??");
  EXPECT_TRUE(HasEightBit("caf\xc3\xa9"));
  EXPECT_TRUE(HasEightBit(std::string_view("a\0b", 3)));
  EXPECT_FALSE(HasEightBit("plain ascii\r\n"));
}

TEST(Mime, FoldHeaderKeepsLinesShortAndUnfoldsToTheValue) {
  std::string value;
  for (int i = 0; i < 40; ++i) value += "word" + std::to_string(i) + " ";
  value += "end";
  const std::string field = FoldHeader("Subject", value);
  ASSERT_TRUE(field.ends_with("\r\n"));
  const auto lines = Lines(field);
  EXPECT_GT(lines.size(), 3u);
  for (const auto& line : lines) EXPECT_LE(line.size(), 78u) << line;
  for (std::size_t i = 1; i < lines.size(); ++i) EXPECT_EQ(lines[i][0], ' ');
  EXPECT_EQ(FirstHeaderValue(field, "subject"), value);
}

TEST(Mime, FoldHeaderSplitsAnOverlongWordWithoutBreakingUtf8) {
  std::string value = "x";
  for (int i = 0; i < 1500; ++i) value += "\xc3\xa9";  // 3001 octets, no white space
  const std::string field = FoldHeader("Subject", "a\r\nb " + value);
  const auto lines = Lines(field);
  ASSERT_GE(lines.size(), 4u);
  for (const auto& line : lines) {
    EXPECT_LE(line.size(), 998u);
    // No line starts or ends in the middle of a two-octet sequence.
    EXPECT_NE(static_cast<unsigned char>(line.back()), 0xC3);
  }
  EXPECT_EQ(field.find("a\r\nb"), std::string::npos);  // CR LF from the value were replaced
  EXPECT_TRUE(field.starts_with("Subject: a  b\r\n x"));
}

TEST(Mime, BoundaryAvoidsTheContent) {
  const std::string first = ChooseBoundary(42, {"nothing here"});
  EXPECT_EQ(first, ChooseBoundary(42, {"other content"}));  // deterministic in the seed
  EXPECT_LE(first.size(), 70u);
  const std::string content = "line\r\n--" + first + "\r\nmore";
  const std::string second = ChooseBoundary(42, {"", content});
  EXPECT_NE(second, first);
  EXPECT_EQ(content.find(second), std::string::npos);
  const std::string both = content + second;
  const std::string third = ChooseBoundary(42, {both});
  EXPECT_NE(third, first);
  EXPECT_NE(third, second);
}

TEST(Mime, MessageIdsAreUniqueAndWellFormed) {
  const base::SystemTime t(seconds(1708118362));
  const std::string a = NewMessageId("gw.example.com", t, 7);
  const std::string b = NewMessageId("gw.example.com", t, 7);
  EXPECT_NE(a, b);
  EXPECT_TRUE(a.starts_with("<20240216211922.7.")) << a;
  EXPECT_TRUE(a.ends_with("@gw.example.com>")) << a;
  EXPECT_EQ(NewMessageId("bad host\r\n", t, 1).find_first_of(" \r\n"), std::string::npos);
}

TEST(Mime, QuotedPrintableRoundTrip) {
  std::string text = "Subject: caf\xc3\xa9 = 100%  \r\n";
  text += std::string(300, 'x') + "\r\nlast line with trailing tab\t";
  const std::string qp = EncodeQuotedPrintable(text);
  for (const auto& line : Lines(qp)) EXPECT_LE(line.size(), 76u);
  EXPECT_FALSE(HasEightBit(qp));
  EXPECT_NE(qp.find("caf=C3=A9 =3D 100%"), std::string::npos) << qp;
  EXPECT_NE(qp.find("=20\r\n"), std::string::npos);  // trailing space made visible
  EXPECT_EQ(DecodeQuotedPrintable(qp), text);
  EXPECT_EQ(DecodeQuotedPrintable("a=3d=\nb=zz=4"), "a=b=zz=4");
}

TEST(Mime, Base64) {
  EXPECT_EQ(DecodeBase64("aGVs\r\nbG8="), "hello");
  EXPECT_EQ(DecodeBase64("!!!"), "");
}

TEST(Mime, ContentTypeParameters) {
  ContentType ct = ParseContentType("Multipart/Mixed; charset=x;\r\n\tBOUNDARY=\"a \\\"b\\\" c\"");
  EXPECT_TRUE(ct.Is("multipart", "mixed"));
  EXPECT_EQ(ct.Param("boundary"), "a \"b\" c");
  EXPECT_EQ(ct.Param("charset"), "x");
  ct = ParseContentType("multipart/report (comment); report-type=delivery-status; boundary=abc");
  EXPECT_TRUE(ct.Is("multipart", "report"));
  EXPECT_EQ(ct.Param("boundary"), "abc");
  EXPECT_EQ(ct.Param("report-type"), "delivery-status");
  ct = ParseContentType("multipart/mixed; boundary=\"unterminated");
  EXPECT_EQ(ct.Param("boundary"), "");
  ct = ParseContentType("");
  EXPECT_EQ(ct.type, "");
  ct = ParseContentType("a/b (unterminated \\");  // found by headers_fuzz: read past the end
  EXPECT_TRUE(ct.Is("a", "b"));
}

TEST(Mime, SplitMultipartGivesExactParts) {
  const std::string body =
      "preamble\r\n"
      "--b\r\n"
      "Content-Type: text/plain\r\n\r\n"
      "one\r\n"
      "--bb not a delimiter\r\n"
      "--b-- not a close either\r\n"
      "\r\n"
      "--b  \r\n"
      "\r\n"
      "two\r\n"
      "--b--\r\n"
      "epilogue\r\n";
  const Multipart mp = SplitMultipart(body, "b", 10);
  ASSERT_EQ(mp.parts.size(), 2u);
  EXPECT_TRUE(mp.closed);
  EXPECT_EQ(mp.parts[0].headers, "Content-Type: text/plain\r\n");
  EXPECT_EQ(mp.parts[0].body, "one\r\n--bb not a delimiter\r\n--b-- not a close either\r\n");
  EXPECT_EQ(mp.parts[1].headers, "");
  EXPECT_TRUE(mp.parts[1].has_separator);
  EXPECT_EQ(mp.parts[1].body, "two");
}

TEST(Mime, SplitMultipartToleratesLfAndTruncation) {
  Multipart mp = SplitMultipart("--b\nA: 1\n\nx\n--b\nB: 2\n\ny", "b", 10);
  ASSERT_EQ(mp.parts.size(), 1u);  // the second part is never ended
  EXPECT_FALSE(mp.closed);
  EXPECT_EQ(mp.parts[0].body, "x");
  mp = SplitMultipart("--b\r\n--b\r\n--b--", "b", 10);
  ASSERT_EQ(mp.parts.size(), 2u);
  EXPECT_EQ(mp.parts[0].body, "");
  mp = SplitMultipart("--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b\r\n\r\n3\r\n--b--", "b", 2);
  EXPECT_EQ(mp.parts.size(), 2u);
  EXPECT_EQ(SplitMultipart("no delimiters at all", "b", 10).parts.size(), 0u);
  EXPECT_EQ(SplitMultipart("--\r\n--\r\n", "", 10).parts.size(), 0u);
}

TEST(Mime, BodyOf) {
  EXPECT_EQ(BodyOf("A: 1\r\n\r\nbody\r\n"), "body\r\n");
  EXPECT_EQ(BodyOf("\r\nbody"), "body");
  EXPECT_EQ(BodyOf("A: 1\r\nno separator"), "");
}

}  // namespace
}  // namespace tidegate::mail
