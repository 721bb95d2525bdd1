// auth_results.h — the Authentication-Results header field (RFC 8601) the gateway adds (§10).
//
// rspamd reports SPF, DKIM and DMARC as symbols; AuthResultsFromRspamdSymbols maps them to RFC
// 8601 results (CONTRACT §10's table) and FormatAuthResults writes the field, with the gateway's
// hostname as authserv-id, ready for Edits::prepend. FindOwnAuthResults finds the incoming
// Authentication-Results fields that claim that authserv-id, which RFC 8601 §5 says a receiving
// ADMD must delete before adding its own (their indexes go to Edits::remove). HeaderFromDomain
// gives the domain of the From: field, for the dmarc result's header.from property.
// Pure functions over values and string_views; tolerant of hostile input (never crash, bounded
// work); nothing from the message or the caller reaches the output unchecked. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tidegate::mail {

// RFC 8601 result keywords: none, pass, fail, softfail, neutral, temperror, permerror (and policy).
struct AuthResults {
  std::string spf = "none", dkim = "none", dmarc = "none";
  friend bool operator==(const AuthResults&, const AuthResults&) = default;
};

// §10: R_SPF_ALLOW/_FAIL/_SOFTFAIL/_NEUTRAL/_DNSFAIL/_PERMFAIL/_NA → spf=pass/fail/softfail/
// neutral/temperror/permerror/none; R_DKIM_ALLOW/_REJECT/_TEMPFAIL/_PERMFAIL/_NA → dkim=pass/fail/
// temperror/permerror/none; DMARC_POLICY_ALLOW → pass, DMARC_POLICY_REJECT/_QUARANTINE/_SOFTFAIL
// → fail, DMARC_BAD_POLICY → permerror, DMARC_NA → none. A method with no symbol → none. Other
// symbols are ignored. Should rspamd ever report two symbols of one method, the result does not
// depend on their order: fail > permerror > temperror > softfail > neutral > pass > none.
AuthResults AuthResultsFromRspamdSymbols(const std::vector<std::string>& symbols);

// "Authentication-Results: <authserv_id>;\r\n spf=pass smtp.mailfrom=<domain>;\r\n dkim=pass;\r\n
// dmarc=pass header.from=<domain>" without a final CRLF (a field for Edits::prepend). Unfolded it
// reads "Authentication-Results: id; spf=pass smtp.mailfrom=d; dkim=pass; dmarc=pass
// header.from=d". A property is written only when its domain is a syntactically valid ASCII
// domain (lower-cased, one trailing dot dropped); a result that is not an RFC 8601 keyword is
// written as "none"; characters of authserv_id outside letters, digits, '.', '-' and '_' are
// dropped ("localhost" if none is left). So no CR, LF, NUL, ';' or comment ever gets in.
std::string FormatAuthResults(std::string_view authserv_id, const AuthResults& results,
                              std::string_view mailfrom_domain,
                              std::string_view header_from_domain);

// Indexes (as in Edits::remove: into ParseHeaderFields(HeaderSection(message))) of the
// Authentication-Results fields whose authserv-id equals `authserv_id` (ASCII case-insensitive,
// one trailing dot ignored on either side), whatever follows it. The field is unfolded; comments
// "(...)", nested or not, and white space before the id are skipped; the id is a token or a
// quoted-string (RFC 8601 §2.2), so "id;", "id 1;" (a version) and "id" alone all match. An empty
// authserv_id matches nothing.
std::vector<std::uint32_t> FindOwnAuthResults(std::string_view message,
                                              std::string_view authserv_id);

// The lower-cased domain of the single mailbox in the message's first From: field, or "" when
// there is none, there are several, or the domain is not a syntactically valid ASCII domain.
// Comments and quoted display names are skipped; "Name <a@b>" and "a@b" forms are read.
std::string HeaderFromDomain(std::string_view message);

}  // namespace tidegate::mail
