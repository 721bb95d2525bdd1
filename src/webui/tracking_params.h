// tracking_params.h — a message tracking search (CONTRACT §7, §12) from the parameters of
// `GET /api/v1/tracking` and of the Web UI's Message Tracking page, which take the same names:
// mid, message_id, sender, recipient, subject, sender_ip, policy, match, include_journal, since,
// until, limit, offset. Also the CSV export of the results. Pure functions, no I/O.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "telemetry/tracking_store.h"

namespace tidegate::webui {

struct TrackingParams {
  telemetry::TrackingQuery query;
  // Per parameter, what is wrong with it (an unknown parameter is named with "unknown").
  std::map<std::string, std::string> errors;
};

// Reads the parameters; empty values do not filter. limit is 1..max_limit (default
// default_limit); since/until take the forms of telemetry::ParseSearchTime (an until given to
// the minute or day covers it). Parameters named in `extra` are accepted and ignored (the page's
// own, say "format").
TrackingParams ParseTrackingParams(const std::map<std::string, std::string>& params,
                                   std::size_t default_limit, std::size_t max_limit,
                                   const std::vector<std::string>& extra = {});

// The first error as one sentence for an API 400: "unknown parameter 'x'; ...".
std::string TrackingParamsError(const TrackingParams& p);

// One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF; a value a spreadsheet
// would take for a formula (starting with = + - @, or a tab or CR) gets a leading '.
std::string CsvField(std::string_view value);
// The results as CSV with a header line, CRLF line ends; times in RFC 3339 UTC.
std::string TrackingCsv(const std::vector<telemetry::MessageSummary>& found);

}  // namespace tidegate::webui
