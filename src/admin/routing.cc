// routing.cc — the admin server's route table and the dispatch of one request (Server::Impl,
// see server_internal.h): the Host check, the built-in /login and /logout routes, authentication
// (login.cc), the handler, and the refusals (404, 405, 500) shaped for an API or a page.
#include <fmt/format.h>

#include <cassert>
#include <exception>
#include <utility>

#include "admin/layout.h"
#include "admin/server_internal.h"
#include "admin/text_codec.h"

namespace tidegate::admin {

namespace asio = boost::asio;

// ---- Route table ----

void Server::Impl::AddRoute(std::string method, std::string path, bool page, Handler handler,
                            bool open) {
  assert(!path.empty() && path[0] == '/');
  assert(path != "/login" && path != "/logout");
  assert(handler);
  Route route;
  route.method = std::move(method);
  route.page = page;
  route.open = open;
  route.handler = std::move(handler);
  if (path.size() >= 2 && path.ends_with("/*")) {
    route.prefix = true;
    path.pop_back();  // keep the '/'
  }
  route.path = std::move(path);
  routes_.push_back(std::move(route));
}

// ---- Request policy ----

bool Server::Impl::HostAllowed(std::string_view host) const {
  return allowed_hosts_.count(AsciiLower(host)) > 0;
}

const Route* Server::Impl::FindRoute(Request& request, std::string* allow) const {
  const Route* best = nullptr;
  for (const Route& route : routes_) {
    bool match = route.prefix ? request.path.starts_with(route.path) : request.path == route.path;
    if (!match) continue;
    if (route.method != request.method) {
      if (allow->find(route.method) == std::string::npos) {
        *allow += allow->empty() ? route.method : ", " + route.method;
      }
      continue;
    }
    // Exact beats prefix; a longer prefix beats a shorter one.
    if (best == nullptr || (!route.prefix && best->prefix) ||
        (route.prefix && best->prefix && route.path.size() > best->path.size())) {
      best = &route;
    }
  }
  if (best != nullptr && best->prefix) request.subpath = request.path.substr(best->path.size());
  return best;
}

Response Server::Impl::Refuse(const Request& request, bool page, int status,
                              std::string message) const {
  if (!page) return Response::Error(status, std::move(message));
  // Rendered without the session (no navigation, no logout form): an error body carries no
  // CSRF token.
  Request anonymous;
  anonymous.path = request.path;
  return Response::Html(
      status, Layout(anonymous, "Request refused",
                     fmt::format("<p class=\"alert\">{}</p><p><a href=\"{}\">Continue</a></p>",
                                 HtmlEscape(message), HtmlEscape(options_.home))));
}

asio::awaitable<Response> Server::Impl::RunHandler(const Route& route, Request& request) {
  std::string failure;
  try {
    co_return co_await route.handler(request);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  Log(fmt::format("handler for {} {} failed: {}", request.method, ForLog(request.path),
                  ForLog(failure)));
  co_return Refuse(request, route.page, 500, "internal error");
}

asio::awaitable<Response> Server::Impl::Handle(Request& request) {
  ++requests_;
  {
    // Open routes (a public exporter's /metrics) answer anyone, by any Host name.
    std::string ignored;
    const Route* open = FindRoute(request, &ignored);
    if (open != nullptr && open->open) co_return co_await RunHandler(*open, request);
  }
  std::string host = request.header("host");
  if (!HostAllowed(host)) {
    Log(fmt::format("refused request from {} for Host '{}'", request.remote_ip, ForLog(host)));
    co_return Response::Error(421, "this server does not answer to that Host name");
  }
  if (request.path == "/login") {
    if (request.method == "POST") co_return co_await Login(request);
    if (!IsSafeMethod(request.method)) {
      Response r = Response::Error(405, "method not allowed");
      r.headers.emplace_back("Allow", "GET, POST");
      co_return r;
    }
    if (FindSession(request) != nullptr) {
      co_return Response::Redirect(SafeNext(request.param("next"), options_.home), 302);
    }
    co_return LoginForm(request, "", 200);
  }
  if (request.path == "/logout") {
    if (request.method == "POST") co_return Logout(request);
    Response r = Response::Error(405, "method not allowed");
    r.headers.emplace_back("Allow", "POST");
    co_return r;
  }

  std::string allow;
  const Route* route = FindRoute(request, &allow);
  // Unknown paths are authenticated like their neighbours, so that a 404 tells a stranger
  // nothing: /api/... as an API, everything else as a page.
  bool page = route != nullptr ? route->page
                               : !(request.path == "/api" || request.path.starts_with("/api/"));
  if (auto refusal = co_await Authenticate(request, page)) co_return std::move(*refusal);

  if (route == nullptr) {
    if (request.path == "/" && IsSafeMethod(request.method)) {
      co_return Response::Redirect(options_.home, 302);
    }
    if (!allow.empty()) {
      Response r = Refuse(request, page, 405, "method not allowed");
      r.headers.emplace_back("Allow", allow);
      co_return r;
    }
    co_return Refuse(request, page, 404, "not found");
  }

  co_return co_await RunHandler(*route, request);
}

}  // namespace tidegate::admin
