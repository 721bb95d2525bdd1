// config.h — the gateway's and the intake's YAML configuration as validated, immutable snapshots.
//
// LoadGatewayConfig()/ParseGatewayConfig() read the schema of CONTRACT §3 (docs/configuration.md
// is the operator reference) and LoadIntakeConfig()/ParseIntakeConfig() the one of CONTRACT §8.
// Every check happens here, once: a snapshot that loaded is complete and consistent, so the
// modules that use it never re-validate. Failures are base::Error values whose message is one
// line per problem, each `FILE:LINE: key.path: message` (LINE 1-based; a missing key points at
// its enclosing mapping), sorted by line; a file that cannot be read gives `FILE: cannot read:
// <reason>`. Unknown keys, wrong types and duplicate keys are errors.
//
// Relative file names (TLS files, CA files, password files, data_dir) are resolved against the
// directory of the config file; named files must exist (they are not opened). log.mail_log is
// relative to data_dir.
//
// Ownership: a snapshot is shared as std::shared_ptr<const ...>; holders keep it alive as long
// as they use it, and a reload simply publishes a new snapshot. Thread-safety: the functions are
// reentrant and may run on any thread; a snapshot is immutable and may be read from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "mail/address.h"
#include "mail/match.h"

namespace tidegate::config {

using Duration = std::chrono::milliseconds;

// A host and port. host is an IP address (IPv6 without brackets) or, where names are allowed
// (smtp_routes), a host name. Port 0 appears only in listening endpoints ("any free port").
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string str() const;  // "127.0.0.1:2525", "[::1]:25"
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// A server TLS profile (docs/configuration.md, "TLS profiles"); inbound/server_tls.h holds what
// each one means. kOpportunistic: SMTP where TLS is optional — forward-secret AEAD suites first,
// the wider set (CBC, static RSA) below them, since any encryption beats the plain text the
// client would fall back to (RFC 7435). kIntermediate: the common "intermediate" server profile
// (Mozilla), forward-secret AEAD suites only; the default where TLS is required (the intake).
enum class TlsProfile { kOpportunistic, kIntermediate };
std::string_view TlsProfileName(TlsProfile profile);

// A server's TLS settings: PEM files (absolute paths, checked to exist, not read), the profile,
// and optionally an explicit OpenSSL cipher string for TLS 1.2 that replaces the profile's list
// (checked to select at least one cipher). The server always chooses the cipher (its order).
struct TlsFiles {
  std::string certificate;
  std::string key;
  TlsProfile profile = TlsProfile::kOpportunistic;
  std::string ciphers;  // "" = the profile's list
};

struct Listener {
  std::string name;
  Endpoint bind;
  std::optional<TlsFiles> tls;  // present: STARTTLS is offered
  std::uint64_t max_message_size = 10 << 20;
  std::uint32_t max_connections = 1000;
  std::uint32_t max_recipients = 1000;
  Duration idle_timeout = std::chrono::minutes(5);
  Duration session_timeout = std::chrono::minutes(30);
  Duration greeting_delay{0};
  bool require_tls = false;  // STARTTLS required before MAIL (needs tls)
};

// One accepted_domains entry: "example.com" matches exactly that domain; ".example.org" matches
// any subdomain of example.org (not example.org itself). See mail/match.h.
using DomainPattern = mail::DomainPattern;

enum class TlsMode { kNone, kPreferred, kRequired };

struct Retry {
  Duration initial = std::chrono::seconds(60);  // first retry delay; doubles up to max_interval
  Duration max_interval = std::chrono::seconds(3600);
  Duration max_queue_time = std::chrono::hours(72);  // then the message bounces
};

struct Delivery {
  TlsMode tls = TlsMode::kPreferred;
  std::string tls_ca_file;  // absolute, or empty: the system trust store
  std::uint32_t max_connections_per_host = 50;  // per destination, and per next-hop host
  std::uint32_t max_connections_per_ip = 50;    // per next-hop address, across destinations
  std::uint32_t max_connections = 500;          // all outbound connections of ordinary mail
  Retry retry;
  std::uint16_t port = 25;  // SMTP port of MX (and implicit MX) hosts; routes name their own
  Duration connect_timeout = std::chrono::seconds(30);
  Duration command_timeout = std::chrono::seconds(300);
  Duration data_timeout = std::chrono::seconds(600);
};

// The global Threat Defense Connector settings (the rules of the.tdc.queue).
struct ThreatDefenseConnector {
  bool enabled = false;
  std::optional<mail::Address> intake_address;  // always present when enabled
  std::string service_name = "Secure Email Threat Defense";
  std::string remote_ip_header = "X-IronPort-RemoteIP";
  std::uint32_t min_connections = 3;
  std::uint32_t max_connections = 20;  // >= min_connections
  Duration max_queue_time = std::chrono::seconds(120);
  Duration retry_delay = std::chrono::seconds(10);
  std::string tls_ca_file;  // absolute, or empty: the system trust store
  // The TDC's spool quota: journal copies queued at once. Beyond it new copies are not made
  // (logged), so a dead intake can never fill the disk that the original mail needs.
  std::uint32_t max_queued = 100000;
};

// ---- Content security (CONTRACT §10) ----

// What a verdict leads to. kTag = deliver, with the subject tag and a verdict header.
enum class ScanAction : std::uint8_t { kDeliver, kTag, kQuarantine, kDrop };

// The global engine settings. An engine is configured iff its block is present; without it the
// engine is off for every policy (and a policy may not ask for it).
struct AntiSpamEngine {
  std::string engine = "rspamd";
  std::string host = "127.0.0.1";  // from `url: http://HOST:PORT`
  std::uint16_t port = 11333;
  Duration timeout = std::chrono::seconds(15);
  std::uint32_t max_concurrency = 32;
  std::uint64_t max_message_size = 2 << 20;
  Duration retry_delay = std::chrono::seconds(30);
  friend bool operator==(const AntiSpamEngine&, const AntiSpamEngine&) = default;
};

struct AntiVirusEngine {
  std::string engine = "clamd";
  std::string address = "127.0.0.1:3310";  // HOST:PORT or unix:/path
  Duration timeout = std::chrono::seconds(30);
  std::uint32_t max_concurrency = 16;
  std::uint64_t max_message_size = 64 << 20;  // beyond it: skipped for this engine (logged)
  Duration retry_delay = std::chrono::seconds(30);
  friend bool operator==(const AntiVirusEngine&, const AntiVirusEngine&) = default;
};

struct QuarantineSettings {
  Duration retention = std::chrono::hours(24 * 14);
  std::uint64_t max_size = std::uint64_t{1} << 30;
};

// A policy's anti-spam / anti-virus setting after "(use default)" is resolved (see
// GatewayConfig::AntiSpamFor / AntiVirusFor): enabled with these actions, or off.
struct AntiSpamSettings {
  bool enabled = false;
  ScanAction positive = ScanAction::kQuarantine;
  ScanAction suspect = ScanAction::kTag;
  std::string subject_tag = "[SUSPECTED SPAM]";
};

struct AntiVirusSettings {
  bool enabled = false;
  ScanAction infected = ScanAction::kDrop;
  ScanAction unscannable = ScanAction::kTag;
  std::string subject_tag = "[WARNING: A/V UNSCANNABLE]";  // for a tagged unscannable message
};

// A policy's own setting: kDefault "(use default)" (never on DEFAULT), kOff, or kOn with actions.
enum class PolicyScanMode : std::uint8_t { kDefault, kOff, kOn };
struct PolicyAntiSpam {
  PolicyScanMode mode = PolicyScanMode::kDefault;
  AntiSpamSettings settings;  // used when mode == kOn (enabled = true)
};
struct PolicyAntiVirus {
  PolicyScanMode mode = PolicyScanMode::kDefault;
  AntiVirusSettings settings;  // used when mode == kOn (enabled = true)
};

// A policy's TDC setting, as in the Web UI: kDefault "(use default)" = whatever DEFAULT says
// (never on DEFAULT itself), kGlobal "Use Global Settings", kOff "No", kCustom "Use custom
// Message Intake Address" (intake_address set).
enum class PolicyTdcMode { kDefault, kGlobal, kOff, kCustom };
struct PolicyTdc {
  PolicyTdcMode mode = PolicyTdcMode::kDefault;
  std::optional<mail::Address> intake_address;  // set iff mode == kCustom
};

// An incoming mail policy. Patterns are validated and normalised (domain lower-case) but not
// compiled: "user@domain", "@domain", "@.domain" (any subdomain), "user@" (any domain).
// Empty recipients = any recipient, empty senders = any sender; a non-DEFAULT policy has at
// least one pattern, DEFAULT has none. line is the 1-based line of the policy's entry.
struct Policy {
  std::string name;
  std::vector<std::string> recipients;
  std::vector<std::string> senders;
  PolicyTdc tdc;
  PolicyAntiSpam anti_spam;
  PolicyAntiVirus anti_virus;
  int line = 0;
};

inline constexpr std::string_view kDefaultPolicyName = "DEFAULT";

struct Admin {
  Endpoint bind{"127.0.0.1", 8080};
  std::string user = "admin";
  std::string password_file;  // absolute; empty only when the config has no admin section
};

// log.syslog (CONTRACT §12): where a copy of every mail-log line goes.
struct SyslogTarget {
  enum class Protocol : std::uint8_t { kUdp, kTcp };
  enum class Format : std::uint8_t { kRfc5424, kRfc3164 };
  std::string address;        // as written: "HOST:PORT" or "unix:PATH"
  Endpoint endpoint;          // HOST:PORT (port 514 when omitted); unused for unix:
  std::string unix_path;      // non-empty for unix: (absolute; relative to the config's folder)
  Protocol protocol = Protocol::kUdp;  // unix: is always a datagram socket
  std::string facility_name = "mail";
  int facility = 2;  // RFC 5424 table 1
  Format format = Format::kRfc5424;
  std::uint64_t buffer = std::uint64_t{1} << 20;  // lines waiting beyond this are dropped
};

// CONTRACT §12: a listener that serves only GET /metrics, without a login (admin.bind serves
// /metrics too, behind HTTP Basic).
struct Metrics {
  Endpoint bind;
};

struct Log {
  std::string mail_log;  // absolute (default data_dir/mail_logs/mail.current)
  std::uint64_t max_size = 100 << 20;
  Duration rotate_interval = std::chrono::hours(24);  // 0 = rotate by size only
  std::uint32_t keep = 20;                            // rotated files kept
  std::optional<SyslogTarget> syslog;
};

// ---- Cluster mode (CONTRACT §11) ----

enum class TrackingBackend : std::uint8_t { kSqlite, kPostgresql };

// tracking.postgresql: the cluster-wide store. The password is read from password_file at load
// (trailing newline dropped) and never logged or shown.
struct PostgresqlTracking {
  std::string conninfo;       // libpq keyword/value string, without the password
  std::string password_file;  // absolute; "" = none (trust, .pgpass, or a password in conninfo)
  std::string password;
  bool operator==(const PostgresqlTracking&) const = default;
};

struct Tracking {
  Duration retention = std::chrono::hours(24 * 30);  // message tracking history kept this long
  TrackingBackend backend = TrackingBackend::kSqlite;
  PostgresqlTracking postgresql;          // set iff backend == kPostgresql
  std::uint64_t buffer_max = 1ull << 30;  // on-disk buffer while PostgreSQL is unreachable
};

// cluster.etcd: where the shared configuration and the machine registry live.
struct EtcdSettings {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379" / "https://host:port"; >= 1
  std::string prefix = "/tidegate/";   // starts and ends with '/'
  std::string ca_file;                 // absolute; "" = the system's trust store (https only)
  std::string certificate, key;        // client certificate (absolute), both or neither
  std::string username;                // "" = no authentication
  std::string password_file;           // absolute; required with username
  std::string password;                // read from password_file; never logged or shown
  bool operator==(const EtcdSettings&) const = default;
};

struct Cluster {
  std::string name;     // the cluster's name ("Hosted_Cluster")
  std::string machine;  // this machine's name, unique in the cluster
  std::string group;    // "" = in no group
  EtcdSettings etcd;
  bool operator==(const Cluster&) const = default;
};

struct Spool {
  std::uint64_t segment_size = 64 << 20;
  // New mail is refused (452 4.3.1) while less than this would stay free on the data_dir's disk;
  // the rest is kept for delivery records, which free space as the queue drains.
  std::uint64_t min_free_space = 32 << 20;
};

struct Dns {
  std::vector<Endpoint> servers;  // empty: the system resolver
  Duration timeout = std::chrono::seconds(5);
};

// ---- Recipient validation at RCPT time (CONTRACT §13) ----

enum class OnLookupFailure : std::uint8_t { kTempFail, kAccept };

struct LdapValidation {
  std::vector<std::string> uris;  // ldap://host:port or ldaps://…; several fail over in order
  bool starttls = false;          // StartTLS on ldap:// URIs
  std::string base;               // search base
  std::string bind_dn;            // "" = anonymous
  std::string password_file;      // absolute; "" = none (with bind_dn: an error)
  std::string password;           // read from password_file at load, trailing newline dropped;
                                  // never logged, never shown
  std::string filter = "(|(mail={a})(mailLocalAddress={a}))";  // {a} {u} {d}, RFC 4515-escaped
  std::vector<DomainPattern> domains;  // empty: accepted domains not listed under call_ahead
  Duration timeout = std::chrono::seconds(5);  // connect + bind + search
  OnLookupFailure on_failure = OnLookupFailure::kTempFail;
  bool operator==(const LdapValidation&) const = default;
};

struct CallAheadValidation {
  std::vector<DomainPattern> domains;  // required, at least one; takes precedence over ldap
  Duration timeout = std::chrono::seconds(10);  // the whole probe
  OnLookupFailure on_failure = OnLookupFailure::kTempFail;
  bool operator==(const CallAheadValidation&) const = default;
};

struct RecipientValidation {
  // Entries with '@' last ("postmaster@") are local parts in any accepted domain; others are
  // full addresses. Stored lower-cased; matched case-insensitively; never looked up.
  std::vector<std::string> always_accept;
  Duration cache_ttl = std::chrono::minutes(10);  // found / not-found; failures never cached
  std::uint32_t max_invalid_recipients_per_hour = 0;  // per client IP (IPv6 by /64); 0 = off
  std::optional<LdapValidation> ldap;
  std::optional<CallAheadValidation> call_ahead;
  bool operator==(const RecipientValidation&) const = default;
};

struct GatewayConfig {
  std::string path;                             // the config file, as given to Load/Parse
  std::string hostname;                         // greeting, Received:, DSN sender
  std::string data_dir;                         // absolute
  std::vector<Listener> listeners;              // at least one; unique names
  std::vector<DomainPattern> accepted_domains;  // at least one
  std::map<std::string, std::vector<Endpoint>> smtp_routes;  // key: lower-case domain
  Dns dns;
  Delivery delivery;
  ThreatDefenseConnector tdc;
  std::vector<Policy> policies;  // in match order; the last one is DEFAULT
  Admin admin;
  std::optional<Metrics> metrics;  // absent: /metrics only on admin.bind
  Log log;
  Spool spool;
  Tracking tracking;
  std::optional<AntiSpamEngine> anti_spam;    // CONTRACT §10; absent = anti-spam off everywhere
  std::optional<AntiVirusEngine> anti_virus;  // absent = anti-virus off everywhere
  QuarantineSettings quarantine;
  RecipientValidation recipient_validation;  // CONTRACT §13; default: nothing validated
  std::optional<Cluster> cluster;            // CONTRACT §11; absent = a single machine

  // Case-insensitive: is mail for this domain accepted (not relayed)?
  bool IsAcceptedDomain(std::string_view domain) const;
  // The policy of that name (exact), or nullptr.
  const Policy* FindPolicy(std::string_view name) const;
  const Policy& DefaultPolicy() const { return policies.back(); }
  // Where journal copies for this policy go (CONTRACT §3): nothing while the TDC is disabled;
  // kDefault follows DEFAULT, kGlobal the global intake address, kCustom its own, kOff none.
  std::optional<mail::Address> JournalAddress(const Policy& policy) const;
  // The policy's anti-spam / anti-virus after "(use default)": DEFAULT's when kDefault; off when
  // the engine is not configured.
  AntiSpamSettings AntiSpamFor(const Policy& policy) const;
  AntiVirusSettings AntiVirusFor(const Policy& policy) const;
};

base::Result<std::shared_ptr<const GatewayConfig>> LoadGatewayConfig(const std::string& path);
// Parses YAML text as if it were the file `path` (errors name it; relative files resolve
// against its directory). The file itself is not read.
base::Result<std::shared_ptr<const GatewayConfig>> ParseGatewayConfig(std::string_view yaml,
                                                                      const std::string& path);

// ---- The intake service (CONTRACT §8) ----

struct IntakeAccount {
  std::string name;              // unique
  mail::Address intake_address;  // unique (case-insensitive)
};

struct Console {
  Endpoint bind{"127.0.0.1", 8081};
  std::string user = "admin";
  std::string password_file;  // absolute; empty only when the config has no console section
};

struct IntakeConfig {
  std::string path;
  std::string hostname = "localhost";
  Endpoint listen;  // required
  std::optional<TlsFiles> tls;
  bool require_tls = false;  // needs tls
  std::string remote_ip_header = "X-IronPort-RemoteIP";
  std::string data_dir;                       // absolute
  std::uint64_t max_message_size = 64 << 20;  // journal reports wrap whole messages
  Console console;
  std::vector<IntakeAccount> accounts;  // at least one

  // The account whose intake address this is (case-insensitive), or nullptr.
  const IntakeAccount* FindAccountByAddress(const mail::Address& address) const;
  const IntakeAccount* FindAccountByName(std::string_view name) const;
};

base::Result<std::shared_ptr<const IntakeConfig>> LoadIntakeConfig(const std::string& path);
base::Result<std::shared_ptr<const IntakeConfig>> ParseIntakeConfig(std::string_view yaml,
                                                                    const std::string& path);
// Whether `yaml` is meant as an intake configuration (check-config validates either kind): a
// top-level mapping with the intake's `accounts` and without the gateway's `listeners`. Text
// that does not parse is not.
bool IsIntakeConfig(std::string_view yaml);

}  // namespace tidegate::config
