// recipient_check.h — recipient validation's lookup test (CONTRACT §13), shared by the JSON API
// (POST /api/v1/recipient-validation/test) and the Web UI's Recipient Validation page: "would
// this address be accepted at RCPT time, and why", through AdminContext::test_recipient.
//
// CheckRecipient() never blocks the io thread: it starts the hook and suspends the calling
// coroutine until the hook's `done` runs or a deadline (the longest method timeout + 5 s)
// passes, whichever is first — so a hook that never answers (a Validator replaced by a reload)
// cannot hang the request. Io thread only, like the hook. Nothing throws.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/config.h"
#include "validation/validator.h"
#include "webui/admin_api.h"

namespace tidegate::webui {

// The page's and the API's message when the hook is empty.
inline constexpr std::string_view kValidationNotRunning =
    "recipient validation is not running in this gateway";

struct RecipientCheck {
  std::string address;  // as parsed (local@domain)
  validation::Verdict verdict;
};

// Errors: not an address; a domain that is not accepted (validation does not apply); the hook
// empty (kValidationNotRunning); no answer before the deadline.
boost::asio::awaitable<base::Result<RecipientCheck>> CheckRecipient(const AdminContext& ctx,
                                                                    std::string_view address);

// The HTTP status for an error of CheckRecipient: 503 not running, 504 no answer, 400 the rest.
int CheckErrorStatus(const base::Error& error);

// Whether the address was subject to validation: a method answered (now or cached) or
// always_accept matched; false when its domain is in neither method's list.
bool VerdictValidated(const validation::Verdict& v);

// "accept" | "unknown" | "tempfail" | "harvest_limit": the API's verdict.
const char* VerdictName(const validation::Verdict& v);
// What the session would answer, for people: "accepted", "accepted on failure (on_failure:
// accept)", "refused: 550 5.1.1 …", "temporary failure: 451 4.4.3 …", "refused: 421 4.7.0 …".
std::string VerdictSummary(const validation::Verdict& v, std::string_view address);
// Who answered: "ldap", "call-ahead", "always_accept", "not validated", "cached (ldap)".
std::string VerdictSource(const validation::Verdict& v);
// "ldap" | "call-ahead" | "none": the API's method.
const char* VerdictMethod(const validation::Verdict& v);

}  // namespace tidegate::webui
