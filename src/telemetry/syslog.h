// syslog.h — sans-I/O syslog message building for the mail log's syslog copy (CONTRACT §12
// "syslog"): PRI from facility and severity, RFC 5424 and RFC 3164 headers, RFC 6587 octet
// counting for TCP. The socket side is syslog_sender.h.
//
// Every mail-log line becomes one message: program name (APP-NAME / TAG) `mail_logs`, as the
// ESA's log subscriptions send them, and MSG = the file line after its timestamp (`Info: …`),
// already one line (Sanitize) and without a trailing newline:
//   RFC 5424: `<PRI>1 2024-02-16T21:19:22.123-06:00 HOSTNAME mail_logs PROCID - - MSG`
//   RFC 3164: `<PRI>Feb 16 21:19:22 HOSTNAME mail_logs[PROCID]: MSG`
// Times are local, like the file's. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "telemetry/mail_log.h"

namespace tidegate::telemetry {

enum class SyslogFormat { kRfc5424, kRfc3164 };

inline constexpr std::string_view kSyslogAppName = "mail_logs";

// Debug → 7 (debug), Info → 6 (info), Warning → 4 (warning), Critical → 2 (crit).
int SyslogSeverity(Level level);

// facility * 8 + severity.
int SyslogPri(int facility, Level level);

struct SyslogHeader {
  SyslogFormat format = SyslogFormat::kRfc5424;
  int facility = 2;      // mail (config::SyslogTarget::facility: the number, RFC 5424 table 1)
  std::string hostname;  // the gateway's hostname
  std::uint32_t procid = 0;
};

// One message, without framing or trailing newline. `line` is the mail-log line after its
// timestamp, e.g. "Info: Start MID 1 ICID 2".
std::string FormatSyslog(const SyslogHeader& header, base::SystemTime time, Level level,
                         std::string_view line);

// RFC 6587 octet counting: "LEN SP MSG".
std::string OctetCounted(std::string_view message);

}  // namespace tidegate::telemetry
