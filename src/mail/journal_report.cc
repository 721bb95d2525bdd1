// journal_report.cc — see journal_report.h.
#include "mail/journal_report.h"

#include <strings.h>

#include "mail/headers.h"
#include "mail/mime.h"

namespace tidegate::mail {
namespace {

constexpr std::size_t kMaxLine = 998;
// RFC 2046 allows 70; a little slack for senders that overstep, but no unbounded compare.
constexpr std::size_t kMaxBoundary = 200;
// Our report's header section is under 1 KiB; relays add a few trace fields. A megabyte of
// header fields is not a report, and not worth indexing field by field.
constexpr std::size_t kMaxTopHeaders = 1 << 20;

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool LinesFit(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find("\r\n", pos);
    std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    if (end - pos > kMaxLine) return false;
    pos = nl == std::string_view::npos ? text.size() : nl + 2;
  }
  return true;
}

// Drops Exchange's ", Expanded: list@x" / ", Forwarded: a@x" recipient annotations.
std::string_view StripAnnotation(std::string_view value) {
  for (std::string_view marker : {", expanded:", ", forwarded:"}) {
    for (std::size_t i = 0; i + marker.size() <= value.size(); ++i) {
      if (EqualsNoCase(value.substr(i, marker.size()), marker)) return value.substr(0, i);
    }
  }
  return value;
}

std::string_view StripBrackets(std::string_view value) {
  if (value.size() >= 2 && value.front() == '<' && value.back() == '>') {
    value.remove_prefix(1);
    value.remove_suffix(1);
  }
  return value;
}

// The decoded text of a part according to its Content-Transfer-Encoding.
std::string DecodedBody(const MimePart& part) {
  const std::string cte = FirstHeaderValue(part.headers, "Content-Transfer-Encoding").value_or("");
  if (EqualsNoCase(cte, "quoted-printable")) return DecodeQuotedPrintable(part.body);
  if (EqualsNoCase(cte, "base64")) return DecodeBase64(part.body);
  return std::string(part.body);
}

ContentType PartType(const MimePart& part) {
  std::optional<std::string> value = FirstHeaderValue(part.headers, "Content-Type");
  return value ? ParseContentType(*value) : ParseContentType("text/plain");
}

}  // namespace

std::string BuildJournalReport(const JournalInput& in) {
  const std::string host = SanitizeAscii(in.reporting_host);
  const std::string subject = SanitizeLine(in.subject);

  std::string envelope;
  envelope +=
      "Sender: " + (in.sender.empty() ? std::string("<>") : SanitizeLine(in.sender)) + "\r\n";
  envelope += "Subject: " + subject + "\r\n";
  envelope += "Message-Id: " + SanitizeLine(in.message_id) + "\r\n";
  for (const std::string& rcpt : in.recipients) envelope += "To: " + SanitizeLine(rcpt) + "\r\n";

  // Each value stays on one logical line; quoted-printable only when SMTP's line limit demands.
  std::string part1_headers = "Content-Type: text/plain; charset=utf-8\r\n";
  std::string part1_body;
  if (!LinesFit(envelope)) {
    part1_headers += "Content-Transfer-Encoding: quoted-printable\r\n";
    part1_body = EncodeQuotedPrintable(envelope);
  } else {
    part1_headers += HasEightBit(envelope) ? "Content-Transfer-Encoding: 8bit\r\n"
                                           : "Content-Transfer-Encoding: 7bit\r\n";
    part1_body = std::move(envelope);
  }

  const std::uint64_t seed = MixSeed({"journal", std::to_string(in.original_mid),
                                      std::to_string(in.now.time_since_epoch().count()), host});
  const std::string boundary = ChooseBoundary(seed, {part1_body, in.original});

  std::string m;
  m.reserve(in.original.size() + part1_body.size() + 1024);
  m += FoldHeader("From", "Threat Defense Connector <postmaster@" + host + ">");
  m += "To: undisclosed-recipients:;\r\n";
  m += FoldHeader("Subject",
                  subject.empty() ? std::string("Journal Report") : "Journal Report: " + subject);
  m += FoldHeader("Date", FormatRfc5322Date(in.now));
  m += FoldHeader("Message-ID", NewMessageId(host, in.now, in.original_mid));
  m += "MIME-Version: 1.0\r\n";
  m += "X-MS-Journal-Report:\r\n";
  // RFC 3834: an intake (or anything between) must not auto-reply to a journal copy.
  m += "Auto-Submitted: auto-generated\r\n";
  m += FoldHeader("X-Tidegate-Original-MID", std::to_string(in.original_mid));
  m += "Content-Type: multipart/mixed;\r\n\tboundary=\"" + boundary + "\"\r\n";
  m += "\r\nThis is a multi-part message in MIME format.\r\n\r\n";
  m += "--" + boundary + "\r\n" + part1_headers + "\r\n" + part1_body;
  m += "\r\n--" + boundary + "\r\n";
  m += "Content-Type: message/rfc822\r\n";
  // message/rfc822 allows only 7bit, 8bit or binary (RFC 2046 §5.2.1): the bytes stay as they are.
  if (HasEightBit(in.original)) m += "Content-Transfer-Encoding: 8bit\r\n";
  m += "\r\n";
  m.append(in.original);
  m += "\r\n--" + boundary + "--\r\n";
  return m;
}

ParsedJournal ParseJournalReport(std::string_view message) {
  ParsedJournal none;
  const std::string_view headers = HeaderSection(message);
  if (headers.size() > kMaxTopHeaders) return none;
  if (CountHeaders(headers, "X-MS-Journal-Report") == 0) return none;
  const std::optional<std::string> ct_value = FirstHeaderValue(headers, "Content-Type");
  if (!ct_value) return none;
  const ContentType ct = ParseContentType(*ct_value);
  const std::string boundary = ct.Param("boundary");
  if (ct.type != "multipart" || boundary.empty() || boundary.size() > kMaxBoundary) return none;

  const Multipart mp = SplitMultipart(BodyOf(message), boundary, 2);
  if (mp.parts.size() < 2) return none;
  const MimePart& envelope_part = mp.parts[0];
  const MimePart& message_part = mp.parts[1];
  if (!PartType(envelope_part).Is("text", "plain")) return none;
  if (!PartType(message_part).Is("message", "rfc822") || !message_part.has_separator) return none;

  ParsedJournal out;
  bool have_sender = false;
  bool have_subject = false;
  bool have_id = false;
  const std::string text = DecodedBody(envelope_part);
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);  // we write "Key: value"
    if (EqualsNoCase(key, "Sender") && !have_sender) {
      have_sender = true;
      out.sender = std::string(value == "<>" ? std::string_view() : StripBrackets(value));
    } else if (EqualsNoCase(key, "Subject") && !have_subject) {
      have_subject = true;
      out.subject = std::string(value);
    } else if (EqualsNoCase(key, "Message-Id") && !have_id) {
      have_id = true;
      out.message_id = std::string(value);
    } else if (EqualsNoCase(key, "To") || EqualsNoCase(key, "Cc") || EqualsNoCase(key, "Bcc") ||
               EqualsNoCase(key, "Recipient")) {
      out.recipients.emplace_back(StripBrackets(StripAnnotation(value)));
    }
  }
  if (!have_sender) return none;
  out.original = std::string(message_part.body);
  out.is_journal = true;
  return out;
}

}  // namespace tidegate::mail
