// admin_ui_quarantine.cc — Monitor › Quarantine (CONTRACT §10): the Spam and Virus quarantines,
// newest first, paged, filtered by quarantine and a search text; one message's metadata and
// header section (as text: escaped, bytes that are not UTF-8 replaced, never rendered); Release
// (posted from the message's page) and Delete (with a confirm page). Release and delete are the
// API's functions (AdminContext::quarantine_release / _delete), run on the worker: they block on
// disk and a spool commit.
#include <fmt/format.h>

#include "admin/layout.h"
#include "webui/admin_common.h"
#include "webui/admin_ui_internal.h"

namespace tidegate::webui::ui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;

namespace {

constexpr const char* kTitle = "Quarantine";
constexpr std::size_t kPageSize = 50;

std::string Attr(const spool::MessageMeta& m, const char* key) {
  auto it = m.attrs.find(key);
  return it == m.attrs.end() ? std::string() : it->second;
}

std::string MessageUrl(std::uint64_t mid, std::string_view action = "") {
  return action.empty() ? fmt::format("/ui/quarantine/{}", mid)
                        : fmt::format("/ui/quarantine/{}/{}", mid, action);
}

std::string Recipients(const spool::MessageMeta& meta) {
  std::string out;
  for (const spool::Recipient& r : meta.recipients) {
    out += (out.empty() ? "" : "<br>") + EscBytes(r.address);
  }
  return out;
}

std::string ListUrl(const quarantine::Query& q, std::size_t offset) {
  return fmt::format("/ui/quarantine?quarantine={}&search={}&offset={}", Url(q.quarantine),
                     Url(q.search), offset);
}

Response List(const UiContext& ui, const Request& req) {
  quarantine::Query q;
  q.quarantine = req.param("quarantine");
  if (q.quarantine != quarantine::kSpam && q.quarantine != quarantine::kVirus) q.quarantine = "";
  q.search = Trim(req.param("search"));
  q.offset = ParseU64(req.param("offset")).value_or(0);
  q.limit = kPageSize;
  std::string body;
  if (req.param("done") == "released") {
    body += Notice(fmt::format("MID {} was released from quarantine and is being delivered.",
                               req.param("mid")));
  } else if (req.param("done") == "deleted") {
    body += Notice(fmt::format("MID {} was deleted from quarantine.", req.param("mid")));
  }
  const quarantine::Page page = ui.ctx.quarantine->List(q);
  const auto stats = ui.ctx.quarantine->stats();
  auto count = [&](const char* name) {
    auto it = stats.messages.find(name);
    return it == stats.messages.end() ? std::size_t{0} : it->second;
  };
  body +=
      fmt::format("<p>Spam: <strong>{}</strong> messages, Virus: <strong>{}</strong> messages.</p>",
                  count(quarantine::kSpam), count(quarantine::kVirus));
  auto option = [&](std::string_view value, std::string_view label) {
    return fmt::format("<option value=\"{}\"{}>{}</option>", value,
                       q.quarantine == value ? " selected" : "", label);
  };
  body += fmt::format(
      "<form method=\"get\" action=\"/ui/quarantine\" class=\"panel\" id=\"filter\">"
      "<div class=\"field\"><label for=\"quarantine\">Quarantine</label>"
      "<select id=\"quarantine\" name=\"quarantine\">{}{}{}</select></div>"
      "<div class=\"field\"><label for=\"search\">Search</label>"
      "<input type=\"text\" id=\"search\" name=\"search\" value=\"{}\" "
      "placeholder=\"sender, recipient, subject, Message-ID or reason\"></div>"
      "<div class=\"field\"><button type=\"submit\">Search</button></div></form>",
      option("", "All"), option(quarantine::kSpam, "Spam"), option(quarantine::kVirus, "Virus"),
      EscBytes(q.search));
  if (page.entries.empty()) {
    body += "<p id=\"empty\" class=\"muted\">No messages.</p>";
    return Page(req, 200, kTitle, body);
  }
  body += fmt::format("<p id=\"range\">Messages {}–{} of {} (newest first).</p>", q.offset + 1,
                      q.offset + page.entries.size(), page.total);
  body +=
      "<table id=\"quarantine-list\"><thead><tr><th class=\"num\">MID</th><th>Quarantine</th>"
      "<th>Stored</th><th>Sender</th><th>Recipients</th><th>Subject</th><th>Reason</th>"
      "<th class=\"num\">Size</th></tr></thead><tbody>";
  for (const quarantine::Entry& e : page.entries) {
    body += fmt::format(
        "<tr data-mid=\"{0}\"><td class=\"num\"><a href=\"{1}\">{0}</a></td><td>{2}</td>"
        "<td>{3}</td><td>{4}</td><td>{5}</td><td>{6}</td><td>{7}</td><td class=\"num\">{8}</td>"
        "</tr>",
        e.meta.mid, MessageUrl(e.meta.mid), Esc(e.quarantine),
        Esc(LocalTime(e.stored, "%d %b %Y %H:%M:%S")), EscBytes(e.meta.sender), Recipients(e.meta),
        EscBytes(Attr(e.meta, "subject")), EscBytes(e.reason), e.size);
  }
  body += "</tbody></table><p id=\"paging\">";
  if (q.offset > 0) {
    body += fmt::format("<a href=\"{}\" rel=\"prev\">Newer</a> ",
                        Esc(ListUrl(q, q.offset > kPageSize ? q.offset - kPageSize : 0)));
  }
  if (q.offset + page.entries.size() < page.total) {
    body += fmt::format("<a href=\"{}\" rel=\"next\">Older</a>",
                        Esc(ListUrl(q, q.offset + page.entries.size())));
  }
  body += "</p>";
  return Page(req, 200, kTitle, body);
}

std::string MetaTable(const quarantine::Entry& e) {
  auto row = [](std::string_view name, const std::string& html) {
    return fmt::format("<tr><th>{}</th><td>{}</td></tr>", name, html);
  };
  return "<table class=\"kv\" id=\"meta\">" + row("MID", std::to_string(e.meta.mid)) +
         row("Quarantine", Esc(e.quarantine)) +
         row("Stored", Esc(LocalTime(e.stored, "%d %b %Y %H:%M:%S %Z"))) +
         row("Received", Esc(LocalTime(e.meta.received, "%d %b %Y %H:%M:%S %Z"))) +
         row("Reason", EscBytes(e.reason)) + row("Policy", EscBytes(e.meta.policy)) +
         row("Sender", EscBytes(e.meta.sender)) + row("Recipients", Recipients(e.meta)) +
         row("Subject", EscBytes(Attr(e.meta, "subject"))) +
         row("Message-ID", EscBytes(Attr(e.meta, "message_id"))) +
         row("Size", fmt::format("{} bytes", e.size)) + "</table>";
}

Response View(const UiContext& ui, const Request& req, const quarantine::Entry& e) {
  std::string message;
  if (base::Status s = ui.ctx.quarantine->ReadMessage(e.meta.mid, message); !s) {
    return MessagePage(req, 500, kTitle, s.error().message);
  }
  const std::string title = fmt::format("Quarantined message {}", e.meta.mid);
  std::string body = MetaTable(e);
  body += fmt::format(
      "<div class=\"panel\" id=\"message-actions\">"
      "<form method=\"post\" action=\"{}\" class=\"inline\">{}"
      "<button type=\"submit\" id=\"release\">Release</button></form> "
      "<a href=\"{}\" id=\"delete\">Delete...</a>"
      "<p class=\"muted\">Release delivers the message to its recipients now (and the Threat "
      "Defense Connector journals it); Delete removes it for good.</p></div>",
      MessageUrl(e.meta.mid, "release"), admin::CsrfField(req), MessageUrl(e.meta.mid, "delete"));
  body += "<h2>Headers</h2><pre id=\"headers\">" + EscBytes(HeaderSection(message)) + "</pre>";
  body += "<p><a href=\"/ui/quarantine\">Back to the quarantine</a></p>";
  return Page(req, 200, title, body);
}

Response DeleteConfirm(const Request& req, const quarantine::Entry& e) {
  return Page(
      req, 200, "Delete quarantined message",
      MetaTable(e) + fmt::format("<form method=\"post\" action=\"{}\" class=\"panel\">{}"
                                 "<p>Delete message <strong>{}</strong> from the {} quarantine? "
                                 "It will not be delivered.</p>"
                                 "<button type=\"submit\">Delete</button> "
                                 "<a href=\"{}\">Cancel</a></form>",
                                 MessageUrl(e.meta.mid, "delete"), admin::CsrfField(req),
                                 e.meta.mid, Esc(e.quarantine), MessageUrl(e.meta.mid)));
}

// /ui/quarantine/<mid>[/release|/delete]
asio::awaitable<Response> MessageAction(UiPtr ui, Request& req) {
  if (ui->ctx.quarantine == nullptr || ui->ctx.worker == nullptr) {
    co_return MessagePage(req, 503, kTitle, "The quarantine is not available.");
  }
  const std::string& sub = req.subpath;
  const auto slash = sub.find('/');
  const std::string action = slash == std::string::npos ? "" : sub.substr(slash + 1);
  auto mid = ParseU64(sub.substr(0, slash));
  if (!mid || (action != "" && action != "release" && action != "delete")) {
    co_return MessagePage(req, 404, kTitle, "No such page.");
  }
  auto e = ui->ctx.quarantine->Get(*mid);
  if (!e)
    co_return MessagePage(req, 404, kTitle, fmt::format("MID {} is not in a quarantine.", *mid));
  if (req.method == "GET") {
    if (action.empty()) co_return View(*ui, req, *e);
    if (action == "delete") co_return DeleteConfirm(req, *e);
    co_return Response::Redirect(MessageUrl(*mid), 303);
  }
  if (action.empty()) co_return MessagePage(req, 404, kTitle, "No such page.");
  const std::string user = req.user;
  const auto& f = action == "release" ? ui->ctx.quarantine_release : ui->ctx.quarantine_delete;
  // A named local, not a temporary: GCC 12 mishandles temporaries living across a co_await.
  std::function<base::Status()> work = [&f, mid = *mid, user] { return f(mid, user); };
  base::Status s = co_await OnWorker(*ui->ctx.worker, std::move(work));
  if (!s) co_return MessagePage(req, 500, kTitle, s.error().message);
  ui->server->Audit(req, fmt::format("quarantine {} {}", action, *mid));
  co_return Response::Redirect(fmt::format("/ui/quarantine?done={}&mid={}",
                                           action == "release" ? "released" : "deleted", *mid),
                               303);
}

}  // namespace

void RegisterQuarantinePages(admin::Server& server, const UiPtr& ui) {
  server.Page("GET", "/ui/quarantine", [ui](Request& req) -> asio::awaitable<Response> {
    if (ui->ctx.quarantine == nullptr) {
      co_return MessagePage(req, 503, kTitle, "The quarantine is not available.");
    }
    co_return List(*ui, req);
  });
  for (const char* method : {"GET", "POST"}) {
    server.Page(method, "/ui/quarantine/*", [ui](Request& req) -> asio::awaitable<Response> {
      co_return co_await MessageAction(ui, req);
    });
  }
}

}  // namespace tidegate::webui::ui
