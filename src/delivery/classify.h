// classify.h — the one place that says what a failed delivery attempt means: for each way an
// attempt can fail (the next hop did not resolve, no host took the connection, the session ended
// before a transaction, a recipient was refused) the failure class the scheduler decides on
// (queue::Failure), the RFC 3463 enhanced status and the text that logs, tracking and DSNs show.
//
// Before this file the mapping was written out three times inside QueueManager::RunConnection and
// outcomes.cc, and the journal queue's "a TLS error is permanent" rule twice. Here the queue's rules come in
// as a plain flag, so the same code serves every destination queue.
//
// Pure functions on values; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "delivery/next_hop.h"
#include "queue/rules.h"
#include "smtp/client_session.h"

namespace tidegate::delivery {

struct Classified {
  queue::Failure failure;  // class, and the SMTP reply code (0 when there was no reply)
  std::string enhanced;    // RFC 3463 x.y.z
  std::string text;        // for the logs and the DSN's diagnostic
  int code = 0;            // the SMTP reply code, 0 when the failure was no reply
};

// The next hop of `domain` could not be used: a DNS error, a null MX, or no host at all.
// NXDOMAIN, NODATA and null MX are hard (kDnsHard: 5.1.2 / 5.1.10); anything else temporary
// (kDnsTemporary, 4.4.3).
Classified ClassifyResolution(const NextHop& hop, std::string_view domain);

// No candidate host accepted the connection; `last` is the last one tried. Always kNetwork,
// 4.4.1.
Classified ClassifyConnect(const HostCandidate& last, std::string_view error);

// The session ended before it was ready for a transaction (session.want() != kReady): a refused
// greeting, EHLO or MAIL is an SMTP failure of its reply's class; TLS missing or failing is kTls
// (enhanced x.7.10 missing, x.7.5 failed; 5.x when `tls_failure_permanent`, as for a queue whose
// rules never retry a TLS error, else 4.x); anything else (timeout, protocol error, a close) is
// kNetwork, 4.4.2 unless the server's reply said otherwise.
Classified ClassifySessionFailure(const smtp::ClientSession& session, bool tls_failure_permanent);

// A recipient the transaction did not deliver: a 5xx is kPermanent, a 4xx kTemporary, a reply the
// client made up because the connection broke (synthetic) kNetwork, with no reply code.
queue::Failure ClassifyRecipient(smtp::RecipientOutcome verdict, const smtp::ServerReply& reply);

// The enhanced status to show for a reply: its own, else 5.0.0 for a 5xx and 4.0.0 otherwise.
std::string EnhancedOrDefault(std::string_view enhanced, int code);

}  // namespace tidegate::delivery
