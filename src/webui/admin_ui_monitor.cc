// admin_ui_monitor.cc — Monitor › Delivery Status (with a page per destination) and Monitor ›
// Message Tracking (see admin_ui.h). Read-only pages: the figures come from the same functions
// as the JSON API (TophostsRows, FindHostStatus, Tracking::Find/Events, FormatTrackingLine).
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <regex>

#include "admin/layout.h"
#include "admin/text_codec.h"
#include "telemetry/tracking.h"
#include "webui/admin_common.h"
#include "webui/admin_ui_internal.h"
#include "webui/tracking_params.h"

namespace tidegate::webui::ui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;

namespace {

constexpr int kStatusRefreshSeconds = 10;

std::string Num(std::uint64_t v) {
  // Thousands separators, as tophosts prints them.
  std::string digits = std::to_string(v), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// ---- Delivery Status --------------------------------------------------------------------

// The link from a Delivery Status row to its destination's page.
std::string HostLink(const std::string& host) {
  return fmt::format("<a href=\"/ui/status/{}\">{}</a>", Esc(admin::PercentEncode(host)),
                     Esc(host));
}

std::string TimeOr(base::SystemTime t, const char* none) {
  return t == base::SystemTime{} ? std::string(none) : Esc(LocalTime(t, "%a %b %e %H:%M:%S %Y %Z"));
}

std::string ListOr(const std::vector<std::string>& items, const char* none) {
  if (items.empty()) return none;
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : "<br>") + Esc(item);
  return out;
}

// Monitor › Delivery Status › one destination: the hoststatus figures, as the ESA's Delivery
// Status Details page shows them. The name comes from the URL: anything that cannot name a
// destination, or a destination tophosts does not list, is a 404 page.
Response HostPage(const UiContext& ui, const Request& req) {
  constexpr const char* kTitle = "Delivery Status Details";
  const std::optional<std::string> name = DestinationName(req.subpath);
  if (!name) {
    // Not echoed: it may be any bytes at all.
    return MessagePage(req, 404, kTitle,
                       "Not a destination name: a destination is a domain or the.tdc.queue.");
  }
  const std::optional<HostStatus> h = FindHostStatus(ui.ctx, *name);
  if (!h) {
    return MessagePage(req, 404, kTitle,
                       "No destination \"" + *name +
                           "\" is known: no mail was queued for it since the gateway started.");
  }
  const telemetry::DestinationCounters& d = h->counters;
  auto row = [](const char* id, const char* label, const std::string& html) {
    return fmt::format("<tr id=\"{}\"><th>{}</th><td>{}</td></tr>", id, label, html);
  };
  auto num = [](const char* id, const char* label, std::uint64_t v) {
    return fmt::format("<tr id=\"{}\"><th>{}</th><td class=\"num\">{}</td></tr>", id, label,
                       Num(v));
  };
  std::string next = "None waiting";
  if (h->next_attempt) {
    next = *h->next_attempt <= base::SystemClock::Instance().Now()
               ? std::string("Now (waiting for a connection)")
               : TimeOr(*h->next_attempt, "None waiting");
  }
  std::string last_error = "None";
  if (!d.last_error.empty()) {
    last_error = Esc(d.last_error) + " <span class=\"muted\">(" +
                 TimeOr(d.last_error_at, "time unknown") + ")</span>";
  }
  std::string body = fmt::format(
      "<p><a href=\"/ui/status\">&larr; Delivery Status</a></p><h2 id=\"host\">{}</h2>"
      "<p>Status as of: <strong>{}</strong>. Counters since the gateway started. This page "
      "refreshes every {} seconds.</p>",
      Esc(h->host), Esc(LocalTime(base::SystemClock::Instance().Now(), "%a %b %e %H:%M:%S %Y %Z")),
      kStatusRefreshSeconds);
  body += "<h2>Current Information</h2><table class=\"kv\" id=\"current\">";
  body += row("status", "Latest host status",
              h->down ? "<span class=\"error\">Down</span>" : (h->counted ? "Up" : "Unknown"));
  body += row("last-activity", "Last activity", TimeOr(d.last_activity, "None"));
  body += row("next-attempt", "Next attempt", next);
  body +=
      row("next-hops", "Ordered IP addresses (last resolution)", ListOr(d.next_hops, "None yet"));
  body += row("ips-used", "IP addresses used (most recent first)", ListOr(d.ips_used, "None yet"));
  body += row("last-error", "Last error", last_error);
  body += row("last-4xx", "Last 4XX error", d.last_4xx.empty() ? "None" : Esc(d.last_4xx));
  body += row("last-5xx", "Last 5XX error", d.last_5xx.empty() ? "None" : Esc(d.last_5xx));
  body +=
      row("last-tls", "Last TLS error", d.last_tls_error.empty() ? "None" : Esc(d.last_tls_error));
  body += "</table><h2>Counters</h2><table class=\"kv\" id=\"host-counters\">";
  body += num("active", "Active recipients", h->active);
  body += num("connections-out", "Connections out", d.connections_out);
  body += num("delivered", "Recipients delivered", d.delivered);
  body += num("delivered-mail", "&nbsp;&nbsp;mail", h->journal ? 0 : d.delivered);
  body += num("delivered-journal", "&nbsp;&nbsp;journal copies", h->journal ? d.delivered : 0);
  body += num("soft-bounced", "Soft bounced events", d.soft_bounced);
  body += num("hard-bounced", "Hard bounced recipients", d.hard_bounced);
  body += "</table><h2>Queue</h2><table class=\"kv\" id=\"host-queue\">";
  body += num("entries-ready", "Messages ready", h->ready);
  body += num("entries-scheduled", "Messages waiting for a retry", h->scheduled);
  body += num("entries-in-flight", "Messages being delivered", h->in_flight);
  body += num("window", "Connection window", h->window);
  body += "</table>";
  return Page(req, 200, std::string(kTitle) + ": " + h->host, body, kStatusRefreshSeconds);
}

Response StatusPage(const UiContext& ui, const Request& req) {
  std::vector<TophostsRow> rows = TophostsRows(ui.ctx);
  // tophosts' default order: active recipients, descending (then name, for a stable page).
  std::stable_sort(rows.begin(), rows.end(),
                   [](const TophostsRow& a, const TophostsRow& b) { return a.active > b.active; });
  const auto g = ui.ctx.counters->Global();
  std::string body = fmt::format(
      "<p>Status as of: <strong>{}</strong>. Hosts marked with <strong>*</strong> were down as "
      "of the last delivery attempt. This page refreshes every {} seconds.</p>",
      Esc(LocalTime(base::SystemClock::Instance().Now(), "%a %b %e %H:%M:%S %Y %Z")),
      kStatusRefreshSeconds);
  body +=
      "<table id=\"tophosts\"><thead><tr><th class=\"num\">#</th><th>Recipient Host</th>"
      "<th class=\"num\">Active Recip.</th><th class=\"num\">Conn. Out</th>"
      "<th class=\"num\">Deliv. Recip.</th><th class=\"num\">Soft Bounced</th>"
      "<th class=\"num\">Hard Bounced</th><th>Status</th></tr></thead><tbody>";
  std::size_t i = 0;
  for (const TophostsRow& r : rows) {
    ++i;
    body += fmt::format(
        "<tr data-host=\"{0}\"{1}><td class=\"num\">{2}{3}</td><td>{10}</td>"
        "<td class=\"num\">{4}</td><td class=\"num\">{5}</td><td class=\"num\">{6}</td>"
        "<td class=\"num\">{7}</td><td class=\"num\">{8}</td><td>{9}</td></tr>",
        Esc(r.host), r.down ? " class=\"down\"" : "", i, r.down ? "*" : "", Num(r.active),
        Num(r.connections_out), Num(r.delivered), Num(r.soft_bounced), Num(r.hard_bounced),
        r.down ? "<span class=\"error\">down</span>" : "up", HostLink(r.host));
  }
  if (rows.empty()) {
    body += "<tr><td colspan=\"8\" class=\"muted\">No destinations yet.</td></tr>";
  }
  body += "</tbody></table>";
  body += fmt::format(
      "<h2>Since the gateway started</h2><table class=\"kv\" id=\"counters\">"
      "<tr><th>Messages received</th><td class=\"num\">{}</td></tr>"
      "<tr><th>Recipients received</th><td class=\"num\">{}</td></tr>"
      "<tr><th>Recipients delivered</th><td class=\"num\">{}</td></tr>"
      "<tr id=\"delivered-mail\"><th>&nbsp;&nbsp;mail</th><td class=\"num\">{}</td></tr>"
      "<tr id=\"delivered-journal\"><th>&nbsp;&nbsp;journal copies</th>"
      "<td class=\"num\">{}</td></tr>"
      "<tr><th>Journal copies made</th><td class=\"num\">{}</td></tr>"
      "<tr><th>Journal copies delivered</th><td class=\"num\">{}</td></tr>"
      "<tr><th>Journal copies failed</th><td class=\"num\">{}</td></tr>"
      "<tr><th>Journal copies queued now</th><td class=\"num\">{}</td></tr></table>",
      Num(g.messages_received), Num(g.recipients_received), Num(g.recipients_delivered),
      Num(g.recipients_delivered_mail), Num(g.recipients_delivered_journal), Num(g.journal_copies),
      Num(g.journal_delivered), Num(g.journal_failed), Num(ui.ctx.queue->journal_backlog()));
  return Page(req, 200, "Delivery Status", body, kStatusRefreshSeconds);
}

// ---- Message Tracking ---------------------------------------------------------------------

// machine: the PostgreSQL backend's (CONTRACT §11: MIDs are per machine); "" with SQLite.
std::string MidLink(std::uint64_t mid, const std::string& machine = "") {
  if (machine.empty()) return fmt::format("<a href=\"/ui/tracking/{0}\">{0}</a>", mid);
  return fmt::format("<a href=\"/ui/tracking/{0}?machine={1}\">{0}</a>", mid,
                     Esc(admin::PercentEncode(machine)));
}

constexpr std::size_t kPageSize = 200;

std::string SearchForm(const Request& req, const std::map<std::string, std::string>& errors) {
  auto error = [&](const char* id) {
    auto it = errors.find(id);
    return it == errors.end() ? std::string() : FieldError(id, it->second);
  };
  auto field = [&](const char* id, const char* label, const char* type) {
    return fmt::format(
        "<div class=\"field\"><label for=\"{0}\">{1}</label><input type=\"{2}\" id=\"{0}\" "
        "name=\"{0}\" value=\"{3}\"> {4}</div>",
        id, label, type, Esc(req.param(id)), error(id));
  };
  std::string match = req.param("match").empty() ? "is" : req.param("match");
  std::string options;
  for (const char* m : {"begins", "is", "contains"}) {
    options += fmt::format("<option value=\"{}\"{}>{}</option>", m,
                           match == m ? " selected" : "",
                           std::string_view(m) == "begins" ? "Begins With"
                           : std::string_view(m) == "is"   ? "Is"
                                                           : "Contains");
  }
  const bool journal = !req.param("include_journal").empty() &&
                       req.param("include_journal") != "0" &&
                       req.param("include_journal") != "false";
  // GET: a search changes nothing, so it needs no CSRF token and can be bookmarked.
  return "<form method=\"get\" action=\"/ui/tracking\" class=\"panel\" id=\"search\">" +
         fmt::format("<div class=\"field\"><label for=\"match\">Sender, Recipient, Subject"
                     "</label><select id=\"match\" name=\"match\">{}</select> {}</div>",
                     options, error("match")) +
         field("sender", "Envelope Sender", "text") +
         field("recipient", "Envelope Recipient", "text") + field("subject", "Subject", "text") +
         field("sender_ip", "Sender IP Address", "text") +
         field("message_id", "Message-ID", "text") + field("mid", "MID", "text") +
         field("policy", "Policy", "text") +
         field("since", "Received from", "datetime-local") +
         field("until", "Received until", "datetime-local") +
         fmt::format("<div class=\"field\"><label for=\"include_journal\">Journal copies</label>"
                     "<input type=\"checkbox\" id=\"include_journal\" name=\"include_journal\" "
                     "value=\"1\"{}> <span class=\"muted\">include the copies made for the "
                     "Threat Defense Connector</span></div>",
                     journal ? " checked" : "") +
         "<div class=\"field\"><button type=\"submit\">Search</button> "
         "<a href=\"/ui/tracking\">Clear</a></div></form>";
}

// The request's query with offset replaced (paging links, the CSV export).
std::string QueryWith(const Request& req, std::optional<std::size_t> offset) {
  std::string out;
  for (const auto& [k, v] : req.query) {
    if (k == "offset" || v.empty()) continue;
    out += (out.empty() ? "?" : "&") + admin::PercentEncode(k) + "=" + admin::PercentEncode(v);
  }
  if (offset && *offset > 0) out += (out.empty() ? "?" : "&") + fmt::format("offset={}", *offset);
  return out;
}

// The page's own query: its fields (admin::Request::query) checked as the API checks them; the
// page ignores parameters it does not know, where the API answers 400.
TrackingParams PageParams(const Request& req) {
  TrackingParams p = ParseTrackingParams(req.query, kPageSize, 1000);
  std::erase_if(p.errors, [](const auto& e) { return e.second == "unknown"; });
  return p;
}

Response TrackingCsvExport(const UiContext& ui, const Request& req) {
  TrackingParams params = PageParams(req);
  if (!params.errors.empty()) return Response::Error(400, TrackingParamsError(params));
  if (ui.ctx.tracking == nullptr) return Response::Error(503, "message tracking unavailable");
  // The export takes the rows of the search from the page's offset, up to the store's most.
  if (req.param("limit").empty()) params.query.limit = telemetry::Tracking::kMaxFindLimit;
  auto found = ui.ctx.tracking->Find(params.query);
  if (!found) return Response::Error(500, found.error().message);
  Response r;
  r.status = 200;
  r.content_type = "text/csv; charset=utf-8";
  r.body = TrackingCsv(*found);
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"tracking.csv\"");
  return r;
}

Response TrackingSearch(const UiContext& ui, const Request& req) {
  constexpr const char* kTitle = "Message Tracking";
  TrackingParams params = PageParams(req);
  telemetry::TrackingQuery& q = params.query;
  std::string body = SearchForm(req, params.errors);
  if (!params.errors.empty()) return Page(req, 400, kTitle, body);
  if (ui.ctx.tracking == nullptr) {
    return Page(req, 503, kTitle, body + Alert("Message tracking is not available."));
  }
  const std::size_t page = q.limit;
  ++q.limit;  // one more tells whether there is a next page
  auto found = ui.ctx.tracking->Find(q);
  if (!found) return Page(req, 500, kTitle, body + Alert(found.error().message));
  const bool more = found->size() > page;
  if (more) found->resize(page);
  // Fits a 1366-px window: fixed column widths, long Message-IDs and addresses wrap.
  body +=
      "<style>table#results{table-layout:fixed}table#results td{overflow-wrap:anywhere;"
      "word-break:break-word}table#results col.mid{width:7em}table#results col.time{width:"
      "10em}table#results col.policy,table#results col.status{width:9em}</style>";
  body += fmt::format(
      "<h2>Results <span id=\"range\">{}</span></h2>",
      found->empty() ? std::string("(none)")
                     : fmt::format("{}–{}", q.offset + 1, q.offset + found->size()));
  std::string pager = "<p class=\"pager\">";
  if (q.offset > 0) {
    pager += fmt::format("<a id=\"prev\" href=\"/ui/tracking{}\">&larr; Previous {}</a> ",
                         Esc(QueryWith(req, q.offset > page ? q.offset - page : 0)), page);
  }
  if (more) {
    pager += fmt::format("<a id=\"next\" href=\"/ui/tracking{}\">Next {} &rarr;</a> ",
                         Esc(QueryWith(req, q.offset + page)), page);
  }
  pager += fmt::format("<a id=\"csv\" href=\"/ui/tracking.csv{}\">Export CSV</a></p>",
                       Esc(QueryWith(req, q.offset)));
  body += pager;
  // The cluster-wide store tags each Message with its machine: a column of its own then.
  const bool machines =
      std::any_of(found->begin(), found->end(),
                  [](const telemetry::MessageSummary& m) { return !m.machine.empty(); });
  body += std::string("<table id=\"results\"><colgroup>") +
          (machines ? "<col class=\"machine\">" : "") +
          "<col class=\"mid\"><col class=\"time\"><col><col><col><col><col class=\"policy\">"
          "<col class=\"status\"></colgroup><thead><tr>" +
          (machines ? "<th>Machine</th>" : "") +
          "<th class=\"num\">MID</th><th>Received</th>"
          "<th>Sender</th><th>Recipients</th><th>Subject</th><th>Message-ID</th><th>Policy</th>"
          "<th>Status</th></tr></thead><tbody>";
  for (const telemetry::MessageSummary& m : *found) {
    std::string status = Esc(m.status);
    if (m.journal) {
      status += fmt::format("<br><span class=\"muted\">journal copy of MID {}</span>",
                            MidLink(m.parent_mid, m.machine));
    }
    std::string sender = m.sender.empty() ? "&lt;&gt;" : Esc(m.sender);
    if (!m.sender_ip.empty()) {
      sender += fmt::format("<br><span class=\"muted\">{}</span>", Esc(m.sender_ip));
    }
    body += fmt::format(
        "<tr data-mid=\"{0}\"{9}>{10}<td class=\"num\">{1}</td><td>{2}</td><td>{3}</td><td>{4}</td>"
        "<td>{5}</td><td class=\"message-id\">{6}</td><td>{7}</td><td>{8}</td></tr>",
        m.mid, MidLink(m.mid, m.machine), Esc(LocalTime(m.received, "%d %b %Y %H:%M:%S")), sender,
        Esc(Join(m.recipients, ", ")), Esc(m.subject), Esc(m.message_id), Esc(m.policy), status,
        m.machine.empty() ? "" : fmt::format(" data-machine=\"{}\"", Esc(m.machine)),
        machines ? fmt::format("<td>{}</td>", Esc(m.machine)) : "");
  }
  if (found->empty()) {
    body += "<tr><td colspan=\"8\" class=\"muted\">No messages found.</td></tr>";
  }
  body += "</tbody></table>";
  if (more || q.offset > 0) body += pager;
  return Page(req, 200, kTitle, body);
}

// The delivery connection(s) a Message went out on, from its tracking lines (DeliveryReport
// records them as the ESA words them): DCID, address, port, TLS protocol and cipher.
std::string DeliveryConnections(const std::vector<telemetry::TrackingEvent>& events) {
  static const std::regex kOpened(
      R"(SMTP delivery connection \(DCID (\d+)\) opened from interface (\S+) to IP address (\S+) on port (\d+))");
  static const std::regex kTls(
      R"(Delivery connection \(DCID (\d+)\) successfully accepted TLS protocol (\S+) cipher (\S+)\.)");
  struct Row {
    std::string interface, ip, port, protocol, cipher;
  };
  std::vector<std::pair<std::string, Row>> rows;  // in order, one per DCID
  auto row = [&](const std::string& dcid) -> Row& {
    for (auto& [d, r] : rows) {
      if (d == dcid) return r;
    }
    return rows.emplace_back(dcid, Row{}).second;
  };
  for (const telemetry::TrackingEvent& e : events) {
    std::smatch m;
    if (std::regex_search(e.text, m, kOpened)) {
      Row& r = row(m[1].str());
      r.interface = m[2].str();
      r.ip = m[3].str();
      r.port = m[4].str();
    } else if (std::regex_search(e.text, m, kTls)) {
      Row& r = row(m[1].str());
      r.protocol = m[2].str();
      r.cipher = m[3].str();
    }
  }
  if (rows.empty()) return "";
  std::string out =
      "<h2>Delivery Connections</h2><table id=\"connections\"><thead><tr><th class=\"num\">"
      "DCID</th><th>IP Address</th><th class=\"num\">Port</th><th>TLS Protocol</th>"
      "<th>TLS Cipher</th></tr></thead><tbody>";
  for (const auto& [dcid, r] : rows) {
    out += fmt::format(
        "<tr data-dcid=\"{0}\"><td class=\"num\">{0}</td><td>{1}</td><td class=\"num\">{2}</td>"
        "<td>{3}</td><td>{4}</td></tr>",
        Esc(dcid), Esc(r.ip), Esc(r.port), r.protocol.empty() ? "none" : Esc(r.protocol),
        r.cipher.empty() ? "" : Esc(r.cipher));
  }
  return out + "</tbody></table>";
}

Response TrackingDetails(const UiContext& ui, const Request& req) {
  const auto mid = ParseU64(req.subpath);
  if (!mid) return MessagePage(req, 404, "Message Tracking", "A MID is a number.");
  if (ui.ctx.tracking == nullptr) {
    return MessagePage(req, 503, "Message Tracking", "Message tracking is not available.");
  }
  const std::string title = fmt::format("Message Tracking: MID {}", *mid);
  telemetry::TrackingQuery q;
  q.mid = *mid;
  const std::string machine = Trim(req.param("machine"));  // §11: MIDs are per machine
  auto found = ui.ctx.tracking->Find(q);
  if (!found) return MessagePage(req, 500, title, found.error().message);
  if (!machine.empty()) {
    std::erase_if(*found, [&](const telemetry::MessageSummary& m) { return m.machine != machine; });
  }
  auto events = ui.ctx.tracking->Events(*mid, machine);
  if (!events) return MessagePage(req, 500, title, events.error().message);
  if (found->empty() && events->empty()) {
    return MessagePage(req, 404, title, fmt::format("No message with MID {} is known.", *mid));
  }
  std::string body = "<p><a href=\"/ui/tracking\">&larr; Search</a></p>";
  // Journal copies and originals name each other in their event text; the summary of a copy
  // also carries its original's MID.
  static const std::regex kGenerated(R"(TDC: Message (\d+) generated based on message (\d+))");
  std::vector<std::uint64_t> copies;
  std::optional<std::uint64_t> original;
  for (const telemetry::TrackingEvent& e : *events) {
    std::smatch m;
    if (!std::regex_search(e.text, m, kGenerated)) continue;
    auto copy = ParseU64(m[1].str());
    auto of = ParseU64(m[2].str());
    if (!copy || !of) continue;
    if (*of == *mid && std::find(copies.begin(), copies.end(), *copy) == copies.end()) {
      copies.push_back(*copy);
    }
    if (*copy == *mid) original = *of;
  }
  if (!found->empty()) {
    const telemetry::MessageSummary& m = found->front();
    if (m.journal && m.parent_mid != 0) original = m.parent_mid;
    body += fmt::format(
        "<table class=\"kv\" id=\"summary\">{}"
        "<tr><th>MID</th><td>{}</td></tr><tr><th>ICID</th><td>{}</td></tr>"
        "<tr><th>Received</th><td>{}</td></tr><tr><th>Sender IP</th><td id=\"sender-ip\">{}"
        "</td></tr><tr><th>Envelope Sender</th><td>{}</td></tr>"
        "<tr><th>Envelope Recipients</th><td>{}</td></tr><tr><th>Message-ID</th><td>{}</td></tr>"
        "<tr><th>Subject</th><td>{}</td></tr><tr><th>Policy</th><td>{}</td></tr>"
        "<tr><th>Status</th><td>{}</td></tr>",
        m.machine.empty()
            ? ""
            : fmt::format("<tr><th>Machine</th><td id=\"machine\">{}</td></tr>", Esc(m.machine)),
        m.mid, m.icid, Esc(LocalTime(m.received, "%d %b %Y %H:%M:%S %Z")), Esc(m.sender_ip),
        m.sender.empty() ? "&lt;&gt;" : Esc(m.sender), Esc(Join(m.recipients, ", ")),
        Esc(m.message_id), Esc(m.subject), Esc(m.policy), Esc(m.status));
  } else {
    body += "<table class=\"kv\" id=\"summary\">";
  }
  if (original) {
    body += fmt::format("<tr><th>Journal copy of</th><td id=\"original\">MID {}</td></tr>",
                        MidLink(*original, machine));
  }
  if (!copies.empty()) {
    std::string links;
    for (std::uint64_t c : copies) {
      links += (links.empty() ? "MID " : ", MID ") + MidLink(c, machine);
    }
    body += fmt::format("<tr><th>Journal copies</th><td id=\"copies\">{}</td></tr>", links);
  }
  body += "</table>" + DeliveryConnections(*events);
  body += "<h2>Processing Details</h2><ol class=\"events\" id=\"events\">";
  for (const telemetry::TrackingEvent& e : *events) {
    body += fmt::format("<li>{}</li>", Esc(telemetry::FormatTrackingLine(e)));
  }
  if (events->empty()) body += "<li class=\"muted\">No events recorded yet.</li>";
  body += "</ol>";
  return Page(req, 200, title, body);
}

}  // namespace

void RegisterMonitorPages(admin::Server& server, const UiPtr& ui) {
  server.Page("GET", "/ui/status",
              [ui](Request& req) -> asio::awaitable<Response> { co_return StatusPage(*ui, req); });
  server.Page("GET", "/ui/status/*",
              [ui](Request& req) -> asio::awaitable<Response> { co_return HostPage(*ui, req); });
  server.Page("GET", "/ui/tracking", [ui](Request& req) -> asio::awaitable<Response> {
    co_return TrackingSearch(*ui, req);
  });
  server.Page("GET", "/ui/tracking.csv", [ui](Request& req) -> asio::awaitable<Response> {
    co_return TrackingCsvExport(*ui, req);
  });
  server.Page("GET", "/ui/tracking/*", [ui](Request& req) -> asio::awaitable<Response> {
    co_return TrackingDetails(*ui, req);
  });
}

}  // namespace tidegate::webui::ui
