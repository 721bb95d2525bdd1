// admin_ui_staging.cc — Web UI staging (Commit Changes / Abandon Changes, as the ESA does) and
// System Administration › Configuration History (CONTRACT §12). See admin_ui_internal.h.
#include <fmt/format.h>

#include <algorithm>

#include "admin/layout.h"
#include "config/history.h"
#include "webui/admin_ui_internal.h"
#include "webui/configs.h"

namespace tidegate::webui::ui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;

const StagedChange* Staging::Find(const std::string& session) const {
  for (const auto& [key, change] : sessions_) {
    if (key == session) return &change;
  }
  return nullptr;
}

void Staging::Put(const std::string& session, StagedChange change) {
  Drop(session);
  if (sessions_.size() >= kMaxSessions) sessions_.erase(sessions_.begin());
  sessions_.emplace_back(session, std::move(change));
}

void Staging::Drop(const std::string& session) {
  std::erase_if(sessions_, [&](const auto& p) { return p.first == session; });
}

base::Result<config::ConfigEditor> LoadEditor(const UiContext& ui, const Request& req) {
  if (const StagedChange* staged = ui.staging->Find(req.csrf_token)) {
    return config::ConfigEditor::FromText(ui.ctx.config()->path, staged->text);
  }
  return webui::LoadEditor(ui.ctx);
}

asio::awaitable<EditOutcome> StageEdit(const UiContext& ui, config::ConfigEditor& editor,
                                       const Request& req) {
  if (auto v = editor.Validate(); !v) co_return EditOutcome{400, v.error().message};
  const StagedChange* staged = ui.staging->Find(req.csrf_token);
  std::string base = staged != nullptr ? staged->base : editor.original();
  if (editor.text() == base) {
    ui.staging->Drop(req.csrf_token);  // back to the live configuration: nothing to commit
  } else {
    std::string comment = req.field("comment");
    if (comment.empty() && staged != nullptr) comment = staged->comment;
    ui.staging->Put(req.csrf_token, StagedChange{std::move(base), editor.text(), comment});
  }
  co_return EditOutcome{};
}

std::shared_ptr<const config::GatewayConfig> UiConfig(const UiContext& ui, const Request& req) {
  auto live = ui.ctx.config();
  if (const StagedChange* staged = ui.staging->Find(req.csrf_token)) {
    if (auto parsed = config::ParseGatewayConfig(staged->text, live->path)) return *parsed;
  }
  return live;
}

namespace {

// A same-site path under /ui/ to come back to after the banner's posts (never another host).
std::string ReturnTo(const Request& req) {
  std::string to = req.field("return_to");
  if (!to.starts_with("/ui/") || to.find_first_of("?#\\\r\n\"<>") != std::string::npos) {
    return "/ui/configs";
  }
  return to;
}

std::string WithParam(const std::string& path, std::string_view param) {
  return path + "?" + std::string(param);
}

}  // namespace

std::string StagedBanner(const Staging& staging, const Request& req) {
  std::string notice;
  if (req.param("changes") == "committed") {
    notice = Notice("Your changes have been committed and are in effect.");
  } else if (req.param("changes") == "abandoned") {
    notice = Notice("Your uncommitted changes have been abandoned.");
  }
  const StagedChange* staged = req.csrf_token.empty() ? nullptr : staging.Find(req.csrf_token);
  if (staged == nullptr) return notice;
  const std::string back = fmt::format("<input type=\"hidden\" name=\"return_to\" value=\"{}\">",
                                       Esc(req.path));
  return notice + fmt::format(
      "<div class=\"panel staged\" id=\"uncommitted\" role=\"status\">"
      "<p><strong>Uncommitted changes:</strong> you have changed settings that are not in effect "
      "yet. Commit them to apply them, or abandon them.</p>"
      "<form method=\"post\" action=\"/ui/changes/commit\" class=\"inline\">{0}{1}"
      "<label for=\"commit_comment\">Comment (optional)</label> "
      "<input type=\"text\" id=\"commit_comment\" name=\"comment\" value=\"{2}\" size=\"50\" "
      "maxlength=\"255\"> "
      "<button type=\"submit\" id=\"commit_changes\">Commit Changes</button></form> "
      "<form method=\"post\" action=\"/ui/changes/abandon\" class=\"inline\">{0}{1}"
      "<button type=\"submit\" id=\"abandon_changes\">Abandon Changes</button></form></div>",
      admin::CsrfField(req), back, Esc(staged->comment));
}

namespace {

constexpr const char* kHistoryTitle = "Configuration History";

asio::awaitable<Response> HistoryList(const UiContext& ui, const Request& req) {
  auto list = co_await ListConfigs(ui.ctx);
  if (!list.ok()) co_return MessagePage(req, list.status, kHistoryTitle, list.error);
  auto& entries = list.value;
  // Cluster mode: each entry is a commit at one level, and a rollback restores that level.
  const bool levels = ui.ctx.cluster != nullptr;
  std::string body;
  if (const std::string n = req.param("rolledback"); !n.empty()) {
    body += Notice("Rolled back to configuration " + n + ": committed and in effect.");
  }
  body += "<div class=\"panel\"><table class=\"grid\" id=\"history\"><thead><tr><th>Number</th>"
          "<th>Time (UTC)</th><th>User</th>";
  if (levels) body += "<th>Level</th>";
  body += "<th>Comment</th><th></th></tr></thead><tbody>";
  std::reverse(entries.begin(), entries.end());  // newest first
  for (const config::HistoryEntry& e : entries) {
    body += fmt::format(
        "<tr><td>{0}</td><td>{1}</td><td>{2}</td>{5}<td>{3}</td><td><a href=\"/ui/configs/{0}\">"
        "View</a>{4}</td></tr>",
        e.number, Esc(e.time), Esc(e.user), Esc(e.comment),
        e.number == entries.front().number
            ? std::string()
            : fmt::format(" · <a href=\"/ui/configs/{}/rollback\">Roll Back</a>", e.number),
        levels ? "<td>" + Esc(e.level) + "</td>" : std::string());
  }
  body += "</tbody></table></div>";
  co_return Page(req, 200, kHistoryTitle, std::move(body));
}

std::optional<std::uint64_t> EntryNumber(std::string_view s) {
  auto n = ParseU64(s);
  if (!n || *n == 0) return std::nullopt;
  return n;
}

asio::awaitable<Response> HistoryEntryPage(const UiContext& ui, const Request& req,
                                           std::uint64_t n) {
  auto got = co_await GetConfig(ui.ctx, n);
  if (!got.ok()) co_return MessagePage(req, got.status, kHistoryTitle, got.error);
  const config::HistoryEntry& e = got.value;
  std::string body = fmt::format(
      "<div class=\"panel\"><table class=\"kv\"><tr><th>Number</th><td>{}</td></tr>"
      "<tr><th>Time (UTC)</th><td>{}</td></tr><tr><th>User</th><td>{}</td></tr>{}"
      "<tr><th>Comment</th><td>{}</td></tr></table>"
      "<p><a href=\"/ui/configs\">All entries</a> · <a href=\"/ui/configs/{}/rollback\">Roll "
      "Back to this configuration</a></p></div>",
      n, Esc(e.time), Esc(e.user),
      e.level.empty() ? std::string() : "<tr><th>Level</th><td>" + Esc(e.level) + "</td></tr>",
      Esc(e.comment), n);
  // The change this entry made: from the previous entry still kept at the same level (on a
  // single machine every entry has the same, empty, level).
  auto list = co_await ListConfigs(ui.ctx);
  std::optional<std::uint64_t> previous;
  for (const auto& x : list.value) {
    if (x.number < n && x.level == e.level) previous = x.number;
  }
  if (previous) {
    auto diff = co_await DiffConfigs(ui.ctx, *previous, n);
    body += fmt::format("<div class=\"panel\"><h2>Changes from entry {}</h2><pre id=\"diff\">{}</pre>"
                        "</div>",
                        *previous, diff.ok() ? EscBytes(diff.value) : Esc(diff.error));
  }
  body += fmt::format("<div class=\"panel\"><h2>Configuration</h2><pre id=\"config\">{}</pre></div>",
                      EscBytes(e.text));
  co_return Page(req, 200, fmt::format("{} — entry {}", kHistoryTitle, n), std::move(body));
}

asio::awaitable<Response> RollbackConfirm(const UiContext& ui, const Request& req,
                                          std::uint64_t n, int status, std::string error) {
  auto got = co_await GetConfig(ui.ctx, n);
  if (!got.ok()) co_return MessagePage(req, got.status, kHistoryTitle, got.error);
  const config::HistoryEntry& e = got.value;
  std::string body = Alert(error);
  body += fmt::format(
      "<div class=\"panel\"><p>Roll back to configuration {} ({} by {})? {}</p>"
      "<form method=\"post\" action=\"/ui/configs/{}/rollback\">{}"
      "<div class=\"field\"><label for=\"comment\">Comment (optional)</label>"
      "<input type=\"text\" id=\"comment\" name=\"comment\" size=\"50\" maxlength=\"255\"></div>"
      "<div class=\"field\"><button type=\"submit\" id=\"confirm_rollback\">Roll Back</button> "
      "<a href=\"/ui/configs\">Cancel</a></div></form></div>",
      n, Esc(e.time), Esc(e.user),
      e.level.empty()
          ? std::string("It is committed at once as a new entry, applied live and written to "
                        "the configuration file.")
          : "The " + Esc(e.level) + " level is set back to this entry at once, as a new entry, " +
                "and every machine applies it.",
      n, admin::CsrfField(req));
  co_return Page(req, status, "Roll Back Configuration", std::move(body));
}

}  // namespace

void RegisterStagingPages(admin::Server& server, const UiPtr& ui) {
  server.Page("POST", "/ui/changes/abandon", [ui](Request& req) -> asio::awaitable<Response> {
    if (ui->staging->Find(req.csrf_token) != nullptr) {
      ui->staging->Drop(req.csrf_token);
      ui->server->Audit(req, "abandon changes");
    }
    co_return Response::Redirect(WithParam(ReturnTo(req), "changes=abandoned"), 303);
  });

  server.Page("POST", "/ui/changes/commit", [ui](Request& req) -> asio::awaitable<Response> {
    const StagedChange* staged = ui->staging->Find(req.csrf_token);
    if (staged == nullptr) co_return Response::Redirect(ReturnTo(req), 303);
    const StagedChange change = *staged;
    auto editor = webui::LoadEditor(ui->ctx);
    if (!editor) co_return MessagePage(req, 500, "Commit Changes", editor.error().message);
    if (editor->original() != change.base) {
      std::string who;
      if (ui->ctx.history != nullptr && ui->ctx.history->newest()) {
        const auto list = ui->ctx.history->List();
        who = fmt::format(" (now entry {} by {}: {})", list.back().number, list.back().user,
                          list.back().comment);
      }
      co_return MessagePage(
          req, 409, "Commit Changes",
          "Commit refused: the configuration was changed by someone else since you began these "
          "changes" + who + ". Abandon Changes and make them again on the current configuration.");
    }
    if (base::Status s = editor->SetText(change.text); !s) {
      co_return MessagePage(req, 400, "Commit Changes", s.error().message);
    }
    EditOutcome r = co_await CommitEdit(ui->ctx, *editor, req);
    if (!r.ok()) co_return MessagePage(req, r.http_status, "Commit Changes", r.message);
    ui->staging->Drop(req.csrf_token);
    ui->server->Audit(req, "commit changes");
    co_return Response::Redirect(WithParam(ReturnTo(req), "changes=committed"), 303);
  });

  server.Page("GET", "/ui/configs", [ui](Request& req) -> asio::awaitable<Response> {
    co_return co_await HistoryList(*ui, req);
  });

  server.Page("GET", "/ui/configs/*", [ui](Request& req) -> asio::awaitable<Response> {
    const std::string& sub = req.subpath;
    if (sub.ends_with("/rollback")) {
      if (auto n = EntryNumber(sub.substr(0, sub.size() - 9))) {
        co_return co_await RollbackConfirm(*ui, req, *n, 200, "");
      }
    } else if (auto n = EntryNumber(sub)) {
      co_return co_await HistoryEntryPage(*ui, req, *n);
    }
    co_return MessagePage(req, 404, kHistoryTitle, "No such page.");
  });

  server.Page("POST", "/ui/configs/*", [ui](Request& req) -> asio::awaitable<Response> {
    const std::string& sub = req.subpath;
    std::optional<std::uint64_t> n;
    if (sub.ends_with("/rollback")) n = EntryNumber(sub.substr(0, sub.size() - 9));
    if (!n) co_return MessagePage(req, 404, kHistoryTitle, "No such page.");
    EditOutcome r = co_await RollbackConfig(ui->ctx, req, *n);
    if (!r.ok()) co_return co_await RollbackConfirm(*ui, req, *n, r.http_status, r.message);
    ui->server->Audit(req, fmt::format("configs rollback {}", *n));
    co_return Response::Redirect(fmt::format("/ui/configs?rolledback={}", *n), 303);
  });
}

}  // namespace tidegate::webui::ui
