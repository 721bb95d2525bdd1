// admin_ui_internal.h — what the Web UI's page files (admin_ui.cc, admin_ui_policies.cc,
// admin_ui_monitor.cc) share: the context every handler captures and small HTML helpers.
// Internal to the webui module; see admin_ui.h for the pages. Io thread only.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "admin/http_message.h"
#include "admin/server.h"
#include "base/clock.h"
#include "base/result.h"
#include "cluster/agent.h"
#include "config/config.h"
#include "webui/admin_api.h"
#include "webui/admin_common.h"

namespace tidegate::webui::ui {

// Web UI staging (CONTRACT §12, admin_ui_staging.cc): a settings form saves into a staged copy
// of the configuration kept per login session (keyed by the session's CSRF token, never logged)
// until Commit Changes (one CommitEdit, one history entry) or Abandon Changes. `base` is the live
// text the first staged change started from: a commit is refused when the live configuration is
// no longer that text (someone else committed meanwhile). At most kMaxSessions sessions keep a
// staged copy (the oldest is dropped beyond). Io thread only.
struct StagedChange {
  std::string base;
  std::string text;
  std::string comment;  // the last form's Comment field (cluster mode), offered at commit
};
class Staging {
 public:
  static constexpr std::size_t kMaxSessions = 64;
  const StagedChange* Find(const std::string& session) const;
  void Put(const std::string& session, StagedChange change);
  void Drop(const std::string& session);

 private:
  std::vector<std::pair<std::string, StagedChange>> sessions_;  // oldest first
};

struct UiContext {
  AdminContext ctx;
  admin::Server* server = nullptr;  // for Audit(); outlives the handlers
  std::shared_ptr<Staging> staging = std::make_shared<Staging>();
};
using UiPtr = std::shared_ptr<const UiContext>;

std::string Esc(std::string_view text);
// A path segment (policy names in links).
std::string Url(std::string_view text);
// A 200 (or `status`) HTML page in the common Layout.
admin::Response Page(const admin::Request& request, int status, std::string title, std::string body,
                     int refresh_seconds = 0);
// A page that only says `message` (escaped), e.g. 404 "No such policy".
admin::Response MessagePage(const admin::Request& request, int status, std::string title,
                            std::string_view message);
// <p class="notice">…</p> / <p class="alert">…</p> with escaped text; "" for an empty message.
std::string Notice(std::string_view message);
std::string Alert(std::string_view message);
// An error shown beside a form field (escaped); "" for an empty message.
std::string FieldError(std::string_view field_id, std::string_view message);
// Patterns, domains or addresses as typed into a field: one per line, or separated by commas
// or spaces.
std::vector<std::string> SplitPatterns(std::string_view text);
// Leading and trailing ASCII whitespace removed.
std::string Trim(std::string_view text);
std::string Join(const std::vector<std::string>& items, std::string_view separator);
// Bytes from mail (headers, subjects) as HTML text: invalid UTF-8 becomes U+FFFD, control
// characters other than tab and line feed become "\xNN", CR is dropped; then escaped.
std::string EscBytes(std::string_view bytes);
// `t` in the gateway's local time, strftime `format`.
std::string LocalTime(base::SystemTime t, const char* format);
// "/ui/policies/<name>/<action>".
std::string PolicyUrl(std::string_view name, std::string_view action);

// /ui/policies/<name>/antispam and /antivirus (GET shows, POST saves); `kind` is the last segment.
boost::asio::awaitable<admin::Response> ScanPage(const UiContext& ui, const admin::Request& req, const config::Policy& p,
                         std::string_view kind);

// Cluster mode (admin_ui_cluster.cc; CONTRACT §11 "Web UI").
// The block at the top of a settings page in cluster mode: "Mode — Cluster: <name>" (or Group /
// Machine), Change Mode... and, for a non-empty `section`, its Centralized Management Options
// (where it comes from; Override here / Inherit with a comment). "" when not in cluster mode.
std::string ClusterOptions(const admin::Request& req, const AdminContext& ctx,
                           std::string_view section);
// The same, pure: `return_to` is the page the posts come back to, `notice` the ?cluster= value
// of the previous post (mode / override / inherit; anything else shows nothing).
std::string RenderClusterOptions(const cluster::ClusterState& state, std::string_view section,
                                 std::string_view return_to, std::string_view csrf_field,
                                 std::string_view notice);
// System Administration › Cluster, pure: the options without a section, this machine and the
// registry (or the error reading it).
std::string RenderClusterPage(const cluster::ClusterState& state,
                              const base::Result<std::vector<cluster::MachineInfo>>& machines,
                              std::string_view csrf_field, std::string_view notice);
// The "Comment" field of a settings form in cluster mode (CommitEdit passes it on); "" alone.
std::string CommentField(const config::GatewayConfig& cfg);
// The shared section a settings page edits, from its path ("" for none): /ui/tdc,
// /ui/policies..., /ui/security/antispam|antivirus..., /ui/recipient-validation...
std::string_view SectionOfPage(std::string_view path);
// Page() with ClusterOptions for SectionOfPage(request.path) on top: every settings page of a
// shared section.
admin::Response SectionPage(const UiContext& ui, const admin::Request& request, int status,
                            std::string title, std::string body);
void RegisterClusterPages(admin::Server& server, const UiPtr& ui);

// What the settings pages use instead of the live configuration (admin_ui_staging.cc): an editor
// on the session's staged copy (else the live one), saving into the staged copy (validated;
// never committed: the banner's Commit Changes does that), and the configuration to show.
base::Result<config::ConfigEditor> LoadEditor(const UiContext& ui, const admin::Request& req);
boost::asio::awaitable<EditOutcome> StageEdit(const UiContext& ui, config::ConfigEditor& editor,
                                              const admin::Request& req);
std::shared_ptr<const config::GatewayConfig> UiConfig(const UiContext& ui,
                                                      const admin::Request& req);
// The "uncommitted changes" banner with Commit Changes (and its comment) and Abandon Changes;
// "" when the session has nothing staged. Page() puts it on top of every page.
std::string StagedBanner(const Staging& staging, const admin::Request& req);
// POST /ui/changes/commit|abandon, and System Administration › Configuration History
// (/ui/configs: the list, one entry with its diff against the previous, rollback).
void RegisterStagingPages(admin::Server& server, const UiPtr& ui);

void RegisterPolicyPages(admin::Server& server, const UiPtr& ui);
void RegisterMonitorPages(admin::Server& server, const UiPtr& ui);
void RegisterQuarantinePages(admin::Server& server, const UiPtr& ui);
void RegisterSecurityPages(admin::Server& server, const UiPtr& ui);
// Security Services › Recipient Validation (admin_ui_validation.cc).
void RegisterValidationPages(admin::Server& server, const UiPtr& ui);

}  // namespace tidegate::webui::ui
