// console_pages.h — the intake console's HTML pages and JSON views, as pure functions.
//
// Plain server-rendered HTML with a small inline stylesheet and no external assets (the
// console's Content-Security-Policy forbids them). Every value that comes from a message, an
// account or the request is passed through HtmlEscape; nothing else is interpolated.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "intake/store.h"

namespace tidegate::intake {

// The default answer to "which header carries the real client IP?".
inline constexpr std::string_view kDefaultRemoteIpHeader = "X-IronPort-RemoteIP";

// Escapes & < > " ' for element content and quoted attribute values.
std::string HtmlEscape(std::string_view text);
// "2024-02-16 21:19:22 UTC".
std::string DisplayTime(base::SystemTime t);
// "2024-02-16T21:19:22.123Z" (RFC 3339, UTC).
std::string IsoTime(base::SystemTime t);

// The answers of the setup form, echoed back when it has to be shown again.
struct SetupForm {
  std::string name;
  bool gateway_in_front = true;
  bool custom_header = false;
  std::string header;  // the custom header name typed in
};

std::string AccountsPage(const std::vector<AccountRecord>& accounts,
                         const std::map<std::string, std::uint64_t>& counts);
// Newest first; refreshes itself every few seconds.
std::string MessagesPage(const AccountRecord& account, const std::vector<MessageRecord>& messages,
                         std::uint64_t total);
std::string MessagePage(const MessageRecord& message, std::string_view header_section);
std::string SetupPage(std::string_view csrf_token, const SetupForm& form, std::string_view error);
std::string SetupDonePage(const AccountRecord& account);
std::string ErrorPage(int status, std::string_view reason, std::string_view detail);

nlohmann::json MessageJson(const MessageRecord& message);
nlohmann::json AccountJson(const AccountRecord& account, std::uint64_t messages);

}  // namespace tidegate::intake
