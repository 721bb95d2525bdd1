// delivery_report.h — the delivery engine's typed events, and the one place that renders each into
// its mail log line(s) (CONTRACT §5), its message tracking rows (§7) and its counters (§6, status).
//
// The delivery engine (src/delivery/) states facts — "connection DCID 7 to 192.0.2.1:25 opened",
// "MID 12: rids 0 and 1 delivered, rid 2 deferred with 451 until 10:02" — and knows nothing of how
// they read. How they read is a property of the queue's rules (queue::QueueRules::report): ordinary
// mail reads per recipient (`Delivered`/`Delayed`/`Bounced` lines), journal copies read as the
// Threat Defense Connector's own lines (`TDC: MID 12 successfully delivered for scanning with …`).
// Each fact is emitted once and rendered here, so a log line, its tracking row and its counter can
// never disagree.
//
// Threading: call from one thread (the delivery loop); MailLog, Counters and the tracking sink are
// thread-safe themselves.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "telemetry/counters.h"
#include "telemetry/mail_log.h"
#include "telemetry/tracking_sink.h"

namespace tidegate::telemetry {

// How one queue's events read: chosen by the queue's rules.
struct ReportStyle {
  enum class Wording { kPerRecipient, kJournalCopy } wording = Wording::kPerRecipient;
  std::string queue;                       // the name operators see: the domain, or the named queue
  std::string service_name;                // kJournalCopy: the service its lines name
  std::chrono::seconds max_queue_time{0};  // kJournalCopy: said when a copy is removed too old
};

// An SMTP reply (or the text of a failure that was no reply: code 0).
struct ReplySummary {
  int code = 0;
  std::string enhanced;  // never empty once classified (x.0.0 at least)
  std::string text;
  bool answered = false;      // the peer answered this recipient (else: the attempt's failure)
  bool synthetic = false;     // made up by the client (the connection broke): not the peer's error
  std::string Brief() const;  // "451 text" or, with no code, the text
  // As the counters keep it: the peer's answer "451 text", else the failure's text or "no reply".
  std::string Counted() const;
};

// ---- events ---------------------------------------------------------------------------------

struct NextHopUnusable {  // DNS gave no host (the attempt then fails every ready entry)
  std::string domain;
  bool nxdomain = false;
};
struct NextHopsResolved {
  std::vector<std::string> hops;  // "host [ip]:port", in the order tried
};
enum class ConnectionErrorKind { kNetwork, kTls, kProtocol };
struct ConnectionError {   // no transaction could start on this connection
  std::uint64_t dcid = 0;  // 0 when no TCP connection was made
  std::string ip;
  std::uint16_t port = 0;
  std::string details;
  std::string interface;  // the local address
  // kNetwork: no host took the connection. kTls / kProtocol: the session failed before its
  // first transaction (TLS missing or failing; a refused greeting or EHLO, a timeout, a close).
  ConnectionErrorKind kind = ConnectionErrorKind::kNetwork;
  bool permanent = false;  // the session failure is permanent (a 5xx, or a TLS error not retried)
  std::string summary;     // the classified failure's text (the counters' last error)
};
struct ConnectionOpened {
  std::uint64_t dcid = 0;
  std::string interface, ip;
  std::uint16_t port = 0;
};
struct TlsResult {
  std::uint64_t dcid = 0;
  bool ok = false;
  std::string protocol, cipher, error;
};
struct DeliveryStarted {
  std::uint64_t dcid = 0, mid = 0;
  std::vector<std::uint32_t> rids;
};
// What one attempt (or a connection failure, or an expiry) did to one message's recipients.
// Rendered once its results are durable.
struct AttemptResult {
  std::uint64_t dcid = 0, mid = 0, parent_mid = 0;
  std::map<std::uint32_t, std::string> addresses;  // rid → recipient
  std::vector<std::pair<std::uint32_t, ReplySummary>> delivered, retried, bounced, expired;
  std::chrono::seconds retry_in{0};  // for the retried ones
  bool too_old = false;              // expired because its lifetime ended (else retries used up)
  // The message's acceptance (a journal copy carries its original's, kept by the spool across
  // restarts) and when the attempt's replies were in: a delivered journal copy's delay.
  base::SystemTime received{};
  base::SystemTime ended{};
};
struct MessageFinished {
  std::uint64_t mid = 0, parent_mid = 0;
  std::size_t failed = 0;
};

// ---- the renderer ---------------------------------------------------------------------------

class DeliveryReport {
 public:
  using TrackingSink = telemetry::TrackingSink;

  DeliveryReport(MailLog* log, Counters* counters);
  void set_tracking(TrackingSink sink) { tracking_ = std::move(sink); }

  void Opening(const ReportStyle& style);  // a connection is being set up (Conn. Out + 1)
  void Closed(const ReportStyle& style, std::uint64_t dcid);  // dcid 0: no TCP connection made
  void Down(const ReportStyle& style, bool down);
  void Listed(const ReportStyle& style);  // a queue listed even when idle (tophosts)

  void Report(const ReportStyle& style, const NextHopUnusable& e);
  void Report(const ReportStyle& style, const NextHopsResolved& e);
  void Report(const ReportStyle& style, const ConnectionError& e);
  void Report(const ReportStyle& style, const ConnectionOpened& e);
  void Report(const ReportStyle& style, const TlsResult& e);
  void Report(const ReportStyle& style, const DeliveryStarted& e);
  // An attempt's counters, at once (the log lines wait until its results are durable); the
  // peer's error replies among e's summaries (answered ones) are the queue's recent errors.
  void Count(const ReportStyle& style, const AttemptResult& e);
  void Report(const ReportStyle& style, const AttemptResult& e);
  void Report(const ReportStyle& style, const MessageFinished& e);
  void DsnGenerated(std::uint64_t dsn_mid, std::uint64_t mid);
  // The spool could not give or keep what delivery needs for a message (Critical lines).
  enum class Reading { kToSend, kForDsn };
  void CannotRead(std::uint64_t mid, Reading what, const std::string& error);
  void CannotRecord(std::uint64_t mid, const std::string& error);  // retried until it lands
  void ResultsRecorded(std::uint64_t mid);                         // ... and now it did

 private:
  void Track(std::uint64_t mid, std::string text, std::string status = "");

  MailLog* log_;
  Counters* counters_;
  TrackingSink tracking_;
  // Open connections by DCID, for the tracking lines of each message delivered over one (the
  // ESA's "SMTP delivery connection (DCID n) opened … TLS …"); forgotten when it closes.
  struct OpenConnection {
    std::string interface{}, ip{};
    std::uint16_t port = 0;
    std::string tls_protocol{}, tls_cipher{};  // "" without TLS
  };
  std::map<std::uint64_t, OpenConnection> connections_;
};

}  // namespace tidegate::telemetry
