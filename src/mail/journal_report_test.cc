#include "mail/journal_report.h"

#include <gtest/gtest.h>

#include "mail/headers.h"
#include "mail/mime.h"

namespace tidegate::mail {
namespace {

using std::chrono::seconds;

const char kPlain[] =
    "Received: from client.example.org ([192.0.2.7])\r\n"
    "\tby gw.example.com with ESMTP id 77; Fri, 16 Feb 2024 21:19:22 +0000\r\n"
    "X-IronPort-RemoteIP: 192.0.2.7\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.com\r\n"
    "Subject: quarterly numbers\r\n"
    "Message-ID: <q1@example.org>\r\n"
    "\r\n"
    "Hello Bob.\r\n";

JournalInput SampleInput(std::string_view original) {
  JournalInput in;
  in.reporting_host = "gw.example.com";
  in.sender = "alice@example.org";
  in.recipients = {"bob@example.com", "carol@sales.example.com"};
  in.subject = "quarterly numbers";
  in.message_id = "<q1@example.org>";
  in.original = original;
  in.now = base::SystemTime(seconds(1708118362));
  in.original_mid = 77;
  return in;
}

// Builds, parses back, and checks every field; the original must come back byte for byte.
ParsedJournal RoundTrip(const JournalInput& in) {
  const std::string report = BuildJournalReport(in);
  ParsedJournal parsed = ParseJournalReport(report);
  EXPECT_TRUE(parsed.is_journal);
  EXPECT_EQ(parsed.original.size(), in.original.size());
  EXPECT_TRUE(parsed.original == in.original) << "embedded original differs";
  EXPECT_EQ(parsed.sender, in.sender);
  EXPECT_EQ(parsed.recipients, in.recipients);
  EXPECT_EQ(parsed.subject, SanitizeLine(in.subject));
  EXPECT_EQ(parsed.message_id, SanitizeLine(in.message_id));
  return parsed;
}

std::string BoundaryOf(std::string_view report) {
  return ParseContentType(FirstHeaderValue(HeaderSection(report), "Content-Type").value_or(""))
      .Param("boundary");
}

TEST(JournalReport, Layout) {
  const std::string report = BuildJournalReport(SampleInput(kPlain));
  const std::string_view headers = HeaderSection(report);
  EXPECT_EQ(FirstHeaderValue(headers, "From"),
            "Threat Defense Connector <postmaster@gw.example.com>");
  EXPECT_EQ(FirstHeaderValue(headers, "To"), "undisclosed-recipients:;");
  EXPECT_EQ(FirstHeaderValue(headers, "Subject"), "Journal Report: quarterly numbers");
  EXPECT_EQ(FirstHeaderValue(headers, "Date"), "Fri, 16 Feb 2024 21:19:22 +0000");
  EXPECT_EQ(FirstHeaderValue(headers, "MIME-Version"), "1.0");
  EXPECT_EQ(CountHeaders(headers, "X-MS-Journal-Report"), 1u);
  EXPECT_EQ(CountHeaders(headers, "Message-ID"), 1u);
  const ContentType ct = ParseContentType(*FirstHeaderValue(headers, "Content-Type"));
  EXPECT_TRUE(ct.Is("multipart", "mixed"));
  const std::string b = ct.Param("boundary");
  // The exact wire form of both parts (Exchange's envelope-journal layout).
  const std::string expected_body = "--" + b +
                                    "\r\n"
                                    "Content-Type: text/plain; charset=utf-8\r\n"
                                    "Content-Transfer-Encoding: 7bit\r\n"
                                    "\r\n"
                                    "Sender: alice@example.org\r\n"
                                    "Subject: quarterly numbers\r\n"
                                    "Message-Id: <q1@example.org>\r\n"
                                    "To: bob@example.com\r\n"
                                    "To: carol@sales.example.com\r\n"
                                    "\r\n"
                                    "--" +
                                    b +
                                    "\r\n"
                                    "Content-Type: message/rfc822\r\n"
                                    "\r\n" +
                                    kPlain +
                                    "\r\n"
                                    "--" +
                                    b + "--\r\n";
  EXPECT_TRUE(std::string_view(report).ends_with(expected_body)) << report;
  RoundTrip(SampleInput(kPlain));
}

TEST(JournalReport, EightBitBody) {
  const std::string original = std::string(kPlain) +
                               "Gr\xc3\xbc\xc3\x9f"
                               "e\r\n\xff\xfe raw\r\n";
  JournalInput in = SampleInput(original);
  in.subject =
      "Gr\xc3\xbc\xc3\x9f"
      "e aus M\xc3\xbcnchen";
  const std::string report = BuildJournalReport(in);
  EXPECT_NE(report.find("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n"),
            std::string::npos);
  RoundTrip(in);
}

TEST(JournalReport, MultipartOriginalWithItsOwnBoundaries) {
  const std::string original =
      "From: a@example.org\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"inner\"\r\n"
      "\r\n"
      "--inner\r\n"
      "Content-Type: message/rfc822\r\n"
      "\r\n"
      "Content-Type: multipart/alternative; boundary=deeper\r\n"
      "\r\n"
      "--deeper\r\n"
      "\r\n"
      "text\r\n"
      "--deeper--\r\n"
      "--inner--\r\n";
  RoundTrip(SampleInput(original));
}

TEST(JournalReport, OriginalContainingOurBoundaryCandidate) {
  JournalInput in = SampleInput(kPlain);
  const std::string candidate = BoundaryOf(BuildJournalReport(in));
  ASSERT_FALSE(candidate.empty());
  // Same MID/time/host, so the builder's first candidate is the one the original now contains.
  const std::string original =
      std::string(kPlain) + "--" + candidate + "\r\n" + "after\r\n" + "--" + candidate + "--\r\n";
  in.original = original;
  const std::string report = BuildJournalReport(in);
  EXPECT_NE(BoundaryOf(report), candidate);
  RoundTrip(in);
}

TEST(JournalReport, EmptyRecipientListAndNullSender) {
  JournalInput in = SampleInput(kPlain);
  in.recipients.clear();
  in.sender = "";
  const std::string report = BuildJournalReport(in);
  const std::size_t sender = report.find("\r\nSender: <>\r\n");
  ASSERT_NE(sender, std::string::npos);
  const std::size_t part2 = report.find("Content-Type: message/rfc822");
  ASSERT_NE(part2, std::string::npos);
  const std::string part1 = report.substr(sender, part2 - sender);
  EXPECT_EQ(part1.find("\r\nTo: "), std::string::npos) << part1;  // no envelope recipient line
  RoundTrip(in);
}

TEST(JournalReport, ThousandRecipients) {
  JournalInput in = SampleInput(kPlain);
  in.recipients.clear();
  for (int i = 0; i < 1000; ++i)
    in.recipients.push_back("user" + std::to_string(i) + "@example.com");
  const ParsedJournal parsed = RoundTrip(in);
  ASSERT_EQ(parsed.recipients.size(), 1000u);
  EXPECT_EQ(parsed.recipients[999], "user999@example.com");
}

TEST(JournalReport, HostileValuesStayOnOneLine) {
  JournalInput in = SampleInput(kPlain);
  in.subject = "evil\r\nTo: attacker@example.net\r\n";
  in.subject.push_back('\0');
  in.message_id = "<id@x>\nTo: second@example.net";
  const std::string report = BuildJournalReport(in);
  const ParsedJournal parsed = RoundTrip(in);
  EXPECT_EQ(parsed.recipients.size(), 2u);  // no injected recipient
  EXPECT_EQ(parsed.subject, "evil  To: attacker@example.net   ");
  EXPECT_EQ(CountHeaders(HeaderSection(report), "To"), 1u);
}

TEST(JournalReport, LongSubjectUsesQuotedPrintableAndStaysOneLogicalLine) {
  JournalInput in = SampleInput(kPlain);
  in.subject = "";
  for (int i = 0; i < 400; ++i) in.subject += "M\xc3\xbcnchen ";  // ~3600 octets, trailing space
  const std::string report = BuildJournalReport(in);
  EXPECT_NE(report.find("Content-Transfer-Encoding: quoted-printable"), std::string::npos);
  std::size_t pos = 0;
  while (pos < report.size()) {  // every line the builder wrote is within SMTP's limit
    std::size_t nl = report.find("\r\n", pos);
    ASSERT_NE(nl, std::string::npos);
    ASSERT_LE(nl - pos, 998u);
    pos = nl + 2;
  }
  RoundTrip(in);
}

TEST(JournalReport, EdgeOriginals) {
  RoundTrip(SampleInput(""));
  RoundTrip(SampleInput("No-Final-CRLF: yes\r\n\r\nbody"));
  RoundTrip(SampleInput("\r\n\r\n\r\n"));
  RoundTrip(SampleInput("Bare: lf\n\nbody\n--\n--=_tidegate_\r\n"));
}

TEST(JournalReport, ParsesUnquotedBoundaryAndLfLineEnds) {
  const std::string report =
      "x-ms-journal-report: \n"
      "content-type: Multipart/Mixed; BOUNDARY=zz\n"
      "\n"
      "--zz\n"
      "\n"
      "sender: <s@example.org>\n"
      "subject: hi\n"
      "to: a@example.com, Expanded: list@example.com\n"
      "cc: <b@example.com>\n"
      "--zz\n"
      "content-type: message/rfc822\n"
      "\n"
      "Subject: hi\n\nbody\n"
      "--zz--\n";
  const ParsedJournal parsed = ParseJournalReport(report);
  ASSERT_TRUE(parsed.is_journal);
  EXPECT_EQ(parsed.sender, "s@example.org");
  EXPECT_EQ(parsed.subject, "hi");
  EXPECT_EQ(parsed.recipients, (std::vector<std::string>{"a@example.com", "b@example.com"}));
  EXPECT_EQ(parsed.original, "Subject: hi\n\nbody");
}

TEST(JournalReport, RejectsWhatIsNotAJournalReport) {
  const std::string good = BuildJournalReport(SampleInput(kPlain));
  EXPECT_TRUE(ParseJournalReport(good).is_journal);
  EXPECT_FALSE(ParseJournalReport(kPlain).is_journal);
  EXPECT_FALSE(ParseJournalReport("").is_journal);
  // Truncated anywhere before the delimiter that ends part 2.
  const std::size_t end_of_part2 = good.rfind("\r\n--");
  for (std::size_t cut : {std::size_t{10}, good.size() / 2, end_of_part2}) {
    EXPECT_FALSE(ParseJournalReport(std::string_view(good).substr(0, cut)).is_journal) << cut;
  }
  // Without the marker header.
  std::string unmarked = good;
  unmarked.replace(unmarked.find("X-MS-Journal-Report:"), 20, "X-Other-Header-Name:");
  EXPECT_FALSE(ParseJournalReport(unmarked).is_journal);
  // A boundary parameter that matches nothing.
  std::string wrong = good;
  const std::string b = BoundaryOf(good);
  wrong.replace(wrong.find(b), b.size(), "nomatch");
  EXPECT_FALSE(ParseJournalReport(wrong).is_journal);
  // Part 2 is not message/rfc822.
  std::string typed = good;
  typed.replace(typed.find("message/rfc822"), 14, "text/plain;x=1");
  EXPECT_FALSE(ParseJournalReport(typed).is_journal);
  // Relays may add trace fields, but not a megabyte of them.
  std::string padded = "Received: from relay.example.net\r\n" + good;
  EXPECT_TRUE(ParseJournalReport(padded).is_journal);
  std::string pad;
  for (int i = 0; i < 60000; ++i) pad += "X-Pad: 0123456789\r\n";
  padded = pad + padded;
  EXPECT_FALSE(ParseJournalReport(padded).is_journal);
  // Huge garbage: bounded and not a report.
  std::string garbage(4 << 20, '-');
  EXPECT_FALSE(ParseJournalReport(garbage).is_journal);
  EXPECT_FALSE(ParseJournalReport("X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; "
                                  "boundary=\"\"\r\n\r\n--\r\n--\r\n--\r\n")
                   .is_journal);
}

}  // namespace
}  // namespace tidegate::mail
