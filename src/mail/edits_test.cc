#include "mail/edits.h"

#include <gtest/gtest.h>

#include "mail/headers.h"

namespace tidegate::mail {
namespace {

const std::string kBody = "\r\nbody line\r\nSubject: not a header\r\n";

// Edits that only tag the Subject.
Edits Tag(std::string tag) {
  Edits e;
  e.subject_tag = std::move(tag);
  return e;
}

std::string Apply(std::string_view headers, const Edits& e) {
  return ApplyEdits(headers.empty() ? kBody : std::string(headers) + kBody, e);
}

TEST(Edits, EmptyEditsRenderTheOriginal) {
  const std::string m = "A: 1\r\nSubject: hi\r\n" + kBody;
  const Rendered r = RenderEdits(m, Edits{});
  EXPECT_EQ(r.head, "A: 1\r\nSubject: hi\r\n");
  EXPECT_EQ(r.body_from, 19u);
  EXPECT_EQ(ApplyEdits(m, Edits{}), m);
  EXPECT_TRUE(Edits{}.empty());
}

TEST(Edits, PrependsInOrderAndKeepsTheRestUntouched) {
  Edits e;
  e.prepend = {"X-One: 1", "X-Two: a\r\n\tb"};
  const std::string m = "A: 1\r\n" + kBody;
  const Rendered r = RenderEdits(m, e);
  EXPECT_EQ(r.head, "X-One: 1\r\nX-Two: a\r\n\tb\r\nA: 1\r\n");
  EXPECT_EQ(m.substr(r.body_from), kBody);
  EXPECT_FALSE(e.empty());
}

TEST(Edits, RemovesFieldsByHeaderReaderIndexWithTheirContinuations) {
  const std::string h = "A: 1\r\nB: 2\r\n  folded\r\nbad line\r\nC: 3\r\n";
  // Indexes are those of ParseHeaderFields: A=0, B=1 (its continuation included), C=2.
  ASSERT_EQ(ParseHeaderFields(h).size(), 3u);
  Edits e;
  e.remove = {1, 7, 1};  // out-of-range and repeated indexes are harmless
  EXPECT_EQ(Apply(h, e), "A: 1\r\nbad line\r\nC: 3\r\n" + kBody);
  e.remove = {2, 0};
  EXPECT_EQ(Apply(h, e), "B: 2\r\n  folded\r\nbad line\r\n" + kBody);
}

TEST(Edits, TagsTheSubject) {
  const Edits e = Tag("[SPAM]");
  EXPECT_EQ(Apply("Subject: hello\r\n", e), "Subject: [SPAM] hello\r\n" + kBody);
  EXPECT_EQ(Apply("Subject:hello\r\n", e), "Subject: [SPAM] hello\r\n" + kBody);
  EXPECT_EQ(Apply("subject: \r\n", e), "subject: [SPAM]\r\n" + kBody);
  EXPECT_EQ(Apply("Subject:\r\n", e), "Subject: [SPAM]\r\n" + kBody);
  // Only the first Subject.
  EXPECT_EQ(Apply("Subject: a\r\nSubject: b\r\n", e),
            "Subject: [SPAM] a\r\nSubject: b\r\n" + kBody);
}

TEST(Edits, TagKeepsFoldingAndEncodedWords) {
  const Edits e = Tag("[SPAM]");
  EXPECT_EQ(Apply("Subject:\r\n hello\r\n world\r\n", e),
            "Subject:\r\n [SPAM] hello\r\n world\r\n" + kBody);
  EXPECT_EQ(Apply("Subject: =?UTF-8?B?w6nDqQ==?=\r\n =?UTF-8?Q?=C3=A9?=\r\n", e),
            "Subject: [SPAM] =?UTF-8?B?w6nDqQ==?=\r\n =?UTF-8?Q?=C3=A9?=\r\n" + kBody);
  const std::string out = Apply("Subject:\r\n\thello\r\n", e);
  EXPECT_EQ(FirstHeaderValue(HeaderSection(out), "Subject"), "[SPAM] hello");
}

TEST(Edits, TagNeverStartsALineThatIsNotAContinuation) {
  // ParseHeaderFields joins "garbage" and " more" to the Subject (a continuation after a garbage
  // line extends the last field): the tag must stay on a continuation line.
  const Edits e = Tag("X-Injected: 1");
  const std::string out = Apply("Subject:\r\n \r\ngarbage\r\n more\r\n", e);
  EXPECT_EQ(out, "Subject:\r\n X-Injected: 1\r\ngarbage\r\n more\r\n" + kBody);
  EXPECT_EQ(CountHeaders(HeaderSection(out), "X-Injected"), 0u);
  EXPECT_EQ(ApplyEdits(out, e), out);
}

TEST(Edits, TagIsNotAddedTwice) {
  const Edits e = Tag("[SPAM]");
  EXPECT_EQ(Apply("Subject: [SPAM] hello\r\n", e), "Subject: [SPAM] hello\r\n" + kBody);
  EXPECT_EQ(Apply("Subject: [spam]\r\n", e), "Subject: [spam]\r\n" + kBody);
  EXPECT_EQ(Apply("Subject:\r\n [SPAM]\r\n x\r\n", e), "Subject:\r\n [SPAM]\r\n x\r\n" + kBody);
  // A longer word that merely starts with the tag is not the tag.
  EXPECT_EQ(Apply("Subject: [SPAM]x\r\n", e), "Subject: [SPAM] [SPAM]x\r\n" + kBody);
  const std::string once = Apply("Subject: hi\r\n", e);
  EXPECT_EQ(ApplyEdits(once, e), once);
}

TEST(Edits, AVeryLongFirstLineGetsTheTagOnItsOwnLine) {
  Edits e;
  e.subject_tag = "[SPAM]";
  const std::string long_word(990, 'x');
  const std::string out = Apply("Subject: " + long_word + "\r\n", e);
  EXPECT_EQ(out, "Subject: [SPAM]\r\n " + long_word + "\r\n" + kBody);
}

TEST(Edits, MissingSubjectIsAddedAfterThePrependedFields) {
  Edits e;
  e.subject_tag = "[SPAM]";
  e.prepend = {"X-A: 1"};
  EXPECT_EQ(Apply("From: a@b\r\n", e), "X-A: 1\r\nSubject: [SPAM]\r\nFrom: a@b\r\n" + kBody);
  // A removed Subject does not count: the next kept one is tagged, or one is added.
  e.prepend.clear();
  e.remove = {0};
  EXPECT_EQ(Apply("Subject: a\r\nSubject: b\r\n", e), "Subject: [SPAM] b\r\n" + kBody);
  EXPECT_EQ(Apply("Subject: a\r\n", e), "Subject: [SPAM]\r\n" + kBody);
}

TEST(Edits, MessageWithoutHeadersOrWithoutBody) {
  Edits e;
  e.prepend = {"X-A: 1"};
  e.subject_tag = "[T]";
  // No header section at all: the message starts with the empty line.
  Rendered r = RenderEdits(kBody, e);
  EXPECT_EQ(r.body_from, 0u);
  EXPECT_EQ(ApplyEdits(kBody, e), "X-A: 1\r\nSubject: [T]\r\n" + kBody);
  // Headers only, with and without a final CRLF: nothing after the section.
  EXPECT_EQ(ApplyEdits("Subject: s\r\n", e), "X-A: 1\r\nSubject: [T] s\r\n");
  EXPECT_EQ(ApplyEdits("Subject: s", e), "X-A: 1\r\nSubject: [T] s");
  r = RenderEdits("Subject: s", e);
  EXPECT_EQ(r.body_from, 10u);
  EXPECT_EQ(ApplyEdits("", e), "X-A: 1\r\nSubject: [T]\r\n");
  e.remove = {0};
  EXPECT_EQ(ApplyEdits("Subject: s", e), "X-A: 1\r\nSubject: [T]\r\n");
}

TEST(Edits, OrphanContinuationLinesDoNotFoldIntoAddedFields) {
  Edits e;
  e.prepend = {"X-A: 1"};
  const std::string out = Apply(" ; dmarc=pass\r\ngarbage\r\n\tmore\r\nB: 2\r\n", e);
  EXPECT_EQ(out, "X-A: 1\r\ngarbage\r\nB: 2\r\n" + kBody);
  EXPECT_EQ(FirstHeaderValue(HeaderSection(out), "X-A"), "1");
  // Nothing added at the top: kept as they are.
  e.prepend.clear();
  e.remove = {0};
  EXPECT_EQ(Apply(" orphan\r\nB: 2\r\n", e), " orphan\r\n" + kBody);
}

TEST(Edits, MalformedPrependFieldsAndTagsCannotBreakTheHeaderSection) {
  Edits e;
  e.prepend = {"X-Ok: 1",     "X-Bad: a\r\n\r\nInjected: 1", "no colon", ": no name", "X: a\n b",
               "X-End: a\r\n"};
  e.subject_tag = "[A]\r\n\r\nB";
  EXPECT_FALSE(e.valid());
  const std::string out = Apply("Subject: s\r\n", e);
  EXPECT_EQ(out, "X-Ok: 1\r\nSubject: [A]    B s\r\n" + kBody);
}

TEST(Edits, WellFormedFields) {
  EXPECT_TRUE(IsWellFormedField("A: b"));
  EXPECT_TRUE(IsWellFormedField("A:"));
  EXPECT_TRUE(IsWellFormedField("A: b\r\n\tc\r\n d"));
  EXPECT_TRUE(IsWellFormedField("A: \xc3\xa9"));
  EXPECT_FALSE(IsWellFormedField("A: b\r\nc"));
  EXPECT_FALSE(IsWellFormedField("A: b\r\n"));
  EXPECT_FALSE(IsWellFormedField("A: b\rc"));
  EXPECT_FALSE(IsWellFormedField(std::string("A: b\0c", 6)));
  EXPECT_FALSE(IsWellFormedField("A b: c"));
  EXPECT_FALSE(IsWellFormedField(""));
}

TEST(Edits, SerializationRoundTripsAndIsStrict) {
  Edits e;
  e.prepend = {"Authentication-Results: gw;\r\n spf=pass", std::string("X: \xff\x80", 5)};
  e.remove = {3, 0, 4000000000u};
  e.subject_tag = "[SUSPECTED SPAM]";
  const std::string bytes = SerializeEdits(e);
  auto back = ParseEdits(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, e);
  auto empty = ParseEdits(SerializeEdits(Edits{}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(SerializeEdits(Edits{}), std::string("\x01\0\0\0\0\0\0\0\0\0\0\0\0", 13));

  EXPECT_FALSE(ParseEdits("").ok());
  EXPECT_FALSE(ParseEdits("\x02" + bytes.substr(1)).ok());
  EXPECT_FALSE(ParseEdits(bytes + "x").ok());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(ParseEdits(bytes.substr(0, n)).ok()) << n;
  }
  // A huge count in a short input is an error, not an allocation.
  EXPECT_FALSE(ParseEdits(std::string("\x01\xff\xff\xff\xff", 5)).ok());
  Edits bad;
  bad.prepend = {"X: a\r\n\r\nY: b"};
  EXPECT_FALSE(ParseEdits(SerializeEdits(bad)).ok());
  bad.prepend.clear();
  bad.subject_tag = "a\nb";
  EXPECT_FALSE(ParseEdits(SerializeEdits(bad)).ok());
}

}  // namespace
}  // namespace tidegate::mail
