#include "mail/dsn.h"

#include <memory>

#include <gtest/gtest.h>

#include "mail/headers.h"
#include "mail/mime.h"

namespace tidegate::mail {
namespace {

using std::chrono::seconds;

const char kOriginal[] =
    "Received: from client.example.org\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.com\r\n"
    "Subject: hello\r\n"
    "Message-ID: <1@example.org>\r\n"
    "\r\n"
    "Hi Bob,\r\n"
    "--=_tidegate_lookalike\r\n"
    "bye\r\n";

DsnInput SampleInput() {
  DsnInput in;
  in.reporting_mta = "gw.example.com";
  in.sender = "alice@example.org";
  in.original_mid = 4242;
  in.arrival = base::SystemTime(seconds(1708100000));
  in.now = base::SystemTime(seconds(1708118362));
  in.original = kOriginal;
  DsnRecipient bob;
  bob.address = "bob@example.com";
  bob.action = "failed";
  bob.status = "5.1.1";
  bob.remote_mta = "dns; mx.example.com";
  bob.diagnostic = "smtp; 550 5.1.1 <bob@example.com>: no such user";
  bob.last_attempt = base::SystemTime(seconds(1708118000));
  in.recipients.push_back(bob);
  return in;
}

// The DSN as a reader sees it: top-level header section, boundary, parts. Owns the text (on
// the heap, so that the views stay valid when the struct moves).
struct Parsed {
  std::shared_ptr<const std::string> text;
  std::string headers;
  ContentType type;
  Multipart mp;
};

Parsed Parse(std::string dsn) {
  Parsed p;
  p.text = std::make_shared<const std::string>(std::move(dsn));
  p.headers = std::string(HeaderSection(*p.text));
  p.type = ParseContentType(FirstHeaderValue(p.headers, "Content-Type").value_or(""));
  p.mp = SplitMultipart(BodyOf(*p.text), p.type.Param("boundary"), 10);
  return p;
}

// The delivery-status part split into its field groups (per-message, then per-recipient).
std::vector<std::string> StatusGroups(std::string_view body) {
  std::vector<std::string> groups;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    std::size_t sep = body.find("\r\n\r\n", pos);
    if (sep == std::string_view::npos) {
      if (pos < body.size()) groups.emplace_back(body.substr(pos));
      break;
    }
    groups.emplace_back(body.substr(pos, sep + 2 - pos));
    pos = sep + 4;
  }
  return groups;
}

void ExpectLinesFit(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    ASSERT_LE(nl - pos, 999u) << text.substr(pos, 80);  // 998 + CR
    ASSERT_TRUE(nl == text.size() || (nl > 0 && text[nl - 1] == '\r')) << "bare LF";
    pos = nl + 1;
  }
}

TEST(Dsn, StructureAndFields) {
  const std::string dsn = BuildDsn(SampleInput());
  ExpectLinesFit(dsn);
  const Parsed p = Parse(dsn);
  EXPECT_EQ(FirstHeaderValue(p.headers, "From"),
            "Mail Delivery System <MAILER-DAEMON@gw.example.com>");
  EXPECT_EQ(FirstHeaderValue(p.headers, "To"), "<alice@example.org>");
  EXPECT_EQ(FirstHeaderValue(p.headers, "Subject"), "Undelivered Mail Returned to Sender");
  EXPECT_EQ(FirstHeaderValue(p.headers, "Date"), "Fri, 16 Feb 2024 21:19:22 +0000");
  EXPECT_EQ(FirstHeaderValue(p.headers, "Auto-Submitted"), "auto-replied");
  EXPECT_EQ(FirstHeaderValue(p.headers, "MIME-Version"), "1.0");
  const std::string mid = FirstHeaderValue(p.headers, "Message-ID").value_or("");
  EXPECT_TRUE(mid.starts_with("<") && mid.ends_with("@gw.example.com>")) << mid;
  EXPECT_TRUE(p.type.Is("multipart", "report"));
  EXPECT_EQ(p.type.Param("report-type"), "delivery-status");
  ASSERT_TRUE(p.mp.closed);
  ASSERT_EQ(p.mp.parts.size(), 3u);

  const MimePart& text = p.mp.parts[0];
  EXPECT_TRUE(
      ParseContentType(*FirstHeaderValue(text.headers, "Content-Type")).Is("text", "plain"));
  EXPECT_NE(text.body.find("This is the mail system at host gw.example.com."), std::string::npos);
  // Wrapped at 76 columns, continuation indented, as Postfix's bounce does.
  EXPECT_NE(text.body.find("<bob@example.com>: host mx.example.com said: 550 5.1.1 "
                           "<bob@example.com>: no\r\n    such user\r\n"),
            std::string::npos)
      << text.body;

  const MimePart& report = p.mp.parts[1];
  EXPECT_TRUE(ParseContentType(*FirstHeaderValue(report.headers, "Content-Type"))
                  .Is("message", "delivery-status"));
  const auto groups = StatusGroups(report.body);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(FirstHeaderValue(groups[0], "Reporting-MTA"), "dns; gw.example.com");
  EXPECT_EQ(FirstHeaderValue(groups[0], "X-Tidegate-Queue-ID"), "4242");
  EXPECT_EQ(FirstHeaderValue(groups[0], "Arrival-Date"), "Fri, 16 Feb 2024 16:13:20 +0000");
  EXPECT_EQ(FirstHeaderValue(groups[1], "Final-Recipient"), "rfc822; bob@example.com");
  EXPECT_EQ(FirstHeaderValue(groups[1], "Action"), "failed");
  EXPECT_EQ(FirstHeaderValue(groups[1], "Status"), "5.1.1");
  EXPECT_EQ(FirstHeaderValue(groups[1], "Remote-MTA"), "dns; mx.example.com");
  EXPECT_EQ(FirstHeaderValue(groups[1], "Diagnostic-Code"),
            "smtp; 550 5.1.1 <bob@example.com>: no such user");
  EXPECT_EQ(FirstHeaderValue(groups[1], "Last-Attempt-Date"), "Fri, 16 Feb 2024 21:13:20 +0000");

  const MimePart& original = p.mp.parts[2];
  EXPECT_TRUE(ParseContentType(*FirstHeaderValue(original.headers, "Content-Type"))
                  .Is("message", "rfc822"));
  EXPECT_EQ(original.body, kOriginal);  // returned byte for byte
}

TEST(Dsn, LargeOriginalReturnsHeadersOnly) {
  DsnInput in = SampleInput();
  std::string big = std::string(kOriginal) + std::string(100000, 'x') + "\r\n";
  in.original = big;
  in.max_original_bytes = 1000;
  const Parsed p = Parse(BuildDsn(in));
  ASSERT_EQ(p.mp.parts.size(), 3u);
  const MimePart& returned = p.mp.parts[2];
  EXPECT_TRUE(ParseContentType(*FirstHeaderValue(returned.headers, "Content-Type"))
                  .Is("text", "rfc822-headers"));
  EXPECT_EQ(returned.body, HeaderSection(big));
  EXPECT_EQ(returned.body.find("Hi Bob"), std::string::npos);

  // A header section that is itself too large is cut at a line boundary.
  in.max_original_bytes = 60;
  const Parsed cut = Parse(BuildDsn(in));
  ASSERT_EQ(cut.mp.parts.size(), 3u);
  EXPECT_EQ(cut.mp.parts[2].body, "Received: from client.example.org\r\n");
}

TEST(Dsn, PeerTextCannotBreakTheStructure) {
  DsnInput in = SampleInput();
  // Learn the boundary this input gets, then make the peer's reply and the original contain it.
  const std::string first_boundary = Parse(BuildDsn(in)).type.Param("boundary");
  ASSERT_FALSE(first_boundary.empty());
  std::string original = std::string(kOriginal) + "--" + first_boundary + "--\r\n";
  in.original = original;
  in.recipients[0].diagnostic =
      "smtp; 550 5.1.1 caf\xc3\xa9\r\n--" + first_boundary + "\r\nInjected: yes\r\n";
  in.recipients[0].diagnostic.push_back('\0');
  in.recipients[0].remote_mta = "dns; mx\r\nevil";
  in.recipients[0].address = "bob@example.com\r\nBcc: victim@example.net";
  in.recipients[0].status = "5.1.1\r\nX: y";
  const std::string dsn = BuildDsn(in);
  ExpectLinesFit(dsn);
  EXPECT_EQ(dsn.find('\0'), std::string::npos);
  const Parsed p = Parse(dsn);
  EXPECT_NE(p.type.Param("boundary"), first_boundary);
  ASSERT_EQ(p.mp.parts.size(), 3u);
  ASSERT_TRUE(p.mp.closed);
  EXPECT_EQ(p.mp.parts[2].body, original);
  const auto groups = StatusGroups(p.mp.parts[1].body);
  ASSERT_EQ(groups.size(), 2u);
  const std::string diag = FirstHeaderValue(groups[1], "Diagnostic-Code").value_or("");
  EXPECT_TRUE(diag.starts_with("smtp; 550 5.1.1 caf??  --")) << diag;
  EXPECT_EQ(CountHeaders(groups[1], "Injected"), 0u);
  EXPECT_EQ(CountHeaders(groups[1], "Bcc"), 0u);
  EXPECT_EQ(FirstHeaderValue(groups[1], "Status"), "5.0.0");
  EXPECT_EQ(FirstHeaderValue(groups[1], "Remote-MTA"), "dns; mx  evil");
  EXPECT_FALSE(HasEightBit(p.mp.parts[1].body));
  EXPECT_EQ(p.mp.parts[0].body.find("\r\nInjected:"), std::string::npos);
}

TEST(Dsn, LongDiagnosticIsWrapped) {
  DsnInput in = SampleInput();
  in.recipients[0].diagnostic = "smtp; 550 " + std::string(3000, 'y') + " " + std::string(500, 'z');
  const std::string dsn = BuildDsn(in);
  ExpectLinesFit(dsn);
  const Parsed p = Parse(dsn);
  ASSERT_EQ(p.mp.parts.size(), 3u);
  const auto groups = StatusGroups(p.mp.parts[1].body);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_TRUE(FirstHeaderValue(groups[1], "Diagnostic-Code")->ends_with(std::string(500, 'z')));
}

TEST(Dsn, DelayedAndMixedRecipients) {
  DsnInput in = SampleInput();
  in.recipients[0].action = "delayed";
  in.recipients[0].status = "4.4.1";
  in.recipients[0].diagnostic = "";
  in.recipients[0].remote_mta = "";
  in.recipients[0].last_attempt = {};
  std::string dsn = BuildDsn(in);
  Parsed p = Parse(dsn);
  EXPECT_EQ(FirstHeaderValue(p.headers, "Subject"), "Delayed Mail (still being retried)");
  ASSERT_EQ(p.mp.parts.size(), 3u);
  EXPECT_NE(p.mp.parts[0].body.find("THIS IS A WARNING ONLY"), std::string::npos);
  EXPECT_NE(p.mp.parts[0].body.find("for 5.1 hours"), std::string::npos) << p.mp.parts[0].body;
  auto groups = StatusGroups(p.mp.parts[1].body);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(FirstHeaderValue(groups[1], "Action"), "delayed");
  EXPECT_EQ(CountHeaders(groups[1], "Remote-MTA"), 0u);
  EXPECT_EQ(CountHeaders(groups[1], "Diagnostic-Code"), 0u);
  EXPECT_EQ(CountHeaders(groups[1], "Last-Attempt-Date"), 0u);

  DsnRecipient carol;
  carol.address = "carol@example.com";
  carol.action = "failed";
  carol.status = "5.7.1";
  carol.diagnostic = "smtp; 554 5.7.1 rejected";
  in.recipients.push_back(carol);
  p = Parse(BuildDsn(in));
  EXPECT_EQ(FirstHeaderValue(p.headers, "Subject"), "Undelivered Mail Returned to Sender");
  groups = StatusGroups(p.mp.parts[1].body);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(FirstHeaderValue(groups[2], "Final-Recipient"), "rfc822; carol@example.com");
  EXPECT_NE(p.mp.parts[0].body.find("still being retried"), std::string::npos);
}

TEST(Dsn, Utf8AddressUsesGlobalDeliveryStatus) {
  DsnInput in = SampleInput();
  in.recipients[0].address = "j\xc3\xb6rg@example.com";
  const Parsed p = Parse(BuildDsn(in));
  ASSERT_EQ(p.mp.parts.size(), 3u);
  EXPECT_TRUE(ParseContentType(*FirstHeaderValue(p.mp.parts[1].headers, "Content-Type"))
                  .Is("message", "global-delivery-status"));
  const auto groups = StatusGroups(p.mp.parts[1].body);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(FirstHeaderValue(groups[1], "Final-Recipient"), "utf-8; j\xc3\xb6rg@example.com");
}

}  // namespace
}  // namespace tidegate::mail
