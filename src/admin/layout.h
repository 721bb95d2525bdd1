// layout.h — the Web UI's page frame: a complete HTML document with an inline stylesheet, the
// administrator's navigation (as on an ESA: Security Services, Mail Policies, Monitor), the
// logged-in user and a logout button; plus the CSRF form field and the login page.
//
// Pure functions of their arguments (no external assets: the gateway may have no internet);
// any thread. Text arguments are escaped here except `body_html`, which the caller builds and
// must have escaped itself (HtmlEscape).
#pragma once

#include <string>
#include <string_view>

#include "admin/http_message.h"

namespace tidegate::admin {

// <input type="hidden" name="csrf_token" value="..."> with the request's session token. Every
// POST form of the UI must contain it.
std::string CsrfField(const Request& request);

// A whole page titled `title` (escaped) around `body_html` (inserted as is). With a logged-in
// request (user set) the top navigation and logout form are shown, the section holding
// request.path highlighted. `refresh_seconds` > 0 adds a meta refresh (e.g. Delivery Status),
// which needs no script and so works under the server's Content-Security-Policy.
// `banner_html` (inserted as is, outside <main>, between the header and the page) is the Web
// UI's "uncommitted changes" bar.
std::string Layout(const Request& request, std::string title, std::string body_html,
                   int refresh_seconds = 0, std::string_view banner_html = {});

// The login page: a form posting user, password, `csrf_token` (the pre-session token, which the
// server also sets as a cookie) and `next` to /login; `error` (escaped) shown above it if set.
std::string LoginPage(const Request& request, std::string_view login_token, std::string_view next,
                      std::string_view error);

}  // namespace tidegate::admin
