// dsn.cc — see dsn.h.
#include "mail/dsn.h"

#include <algorithm>
#include <cassert>
#include <cstdio>

#include "mail/headers.h"
#include "mail/mime.h"

namespace tidegate::mail {
namespace {

constexpr std::size_t kWrapAt = 76;
constexpr std::size_t kMaxLine = 998;

std::string NormalizeAction(std::string_view action) {
  std::string a(action);
  for (char& c : a) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  for (std::string_view known : {"failed", "delayed", "delivered", "relayed", "expanded"}) {
    if (a == known) return a;
  }
  return "failed";  // anything we cannot name is reported as the conservative outcome
}

// RFC 3463: class "." subject "." detail, class in {2,4,5}, 1-3 digits each.
bool ValidStatus(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  std::size_t i = 2;
  for (int field = 0; field < 2; ++field) {
    std::size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3) return false;
    if (field == 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return i == s.size();
}

std::string StatusFor(const DsnRecipient& r, std::string_view action) {
  if (ValidStatus(r.status)) return r.status;
  return action == "delayed" ? "4.0.0" : "5.0.0";
}

std::string Trim(std::string_view s) {
  std::size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return std::string();
  std::size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// "dns; mx.example.com" → "mx.example.com"; a value without a type is taken whole.
std::string WithoutType(std::string_view typed) {
  std::size_t semi = typed.find(';');
  return Trim(semi == std::string_view::npos ? typed : typed.substr(semi + 1));
}

// A typed field value ("smtp; 550 ..."): keeps the sender's type, or supplies `default_type`.
std::string Typed(std::string_view value, std::string_view default_type) {
  std::size_t semi = value.find(';');
  if (semi != std::string_view::npos) {
    return Trim(value.substr(0, semi)) + "; " + Trim(value.substr(semi + 1));
  }
  return std::string(default_type) + "; " + Trim(value);
}

// Word-wraps one logical line at kWrapAt, continuation lines indented by four spaces as Postfix
// does; a word too long even for kMaxLine is split. Ends with CRLF.
std::string Wrap(std::string_view text) {
  std::string out;
  std::size_t line_len = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    std::size_t e = text.find(' ', i);
    if (e == std::string_view::npos) e = text.size();
    std::string_view word = text.substr(i, e - i);
    i = e;
    if (word.empty()) break;
    if (line_len > 0 && line_len + 1 + word.size() > kWrapAt) {
      out.append("\r\n    ");
      line_len = 4;
    } else if (line_len > 0) {
      out.push_back(' ');
      ++line_len;
    }
    while (line_len + word.size() > kMaxLine) {
      const std::size_t take = kMaxLine - line_len;
      out.append(word.substr(0, take)).append("\r\n    ");
      word.remove_prefix(take);
      line_len = 4;
    }
    out.append(word);
    line_len += word.size();
  }
  out.append("\r\n");
  return out;
}

std::string RecipientLine(const DsnRecipient& r) {
  const std::string status = StatusFor(r, NormalizeAction(r.action));
  std::string line = "<" + SanitizeLine(r.address) + ">: ";
  const std::string host = SanitizeAscii(WithoutType(r.remote_mta));
  const std::string said = SanitizeAscii(WithoutType(r.diagnostic));
  if (!host.empty() && !said.empty()) {
    line += "host " + host + " said: " + said;
  } else if (!said.empty()) {
    line += said;
  } else if (!host.empty()) {
    line += "delivery via host " + host + " did not succeed (status " + status + ")";
  } else {
    line += "delivery did not succeed (status " + status + ")";
  }
  return Wrap(line);
}

constexpr std::string_view kAssistance =
    "For further assistance, please send mail to postmaster.\r\n"
    "\r\n"
    "If you do so, please include this problem report. You can\r\n"
    "delete your own text from the attached returned message.\r\n"
    "\r\n"
    "                   The mail system\r\n"
    "\r\n";

std::string HumanText(const DsnInput& in, bool all_delayed) {
  const std::string host = SanitizeAscii(in.reporting_mta);
  std::string text = "This is the mail system at host " + host + ".\r\n\r\n";
  std::string failed_lines;
  std::string delayed_lines;
  for (const DsnRecipient& r : in.recipients) {
    (NormalizeAction(r.action) == "delayed" ? delayed_lines : failed_lines) += RecipientLine(r);
  }
  if (all_delayed) {
    const auto age = std::chrono::duration_cast<std::chrono::minutes>(in.now - in.arrival);
    char hours[64];
    std::snprintf(hours, sizeof hours, "%.1f", std::max<double>(0.0, age.count() / 60.0));
    text +=
        "####################################################################\r\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
        "####################################################################\r\n"
        "\r\n";
    text += std::string("Your message could not be delivered for ") + hours + " hours.\r\n";
    text += "It will be retried until it is delivered or its time in the queue expires.\r\n\r\n";
    text += kAssistance;
    text += delayed_lines;
    return text;
  }
  text +=
      "I'm sorry to have to inform you that your message could not\r\n"
      "be delivered to one or more recipients. It's attached below.\r\n"
      "\r\n";
  text += kAssistance;
  text += failed_lines;
  if (!delayed_lines.empty()) {
    text += "\r\nDelivery to the following recipients is still being retried:\r\n\r\n";
    text += delayed_lines;
  }
  return text;
}

std::string DeliveryStatus(const DsnInput& in, bool* global) {
  *global = std::any_of(in.recipients.begin(), in.recipients.end(),
                        [](const DsnRecipient& r) { return HasEightBit(r.address); });
  std::string s;
  s += FoldHeader("Reporting-MTA", "dns; " + SanitizeAscii(in.reporting_mta));
  s += FoldHeader("X-Tidegate-Queue-ID", std::to_string(in.original_mid));
  s += FoldHeader("X-Tidegate-Sender",
                  (HasEightBit(in.sender) ? "utf-8; " : "rfc822; ") + SanitizeLine(in.sender));
  s += FoldHeader("Arrival-Date", FormatRfc5322Date(in.arrival));
  for (const DsnRecipient& r : in.recipients) {
    const std::string action = NormalizeAction(r.action);
    s += "\r\n";
    // RFC 6533: an SMTPUTF8 address is typed "utf-8" instead of being mangled to 7 bits.
    s += FoldHeader("Final-Recipient",
                    (HasEightBit(r.address) ? "utf-8; " : "rfc822; ") + SanitizeLine(r.address));
    s += FoldHeader("Action", action);
    s += FoldHeader("Status", StatusFor(r, action));
    if (!Trim(r.remote_mta).empty()) {
      s += FoldHeader("Remote-MTA", Typed(SanitizeAscii(r.remote_mta), "dns"));
    }
    if (!Trim(r.diagnostic).empty()) {
      s += FoldHeader("Diagnostic-Code", Typed(SanitizeAscii(r.diagnostic), "smtp"));
    }
    if (r.last_attempt != base::SystemTime{}) {
      s += FoldHeader("Last-Attempt-Date", FormatRfc5322Date(r.last_attempt));
    }
  }
  return s;
}

// The header section of the original, cut at a line boundary to at most `limit` octets.
std::string_view HeadersOnly(std::string_view original, std::size_t limit) {
  std::string_view headers = HeaderSection(original);
  if (headers.size() <= limit) return headers;
  std::size_t cut = headers.rfind('\n', limit == 0 ? 0 : limit - 1);
  return cut == std::string_view::npos ? headers.substr(0, 0) : headers.substr(0, cut + 1);
}

}  // namespace

std::string BuildDsn(const DsnInput& in) {
  assert(!in.sender.empty() && "no DSN for a null sender");
  assert(!in.recipients.empty() && "a DSN reports on at least one recipient");

  const bool all_delayed =
      !in.recipients.empty() &&
      std::all_of(in.recipients.begin(), in.recipients.end(),
                  [](const DsnRecipient& r) { return NormalizeAction(r.action) == "delayed"; });
  const std::string text = HumanText(in, all_delayed);
  bool global = false;
  const std::string status = DeliveryStatus(in, &global);
  const bool headers_only = in.original.size() > in.max_original_bytes;
  const std::string_view returned =
      headers_only ? HeadersOnly(in.original, in.max_original_bytes) : in.original;

  const std::string host = SanitizeAscii(in.reporting_mta);
  const std::uint64_t seed = MixSeed({"dsn", std::to_string(in.original_mid),
                                      std::to_string(in.now.time_since_epoch().count()), host});
  const std::string boundary = ChooseBoundary(seed, {text, status, returned});

  std::string m;
  m.reserve(text.size() + status.size() + returned.size() + 2048);
  m += FoldHeader("From", "Mail Delivery System <MAILER-DAEMON@" + host + ">");
  m += FoldHeader("To", "<" + in.sender + ">");
  m += FoldHeader("Subject", all_delayed ? "Delayed Mail (still being retried)"
                                         : "Undelivered Mail Returned to Sender");
  m += FoldHeader("Date", FormatRfc5322Date(in.now));
  m += FoldHeader("Message-ID", NewMessageId(in.message_id_domain.empty() ? in.reporting_mta
                                                                          : in.message_id_domain,
                                             in.now, in.original_mid));
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n"
       "\tboundary=\"" +
       boundary + "\"\r\n";
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  m += "--" + boundary + "\r\n";
  m += "Content-Description: Notification\r\n";
  m += HasEightBit(text) ? "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: 8bit\r\n"
                         : "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "\r\n" + text;

  m += "\r\n--" + boundary + "\r\n";
  m += "Content-Description: Delivery report\r\n";
  m += global ? "Content-Type: message/global-delivery-status\r\n"
                "Content-Transfer-Encoding: 8bit\r\n"
              : "Content-Type: message/delivery-status\r\n";
  m += "\r\n" + status;

  m += "\r\n--" + boundary + "\r\n";
  const std::string_view what = all_delayed ? "Delayed Message" : "Undelivered Message";
  if (headers_only) {
    m += "Content-Description: " + std::string(what) + " Headers\r\n";
    m += "Content-Type: text/rfc822-headers\r\n";
  } else {
    m += "Content-Description: " + std::string(what) + "\r\n";
    m += "Content-Type: message/rfc822\r\n";
  }
  // message/rfc822 allows only 7bit, 8bit or binary (RFC 2046 §5.2.1): the bytes stay as they are.
  if (HasEightBit(returned)) m += "Content-Transfer-Encoding: 8bit\r\n";
  m += "\r\n";
  m.append(returned);
  m += "\r\n--" + boundary + "--\r\n";
  return m;
}

}  // namespace tidegate::mail
