// admin_common.h — what the JSON API (admin_api.cc) and the Web UI (admin_ui*.cc) share, so that
// both show the same figures and change the configuration the same way: the tophosts rows, the
// ConfigEditor commit-and-apply sequence, and small parsers.
//
// Everything here runs on the gateway's io thread, like the handlers that call it (it reads the
// delivery engine and the counters directly). Nothing throws.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "config/config.h"
#include "config/editor.h"
#include "webui/admin_api.h"

namespace tidegate::webui {

// One tophosts row (CONTRACT §6): journal-copy destinations are one row, the.tdc.queue, which
// is always listed while the Threat Defense Connector is enabled.
struct TophostsRow {
  std::string host;
  std::uint64_t active = 0;           // recipients queued now
  std::uint64_t connections_out = 0;  // open outbound connections now
  std::uint64_t delivered = 0;
  std::uint64_t soft_bounced = 0;
  std::uint64_t hard_bounced = 0;
  bool down = false;  // down as of the last delivery attempt
};

// Every destination the counters know merged with the scheduler's gauges, ordered by host name.
std::vector<TophostsRow> TophostsRows(const AdminContext& ctx);

// One destination's Delivery Status Details (hoststatus; the Web UI's page per destination): its
// tophosts figures with the scheduler's view of it and everything the counters keep about it.
struct HostStatus {
  std::string host;          // as tophosts names it: a domain or the.tdc.queue
  bool journal = false;      // the.tdc.queue: its delivered recipients are journal copies
  bool counted = false;      // the counters know it (something was attempted or listed)
  bool down = false;         // the counters' or the scheduler's view
  std::uint64_t active = 0;  // recipients queued now
  std::uint64_t ready = 0, scheduled = 0, in_flight = 0;  // entries, by stage
  std::uint32_t window = 0;                               // connections the queue may open now
  std::optional<base::SystemTime> next_attempt;           // nullopt: nothing waits
  telemetry::DestinationCounters counters;
};

// Lower-case `name` if it can name a destination (1-253 of a-z 0-9 . - _ and, for address
// literals, [ ] :); nullopt otherwise.
std::optional<std::string> DestinationName(std::string_view name);

// The destination `host` (a DestinationName) as the tophosts rows know it; nullopt if they do
// not list it (never seen, or the.tdc.queue while the connector is disabled).
std::optional<HostStatus> FindHostStatus(const AdminContext& ctx, const std::string& host);

// Seconds since the Unix epoch, as the API reports times.
inline std::int64_t Epoch(base::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// A decimal number without sign or spaces, or nullopt.
std::optional<std::uint64_t> ParseU64(std::string_view s);

// "default" / "global" / "off" / "custom": the API's and the forms' names of a policy TDC mode.
const char* PolicyTdcModeName(config::PolicyTdcMode mode);

// A policy's anti-spam or anti-virus setting as a form or an API body gives it (CONTRACT §10).
// `kind` is "antispam" or "antivirus"; fields: mode = default|off|on and, for on, the two
// actions (positive, suspect / infected, unscannable: deliver|tag|quarantine|drop, missing =
// the default action) and subject_tag (missing or empty = the default tag).
using ScanFields = std::map<std::string, std::string>;
struct ScanChange {
  bool spam = true;  // anti_spam, else anti_virus
  config::PolicyScanMode mode = config::PolicyScanMode::kDefault;
  config::ScanAction first = config::ScanAction::kDeliver;   // positive / infected
  config::ScanAction second = config::ScanAction::kDeliver;  // suspect / unscannable
  std::string subject_tag;
};
// "default" / "off" / "on".
const char* PolicyScanModeName(config::PolicyScanMode mode);
// The field names of the two actions of `kind`.
std::pair<const char*, const char*> ScanActionFields(bool spam);
base::Result<ScanChange> ParseScanChange(std::string_view kind, const ScanFields& fields);
base::Status ApplyScanChange(config::ConfigEditor& editor, const std::string& policy,
                             const ScanChange& change);
// `policyconfig antispam NAME on positive=quarantine suspect=tag subject_tag="[SPAM]"`.
std::string ScanAuditLine(const std::string& policy, const ScanChange& change);

// Runs a blocking action on `pool` and resumes the caller (on its executor) with the result.
boost::asio::awaitable<base::Status> OnWorker(boost::asio::thread_pool& pool,
                                              std::function<base::Status()> f);

// An editor on the live configuration: the configuration file, or in cluster mode the
// effective configuration (the local file merged with the levels in etcd).
base::Result<config::ConfigEditor> LoadEditor(const AdminContext& ctx);

// The outcome of CommitEdit: http_status 200 when the change is committed and applied, else the
// status to answer with (400 invalid, 409 the file changed meanwhile or a cluster conflict, 503
// the cluster configuration store unreachable, 500 the rest) and an operator-facing message.
struct EditOutcome {
  int http_status = 200;
  std::string message;
  std::uint64_t entry = 0;  // ok: the configuration history entry it made (0: none)
  bool ok() const { return http_status == 200; }
};

// Validates the edited document, commits it and applies it live. Alone: atomically to the file,
// then ctx.reload. In cluster mode: the changed sections to etcd at this machine's mode level,
// guarded by the request's `base_revision` (form field, query or JSON body; default the newest
// revision seen), with its `comment` and user (CONTRACT §11). The caller writes the audit line
// when ok(). `comment`, when not null, replaces the request's (a rollback's "rollback to N").
// Configuration history (CONTRACT §12): alone, a change that alters the file is recorded as one
// entry (the request's user and comment) after the file is written and before it is applied and
// reported; in cluster mode the agent records the revision when it is applied (gateway.cc). A
// refused or failed commit records nothing.
boost::asio::awaitable<EditOutcome> CommitEdit(const AdminContext& ctx,
                                               config::ConfigEditor& editor,
                                               const admin::Request& req,
                                               const std::string* comment = nullptr);

// The cluster commit fields of a request: `comment` and `base_revision` from the form, the query
// or a JSON object body. An unparsable base_revision is an error. The user is the authenticated
// one, or the `cli_user` field the CLI sends (the invoking Unix user, CONTRACT §12).
base::Result<cluster::CommitRequest> CommitFields(const admin::Request& req);

}  // namespace tidegate::webui
