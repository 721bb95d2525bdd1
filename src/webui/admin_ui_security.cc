// admin_ui_security.cc — Security Services › Anti-Spam and › Anti-Virus (CONTRACT §10): each
// engine's global settings as configured ("not configured" without its section) and a Test
// Connection button. The test builds a short-lived RspamdClient / ClamdClient on the io
// executor from the current settings (its timeout capped at kProbeTimeout, which bounds the
// whole test, connect included), runs Probe() (GET /ping → pong; zPING → PONG) and shows OK or
// the error. The scan stage's own clients are not touched.
#include <fmt/format.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "admin/layout.h"
#include "engines/clamd_client.h"
#include "engines/rspamd_client.h"
#include "webui/admin_ui_internal.h"

namespace tidegate::webui::ui {

namespace asio = boost::asio;
using admin::Request;
using admin::Response;

namespace {

constexpr std::chrono::milliseconds kProbeTimeout{10000};

std::string Seconds(config::Duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return ms % 1000 == 0 ? fmt::format("{} s", ms / 1000) : fmt::format("{} ms", ms);
}

std::string Bytes(std::uint64_t n) {
  if (n % (1 << 20) == 0) return fmt::format("{} MiB ({} bytes)", n >> 20, n);
  if (n % (1 << 10) == 0) return fmt::format("{} KiB ({} bytes)", n >> 10, n);
  return fmt::format("{} bytes", n);
}

std::string Row(std::string_view name, const std::string& value) {
  return fmt::format("<tr><th>{}</th><td>{}</td></tr>", name, Esc(value));
}

// Runs client.Probe() and resumes with its status. The completion is posted so that the
// coroutine (which then destroys the client) never runs inside the client's own call stack.
template <typename Client>
asio::awaitable<base::Status> AwaitProbe(Client& client, asio::any_io_executor ex) {
  auto initiate = [&client, ex](auto handler) {
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    std::function<void(base::Status)> done = [h, ex](base::Status s) {
      asio::post(ex, [h, s = std::move(s)]() mutable { (*h)(std::move(s)); });
    };
    client.Probe(std::move(done));
  };
  base::Status s =
      co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(base::Status)>(
          initiate, asio::use_awaitable);
  co_return s;
}

struct Engine {
  std::string_view slug;     // "antispam"
  std::string_view title;    // "Anti-Spam"
  std::string_view section;  // "anti_spam"
  std::string_view probe;    // what the test sends
};

constexpr Engine kSpam{"antispam", "Anti-Spam", "anti_spam", "GET /ping, expecting pong"};
constexpr Engine kVirus{"antivirus", "Anti-Virus", "anti_virus", "zPING, expecting PONG"};

std::string SettingsTable(const Engine& e, const config::GatewayConfig& cfg) {
  std::string rows;
  if (e.slug == "antispam" && cfg.anti_spam) {
    const config::AntiSpamEngine& s = *cfg.anti_spam;
    const bool v6 = s.host.find(':') != std::string::npos;
    rows =
        Row("Engine", s.engine) +
        Row("URL", fmt::format("http://{}{}{}:{}", v6 ? "[" : "", s.host, v6 ? "]" : "", s.port)) +
        Row("Timeout", Seconds(s.timeout)) +
        Row("Maximum concurrent requests", std::to_string(s.max_concurrency)) +
        Row("Maximum message size", Bytes(s.max_message_size)) +
        Row("Retry delay", Seconds(s.retry_delay));
  } else if (e.slug == "antivirus" && cfg.anti_virus) {
    const config::AntiVirusEngine& s = *cfg.anti_virus;
    rows = Row("Engine", s.engine) + Row("Address", s.address) +
           Row("Timeout", Seconds(s.timeout)) +
           Row("Maximum concurrent requests", std::to_string(s.max_concurrency)) +
           Row("Maximum message size", Bytes(s.max_message_size)) +
           Row("Retry delay", Seconds(s.retry_delay));
  }
  return rows.empty() ? std::string() : "<table class=\"kv\" id=\"engine\">" + rows + "</table>";
}

std::string Body(const Request& req, const Engine& e, const config::GatewayConfig& cfg,
                 const std::string& result_html) {
  const std::string table = SettingsTable(e, cfg);
  if (table.empty()) {
    return fmt::format(
        "<p class=\"alert\" id=\"not-configured\">The {0} engine is not configured: the "
        "configuration has no <code>{1}</code> section, so no policy scans with it. "
        "docs/configuration.md describes the section.</p>",
        e.title, e.section);
  }
  return result_html + "<div class=\"panel\"><h2>Settings</h2>" + table +
         fmt::format(
             "<form method=\"post\" action=\"/ui/security/{}/test\">{}"
             "<button type=\"submit\" id=\"test\">Test Connection</button> "
             "<span class=\"muted\">sends {} (at most {} s)</span></form>"
             "<p class=\"muted\">Per-policy settings: <a href=\"/ui/policies\">Incoming Mail "
             "Policies</a>.</p></div>",
             e.slug, admin::CsrfField(req), Esc(e.probe), kProbeTimeout.count() / 1000);
}

asio::awaitable<base::Status> Probe(const Engine& e, const config::GatewayConfig& cfg) {
  auto ex = co_await asio::this_coro::executor;
  if (e.slug == "antispam") {
    engines::RspamdOptions o;
    o.host = cfg.anti_spam->host;
    o.port = cfg.anti_spam->port;
    o.timeout =
        std::min(std::chrono::duration_cast<std::chrono::milliseconds>(cfg.anti_spam->timeout),
                 kProbeTimeout);
    o.max_concurrency = 1;
    auto client = std::make_unique<engines::RspamdClient>(ex, o);
    base::Status s = co_await AwaitProbe(*client, ex);
    co_return s;
  }
  engines::ClamdOptions o;
  o.address = cfg.anti_virus->address;
  o.timeout =
      std::min(std::chrono::duration_cast<std::chrono::milliseconds>(cfg.anti_virus->timeout),
               kProbeTimeout);
  o.max_concurrency = 1;
  auto client = std::make_unique<engines::ClamdClient>(ex, o);
  base::Status s = co_await AwaitProbe(*client, ex);
  co_return s;
}

void Register(admin::Server& server, const UiPtr& ui, const Engine& e) {
  const std::string path = fmt::format("/ui/security/{}", e.slug);
  const std::string title = fmt::format("{} Settings", e.title);
  server.Page("GET", path, [ui, &e, title](Request& req) -> asio::awaitable<Response> {
    co_return SectionPage(*ui, req, 200, title, Body(req, e, *UiConfig(*ui, req), ""));
  });
  server.Page("POST", path + "/test", [ui, &e, title](Request& req) -> asio::awaitable<Response> {
    auto cfg = UiConfig(*ui, req);
    if ((e.slug == "antispam" && !cfg->anti_spam) || (e.slug == "antivirus" && !cfg->anti_virus)) {
      co_return SectionPage(*ui, req, 400, title, Body(req, e, *cfg, ""));
    }
    base::Status s = co_await Probe(e, *cfg);
    ui->server->Audit(req, fmt::format("{} test connection: {}", e.slug,
                                       s ? std::string("OK") : s.error().message));
    const std::string result =
        s ? "<p class=\"notice\" role=\"status\" id=\"test-result\">Connection test: OK</p>"
          : fmt::format(
                "<p class=\"alert\" role=\"alert\" id=\"test-result\">Connection test "
                "failed: {}</p>",
                Esc(s.error().message));
    co_return SectionPage(*ui, req, 200, title, Body(req, e, *cfg, result));
  });
}

}  // namespace

void RegisterSecurityPages(admin::Server& server, const UiPtr& ui) {
  Register(server, ui, kSpam);
  Register(server, ui, kVirus);
}

}  // namespace tidegate::webui::ui
