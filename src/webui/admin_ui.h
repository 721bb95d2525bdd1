// admin_ui.h — the administrator's Web UI (CONTRACT §9, issue 6): server-rendered HTML pages on
// the admin HTTP server (admin/server.h), which does the login, sessions and CSRF checks.
//
// Pages (the navigation of admin/layout.cc):
//   /ui/tdc                      Security Services › Threat Defense Connector Settings
//   /ui/policies                 Mail Policies › Incoming Mail Policies: the table, with
//   /ui/policies/add               add a policy
//   /ui/policies/<name>/edit       name, recipients, senders
//   /ui/policies/<name>/tdc        the policy's Threat Defense Connector setting
//   /ui/policies/<name>/move       (POST) one place up or down
//   /ui/policies/<name>/delete     confirm page, then delete
//   /ui/status                   Monitor › Delivery Status (the tophosts figures; refreshes itself)
//   /ui/tracking                 Monitor › Message Tracking: search form and results
//   /ui/tracking/<mid>             one message: summary, event lines, journal copy <-> original
//   /ui/cluster                  System Administration › Cluster (admin_ui_cluster.cc; cluster mode:
//                                the machines, mode, connection; Change Mode; and the
//                                Centralized Management Options block on every settings page of a
//                                shared section)
// Every change goes through config::ConfigEditor (validated, atomic), is applied live through
// AdminContext::reload and leaves an audit line (admin::Server::Audit, via=ui). Form posts
// answer 303 to a GET page on success (so a reload never posts twice) and re-render the form
// with the entered values and the error beside the field otherwise. Every dynamic value is
// HTML-escaped; no page needs JavaScript or an external asset.
//
// Threads: handlers run on the gateway's io thread, like the JSON API's. RegisterAdminUi must be
// called before Server::Start(); `server` and everything `context` points to must outlive it.
#pragma once

#include "admin/server.h"
#include "webui/admin_api.h"

namespace tidegate::webui {

void RegisterAdminUi(admin::Server& server, AdminContext context);

}  // namespace tidegate::webui
