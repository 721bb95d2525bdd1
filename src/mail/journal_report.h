// journal_report.h — the Threat Defense Connector's journal report, written and read back.
//
// BuildJournalReport() wraps a delivered message for the intake (CONTRACT §4): a multipart/mixed
// message in Exchange's envelope-journal format — a text/plain part with "Sender:", "Subject:",
// "Message-Id:" and one "To:" line per original envelope recipient, then the original, byte for
// byte, as a message/rfc822 part. ParseJournalReport() is the intake's side: it recognizes such a
// report and gives back the envelope lines and the exact original bytes.
// Pure functions over their input (views must stay valid during the call); thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"

namespace tidegate::mail {

struct JournalInput {
  std::string reporting_host;           // our hostname, for Message-ID and From
  std::string sender;                   // envelope sender of the original, "" = null
  std::vector<std::string> recipients;  // the original envelope recipients of this policy
  std::string subject;                  // header values of the original (unfolded)
  std::string message_id;
  std::string_view original;  // byte for byte as delivered, incl. our added headers
  base::SystemTime now{};
  std::uint64_t original_mid = 0;
};

// The complete report with CRLF line endings, to be spooled with MAIL FROM:<> and RCPT TO the
// intake address. Values in part 1 are kept on one line each with CR, LF and NUL replaced by a
// space; part 1 is quoted-printable only when a line would exceed 998 octets, else 7bit/8bit.
// The original is embedded unchanged; the report is 8-bit exactly when part 1 or the original is
// (then it needs BODY=8BITMIME, as the original did).
std::string BuildJournalReport(const JournalInput& in);

struct ParsedJournal {
  bool is_journal = false;
  std::string sender;  // "" for a null sender ("<>")
  std::vector<std::string> recipients;
  std::string subject;
  std::string message_id;
  std::string original;  // the embedded message, byte-exact
};

// Never fails: is_journal is false (and the other fields empty) unless `message` carries the
// X-MS-Journal-Report header in a header section of at most 1 MiB, is multipart with a boundary,
// has a text/plain first part with a "Sender:" line, and a message/rfc822 second part ended by a
// delimiter line. Recipients come from "To:", "Cc:", "Bcc:" and "Recipient:" lines (Exchange's
// ", Expanded: …" / ", Forwarded: …" suffix is dropped). Linear in the input size.
ParsedJournal ParseJournalReport(std::string_view message);

}  // namespace tidegate::mail
