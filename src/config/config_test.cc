#include "config/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "config/test_util.h"

namespace tidegate::config {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::TempDir;

// Eight lines; tests append sections from line 9 on, so their line numbers are easy to read.
const std::string kMinimal =
    "hostname: gw.example.com\n"         // 1
    "data_dir: /var/lib/tidegate\n"      // 2
    "listeners:\n"                       // 3
    "  - name: IncomingMail\n"           // 4
    "    bind: 127.0.0.1:0\n"            // 5
    "accepted_domains: [example.com]\n"  // 6
    "incoming_mail_policies:\n"          // 7
    "  - name: DEFAULT\n";               // 8

std::shared_ptr<const GatewayConfig> Ok(const std::string& yaml,
                                        const std::string& path = "gw.yaml") {
  auto config = ParseGatewayConfig(yaml, path);
  EXPECT_TRUE(config.ok()) << (config.ok() ? "" : config.error().message);
  return config.ok() ? *config : nullptr;
}

std::string Err(const std::string& yaml, const std::string& path = "gw.yaml") {
  auto config = ParseGatewayConfig(yaml, path);
  EXPECT_FALSE(config.ok());
  return config.ok() ? "(loaded)" : config.error().message;
}

// ---- The examples ----

// examples/gateway.yaml, copied beside a generated ../run/ as `make run` will create it.
TEST(GatewayConfig, ContractExampleLoads) {
  TempDir dir;
  std::filesystem::create_directories(dir / "examples");
  std::filesystem::copy_file(std::string(TIDEGATE_SOURCE_DIR) + "/examples/gateway.yaml",
                             dir / "examples/gateway.yaml");
  for (const char* name :
       {"run/tls/gateway.crt", "run/tls/gateway.key", "run/tls/ca.crt", "run/admin.password",
        "run/ldap/slapd/bind.password"}) {
    dir.Write(name, "x\n");
  }
  auto loaded = LoadGatewayConfig(dir / "examples/gateway.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const GatewayConfig& c = **loaded;
  EXPECT_EQ(c.hostname, "gw.example.com");
  EXPECT_EQ(c.data_dir, dir / "run/gateway");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].name, "IncomingMail");
  EXPECT_EQ(c.listeners[0].bind.str(), "127.0.0.1:2525");
  ASSERT_TRUE(c.listeners[0].tls.has_value());
  EXPECT_EQ(c.listeners[0].tls->certificate, dir / "run/tls/gateway.crt");
  EXPECT_EQ(c.listeners[0].tls->key, dir / "run/tls/gateway.key");
  EXPECT_EQ(c.listeners[0].max_message_size, 10u << 20);
  EXPECT_TRUE(c.IsAcceptedDomain("Example.COM"));
  EXPECT_TRUE(c.IsAcceptedDomain("a.example.org"));
  EXPECT_FALSE(c.IsAcceptedDomain("example.org"));
  ASSERT_EQ(c.smtp_routes.count("example.com"), 1u);
  EXPECT_EQ(c.smtp_routes.at("example.com")[0].str(), "127.0.0.1:2626");
  ASSERT_EQ(c.dns.servers.size(), 1u);
  EXPECT_EQ(c.dns.servers[0].str(), "127.0.0.1:5353");
  EXPECT_EQ(c.delivery.tls, TlsMode::kPreferred);
  EXPECT_EQ(c.delivery.tls_ca_file, dir / "run/tls/ca.crt");
  EXPECT_EQ(c.delivery.retry.max_queue_time, hours(72));
  EXPECT_TRUE(c.tdc.enabled);
  ASSERT_TRUE(c.tdc.intake_address.has_value());
  EXPECT_EQ(c.tdc.intake_address->str(), "b5986efe-374c-47a5-aade-b8d98847e1a6@intake.example.net");
  EXPECT_EQ(c.tdc.service_name, "Secure Email Threat Defense");
  EXPECT_EQ(c.tdc.min_connections, 3u);
  EXPECT_EQ(c.tdc.max_connections, 20u);
  EXPECT_EQ(c.tdc.max_queue_time, seconds(120));
  EXPECT_EQ(c.tdc.retry_delay, seconds(10));
  ASSERT_EQ(c.policies.size(), 2u);
  EXPECT_EQ(c.policies[0].name, "Sales");
  EXPECT_EQ(c.policies[0].recipients,
            (std::vector<std::string>{"@sales.example.com", "ceo@example.com"}));
  EXPECT_TRUE(c.policies[0].senders.empty());
  // The demo's Sales policy journals to the intake example's second account (`sales`).
  EXPECT_EQ(c.policies[0].tdc.mode, PolicyTdcMode::kCustom);
  EXPECT_EQ(c.policies[0].tdc.intake_address->str(),
            "5a1e5c0d-7f3b-4e2a-9c1d-2b8e6f4a9d30@intake.example.net");
  EXPECT_EQ(c.DefaultPolicy().name, "DEFAULT");
  EXPECT_EQ(c.DefaultPolicy().tdc.mode, PolicyTdcMode::kGlobal);
  EXPECT_EQ(c.admin.bind.str(), "127.0.0.1:8080");
  EXPECT_EQ(c.admin.password_file, dir / "run/admin.password");
  EXPECT_EQ(c.log.mail_log, dir / "run/gateway/mail_logs/mail.current");
}

TEST(GatewayConfig, ExampleWithoutGeneratedFilesNamesTheMissingFile) {
  TempDir dir;
  std::filesystem::create_directories(dir / "examples");
  std::filesystem::copy_file(std::string(TIDEGATE_SOURCE_DIR) + "/examples/gateway.yaml",
                             dir / "examples/gateway.yaml");
  auto loaded = LoadGatewayConfig(dir / "examples/gateway.yaml");
  ASSERT_FALSE(loaded.ok());
  const std::string first = loaded.error().message.substr(0, loaded.error().message.find('\n'));
  EXPECT_EQ(first, dir / "examples/gateway.yaml" + ":11: listeners[0].tls.certificate: " +
                       (dir / "run/tls/gateway.crt") + ": no such file");
}

// ---- Defaults and paths ----

TEST(GatewayConfig, MinimalConfigGetsDocumentedDefaults) {
  auto c = Ok(kMinimal);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->path, "gw.yaml");
  const Listener& l = c->listeners[0];
  EXPECT_EQ(l.bind.port, 0);  // port 0 is fine for a listener
  EXPECT_FALSE(l.tls.has_value());
  EXPECT_EQ(l.max_message_size, 10u << 20);
  EXPECT_EQ(l.max_connections, 1000u);
  EXPECT_EQ(l.max_recipients, 1000u);
  EXPECT_EQ(l.idle_timeout, minutes(5));
  EXPECT_EQ(l.session_timeout, minutes(30));
  EXPECT_EQ(l.greeting_delay, milliseconds(0));
  EXPECT_FALSE(l.require_tls);
  EXPECT_TRUE(c->smtp_routes.empty());
  EXPECT_TRUE(c->dns.servers.empty());
  EXPECT_EQ(c->dns.timeout, seconds(5));
  EXPECT_EQ(c->delivery.tls, TlsMode::kPreferred);
  EXPECT_EQ(c->delivery.tls_ca_file, "");
  EXPECT_EQ(c->delivery.max_connections_per_host, 50u);
  EXPECT_EQ(c->delivery.max_connections_per_ip, 50u);
  EXPECT_EQ(c->delivery.max_connections, 500u);
  EXPECT_EQ(c->delivery.retry.initial, seconds(60));
  EXPECT_EQ(c->delivery.retry.max_interval, seconds(3600));
  EXPECT_EQ(c->delivery.connect_timeout, seconds(30));
  EXPECT_EQ(c->delivery.data_timeout, seconds(600));
  EXPECT_FALSE(c->tdc.enabled);
  EXPECT_FALSE(c->tdc.intake_address.has_value());
  EXPECT_EQ(c->tdc.remote_ip_header, "X-IronPort-RemoteIP");
  ASSERT_EQ(c->policies.size(), 1u);
  EXPECT_EQ(c->policies[0].tdc.mode, PolicyTdcMode::kGlobal);  // DEFAULT's default
  EXPECT_EQ(c->policies[0].line, 8);
  EXPECT_EQ(c->admin.bind.str(), "127.0.0.1:8080");
  EXPECT_EQ(c->admin.user, "admin");
  EXPECT_EQ(c->admin.password_file, "");
  EXPECT_EQ(c->log.mail_log, "/var/lib/tidegate/mail_logs/mail.current");
  EXPECT_EQ(c->log.max_size, 100u << 20);
  EXPECT_EQ(c->log.keep, 20u);
  EXPECT_EQ(c->spool.segment_size, 64u << 20);
  EXPECT_EQ(c->spool.min_free_space, 32u << 20);
}

TEST(GatewayConfig, RelativePathsResolveAgainstTheConfigDirectory) {
  TempDir dir;
  dir.Write("conf/tls/cert.pem", "c");
  dir.Write("conf/tls/key.pem", "k");
  dir.Write("ca.pem", "a");
  dir.Write("conf/pw", "p");
  const std::string yaml =
      "hostname: gw.example.com\n"
      "data_dir: ../spool\n"
      "listeners:\n"
      "  - name: In\n"
      "    bind: 127.0.0.1:0\n"
      "    tls: {certificate: tls/cert.pem, key: ./tls/key.pem}\n"
      "accepted_domains: [example.com]\n"
      "delivery: {tls_ca_file: ../ca.pem}\n"
      "incoming_mail_policies: [{name: DEFAULT}]\n"
      "admin: {password_file: pw}\n"
      "log: {mail_log: logs/mail.log}\n";
  auto c = Ok(yaml, dir / "conf/gateway.yaml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->data_dir, dir / "spool");
  EXPECT_EQ(c->listeners[0].tls->certificate, dir / "conf/tls/cert.pem");
  EXPECT_EQ(c->listeners[0].tls->key, dir / "conf/tls/key.pem");
  EXPECT_EQ(c->delivery.tls_ca_file, dir / "ca.pem");
  EXPECT_EQ(c->admin.password_file, dir / "conf/pw");
  EXPECT_EQ(c->log.mail_log, dir / "spool/logs/mail.log");
}

TEST(GatewayConfig, AbsoluteMailLogIsKept) {
  auto c = Ok(kMinimal + "log: {mail_log: /var/log/tidegate/mail.current, keep: 3}\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->log.mail_log, "/var/log/tidegate/mail.current");
  EXPECT_EQ(c->log.keep, 3u);
}

TEST(GatewayConfig, SyslogDefaultsAndChoices) {
  EXPECT_FALSE(Ok(kMinimal)->log.syslog);
  auto c = Ok(kMinimal + "log:\n  syslog: {address: 127.0.0.1}\n");
  ASSERT_TRUE(c && c->log.syslog);
  EXPECT_EQ(c->log.syslog->endpoint.str(), "127.0.0.1:514");
  EXPECT_TRUE(c->log.syslog->unix_path.empty());
  EXPECT_EQ(c->log.syslog->protocol, SyslogTarget::Protocol::kUdp);
  EXPECT_EQ(c->log.syslog->facility, 2);
  EXPECT_EQ(c->log.syslog->format, SyslogTarget::Format::kRfc5424);
  EXPECT_EQ(c->log.syslog->buffer, 1u << 20);
  c = Ok(kMinimal +
         "log:\n  syslog: {address: 'logs.example.net:601', protocol: tcp, facility: local3,\n"
         "           format: rfc3164, buffer: 64k}\n");
  ASSERT_TRUE(c && c->log.syslog);
  EXPECT_EQ(c->log.syslog->endpoint.str(), "logs.example.net:601");
  EXPECT_EQ(c->log.syslog->protocol, SyslogTarget::Protocol::kTcp);
  EXPECT_EQ(c->log.syslog->facility, 19);
  EXPECT_EQ(c->log.syslog->format, SyslogTarget::Format::kRfc3164);
  EXPECT_EQ(c->log.syslog->buffer, 64u << 10);
  c = Ok(kMinimal + "log:\n  syslog: {address: 'unix:/dev/log', facility: kern}\n");
  ASSERT_TRUE(c && c->log.syslog);
  EXPECT_EQ(c->log.syslog->unix_path, "/dev/log");
  EXPECT_EQ(c->log.syslog->facility, 0);
}

TEST(GatewayConfig, SyslogErrorsNameTheLine) {
  EXPECT_EQ(Err(kMinimal + "log:\n  syslog: {protocol: udp}\n"),
            "gw.yaml:10: log.syslog.address: missing required key");
  EXPECT_EQ(Err(kMinimal + "log:\n  syslog:\n    address: 127.0.0.1:514\n    protocol: sctp\n"),
            "gw.yaml:12: log.syslog.protocol: expected udp or tcp, got 'sctp'");
  EXPECT_EQ(Err(kMinimal + "log:\n  syslog:\n    address: 127.0.0.1\n    facility: mial\n"),
            "gw.yaml:12: log.syslog.facility: unknown facility 'mial' (expected kern, user, mail, "
            "daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp or local0 to local7)");
  EXPECT_EQ(Err(kMinimal + "log:\n  syslog:\n    address: 127.0.0.1\n    format: json\n"),
            "gw.yaml:12: log.syslog.format: expected rfc5424 or rfc3164, got 'json'");
  EXPECT_EQ(
      Err(kMinimal + "log:\n  syslog:\n    address: 'unix:/dev/log'\n    protocol: tcp\n"),
      "gw.yaml:12: log.syslog.protocol: a unix: address is a datagram socket: protocol must be "
      "udp (or left out)");
  EXPECT_EQ(Err(kMinimal + "log:\n  syslog:\n    address: 'unix:'\n"),
            "gw.yaml:11: log.syslog.address: unix: needs the path of a datagram socket");
  EXPECT_EQ(Err(kMinimal + "log:\n  syslog:\n    address: '127.0.0.1:99999'\n").rfind(
                "gw.yaml:11: log.syslog.address: ", 0),
            0u);
  EXPECT_EQ(Err(kMinimal + "log:\n  syslog:\n    address: 127.0.0.1\n    colour: red\n").rfind(
                "gw.yaml:12: log.syslog.colour: unknown key", 0),
            0u);
}

TEST(GatewayConfig, RelativeConfigPathResolvesAgainstTheWorkingDirectory) {
  auto c =
      Ok("hostname: h.example\ndata_dir: d\nlisteners: [{name: a, bind: '[::1]:0'}]\n"
         "accepted_domains: [x.example]\nincoming_mail_policies: [{name: DEFAULT}]\n",
         "sub/gw.yaml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->data_dir, (std::filesystem::current_path() / "sub/d").lexically_normal().string());
  EXPECT_EQ(c->listeners[0].bind.str(), "[::1]:0");
}

// ---- File and syntax errors ----

TEST(GatewayConfig, UnreadableFile) {
  auto c = LoadGatewayConfig("/nonexistent/tidegate/gateway.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "/nonexistent/tidegate/gateway.yaml: cannot read: No such file or directory");
  TempDir dir;
  auto d = LoadGatewayConfig(dir.path());  // a directory
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().message, dir.path() + ": cannot read: Is a directory");
}

TEST(GatewayConfig, YamlSyntaxErrorHasItsLine) {
  EXPECT_EQ(Err(kMinimal + "smtp_routes:\n  example.com: [127.0.0.1:25\nlog: {}\n"),
            "gw.yaml:11: YAML syntax error: end of sequence flow not found");
}

TEST(GatewayConfig, EmptyOrNonMappingDocument) {
  EXPECT_EQ(Err(""), "gw.yaml:1: the configuration is empty");
  EXPECT_EQ(Err("# nothing\n"), "gw.yaml:1: the configuration is empty");
  EXPECT_EQ(Err("\n- a\n- b\n"),
            "gw.yaml:2: the configuration must be a mapping of keys, got a list");
  EXPECT_EQ(Err(kMinimal + "---\nhostname: x\n"),
            "gw.yaml:10: unexpected content after the end of the configuration (only one YAML "
            "document, one top-level mapping, is allowed)");
}

// config_fuzz finding: yaml-cpp's LoadAll() looped forever, allocating, on a line starting with
// ',' after a comment; the loader now asks for at most two documents.
TEST(GatewayConfig, StrayCommaIsAnErrorNotAHang) {
  EXPECT_EQ(Err("# a comment\n,x\n"),
            "gw.yaml:2: unexpected content after the end of the configuration (only one YAML "
            "document, one top-level mapping, is allowed)");
  EXPECT_EQ(Err(",\n"), "gw.yaml:1: unexpected content after the end of the configuration (only "
                        "one YAML document, one top-level mapping, is allowed)");
}

TEST(GatewayConfig, FileLoadedFromDiskReportsItsName) {
  TempDir dir;
  const std::string path = dir.Write("gateway.yaml", kMinimal + "spool: {segment_size: 1x}\n");
  auto c = LoadGatewayConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            path + ":9: spool.segment_size: invalid size unit in '1x' (use k, M or G)");
}

// ---- Keys and types ----

TEST(GatewayConfig, UnknownKeysAreErrorsWithTheirLineAndAHint) {
  EXPECT_EQ(Err(kMinimal + "hostnam: x\n"),
            "gw.yaml:9: hostnam: unknown key (did you mean 'hostname'?)");
  EXPECT_EQ(Err(kMinimal + "delivery:\n  retry:\n    intial: 5s\n"),
            "gw.yaml:11: delivery.retry.intial: unknown key (did you mean 'initial'?)");
  EXPECT_EQ(Err(kMinimal + "frobnicate: 1\n"), "gw.yaml:9: frobnicate: unknown key");
}

TEST(GatewayConfig, DuplicateKeysAreErrors) {
  EXPECT_EQ(Err(kMinimal + "hostname: other.example.com\n"), "gw.yaml:9: hostname: duplicate key");
}

TEST(GatewayConfig, MissingRequiredKeysPointAtTheEnclosingMapping) {
  EXPECT_EQ(Err("data_dir: /d\nlisteners: [{name: a, bind: 127.0.0.1:0}]\n"
                "accepted_domains: [e.example]\nincoming_mail_policies: [{name: DEFAULT}]\n"),
            "gw.yaml:1: hostname: missing required key");
  EXPECT_EQ(Err("hostname: gw.example.com\n"
                "data_dir: /d\n"
                "listeners:\n"
                "  - name: In\n"
                "  - name: Out\n"
                "    max_connections: 5\n"
                "accepted_domains: [example.com]\n"
                "incoming_mail_policies: [{name: DEFAULT}]\n"),
            "gw.yaml:4: listeners[0].bind: missing required key\n"
            "gw.yaml:5: listeners[1].bind: missing required key");
  EXPECT_EQ(Err(kMinimal + "admin:\n  user: root\n"),
            "gw.yaml:9: admin.password_file: missing required key");
}

TEST(GatewayConfig, MetricsListenerIsOptionalAndNamesItsLineOnErrors) {
  EXPECT_FALSE(Ok(kMinimal)->metrics.has_value());
  const std::string admin = "admin: {password_file: /etc/passwd}\n";  // line 9
  auto c = Ok(kMinimal + admin + "metrics:\n  bind: 127.0.0.1:9464\n");
  ASSERT_TRUE(c->metrics.has_value());
  EXPECT_EQ(c->metrics->bind.str(), "127.0.0.1:9464");
  EXPECT_EQ(
      Err(kMinimal + admin + "metrics:\n  bind: nowhere\n").rfind("gw.yaml:11: metrics.bind", 0),
      0u);
  EXPECT_EQ(Err(kMinimal + admin + "metrics: {}\n"),
            "gw.yaml:10: metrics.bind: missing required key");
  EXPECT_EQ(Err(kMinimal + admin + "metrics:\n  bind: 127.0.0.1:9464\n  bnd: 1\n"),
            "gw.yaml:12: metrics.bnd: unknown key (did you mean 'bind'?)");
  EXPECT_EQ(Err(kMinimal + "metrics:\n  bind: 127.0.0.1:9464\n"),
            "gw.yaml:9: metrics: needs the admin section (with its password_file)");
}

TEST(GatewayConfig, WrongTypesAreErrors) {
  EXPECT_EQ(Err("hostname: gw.example.com\ndata_dir: /d\nlisteners: {name: a}\n"
                "accepted_domains: [example.com]\nincoming_mail_policies: [{name: DEFAULT}]\n"),
            "gw.yaml:3: listeners: expected a list, got a mapping");
  EXPECT_EQ(Err(kMinimal + "delivery: preferred\n"),
            "gw.yaml:9: delivery: expected a mapping, got 'preferred'");
  EXPECT_EQ(Err(kMinimal + "delivery:\n  max_connections_per_host: [1]\n"),
            "gw.yaml:10: delivery.max_connections_per_host: expected a string, got a list");
  EXPECT_EQ(Err(kMinimal + "delivery:\n  tls:\n"), "gw.yaml:10: delivery.tls: missing value");
}

TEST(GatewayConfig, DurationsAcceptUnitsAndBareSeconds) {
  auto c = Ok(kMinimal +
              "threat_defense_connector: {max_queue_time: 90, retry_delay: 1500ms}\n"
              "delivery: {connect_timeout: 2m, retry: {max_queue_time: 5d}}\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->tdc.max_queue_time, seconds(90));
  EXPECT_EQ(c->tdc.retry_delay, milliseconds(1500));
  EXPECT_EQ(c->delivery.connect_timeout, minutes(2));
  EXPECT_EQ(c->delivery.retry.max_queue_time, hours(120));
}

TEST(GatewayConfig, InvalidDurationNamesTheKeyPath) {
  EXPECT_EQ(Err(kMinimal + "threat_defense_connector:\n  enabled: false\n  max_queue_time: 12x\n"),
            "gw.yaml:11: threat_defense_connector.max_queue_time: invalid duration unit in '12x' "
            "(use ms, s, m, h or d)");
  EXPECT_EQ(Err(kMinimal + "delivery: {command_timeout: 0s}\n"),
            "gw.yaml:9: delivery.command_timeout: must be at least 1s");
}

TEST(GatewayConfig, SizesAndIntegers) {
  auto c =
      Ok("hostname: gw.example.com\ndata_dir: /d\nlisteners:\n  - name: a\n"
         "    bind: 127.0.0.1:0\n    max_message_size: 25M\n    max_recipients: 50\n"
         "accepted_domains: [example.com]\nincoming_mail_policies: [{name: DEFAULT}]\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listeners[0].max_message_size, 25u << 20);
  EXPECT_EQ(c->listeners[0].max_recipients, 50u);
  EXPECT_EQ(Err(kMinimal + "delivery: {max_connections_per_host: 0}\n"),
            "gw.yaml:9: delivery.max_connections_per_host: expected an integer from 1 to "
            "4294967295, got '0'");
  EXPECT_EQ(Err(kMinimal + "delivery: {max_connections_per_host: -3}\n"),
            "gw.yaml:9: delivery.max_connections_per_host: expected an integer from 1 to "
            "4294967295, got '-3'");
  EXPECT_EQ(Err(kMinimal + "delivery: {max_connections_per_ip: 0}\n"),
            "gw.yaml:9: delivery.max_connections_per_ip: expected an integer from 1 to "
            "4294967295, got '0'");
  EXPECT_EQ(Err(kMinimal + "delivery: {max_connections: 0}\n"),
            "gw.yaml:9: delivery.max_connections: expected an integer from 1 to "
            "4294967295, got '0'");
  auto c2 = Ok(kMinimal + "delivery: {max_connections_per_ip: 7, max_connections: 9}\n");
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->delivery.max_connections_per_ip, 7u);
  EXPECT_EQ(c2->delivery.max_connections, 9u);
}

TEST(GatewayConfig, BooleansAreTrueOrFalseOnly) {
  EXPECT_EQ(Err(kMinimal + "threat_defense_connector: {enabled: yes}\n"),
            "gw.yaml:9: threat_defense_connector.enabled: expected true or false, got 'yes'");
  EXPECT_EQ(Err(kMinimal + "threat_defense_connector: {enabled: \"false\"}\n"),
            "gw.yaml:9: threat_defense_connector.enabled: expected true or false, got 'false'");
}

// ---- Endpoints ----

TEST(GatewayConfig, EndpointFormsParse) {
  TempDir dir;
  dir.Write("pw", "secret\n");
  auto c = Ok(kMinimal +
                  "smtp_routes:\n"
                  "  Example.COM: [mx1.example.net:2525, '[2001:db8::1]:25', 192.0.2.7]\n"
                  "  other.example: mx.other.example\n"
                  "dns: {servers: ['[::1]', 127.0.0.1:5353]}\n"
                  "admin: {bind: '[::1]:0', password_file: pw}\n",
              dir / "gw.yaml");
  ASSERT_TRUE(c);
  const auto& routes = c->smtp_routes.at("example.com");
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[0].host, "mx1.example.net");
  EXPECT_EQ(routes[0].port, 2525);
  EXPECT_EQ(routes[1].host, "2001:db8::1");
  EXPECT_EQ(routes[1].str(), "[2001:db8::1]:25");
  EXPECT_EQ(routes[2].str(), "192.0.2.7:25");  // default SMTP port
  EXPECT_EQ(c->smtp_routes.at("other.example")[0].str(), "mx.other.example:25");
  EXPECT_EQ(c->dns.servers[0].str(), "[::1]:53");
  EXPECT_EQ(c->admin.bind.str(), "[::1]:0");
}

TEST(GatewayConfig, BadEndpointsAreErrors) {
  EXPECT_EQ(Err(kMinimal + "smtp_routes: {example.com: 'mx.example.com:0'}\n"),
            "gw.yaml:9: smtp_routes.example.com: invalid address 'mx.example.com:0': port 0 is "
            "not allowed here (expected HOST:PORT, e.g. mx.example.com:25, 127.0.0.1:25, "
            "[::1]:25)");
  EXPECT_EQ(Err(kMinimal + "smtp_routes:\n  example.com: [127.0.0.1:70000]\n"),
            "gw.yaml:10: smtp_routes.example.com[0]: invalid address '127.0.0.1:70000': bad port "
            "(expected HOST:PORT, e.g. mx.example.com:25, 127.0.0.1:25, [::1]:25)");
  EXPECT_EQ(Err(kMinimal + "dns: {servers: ['::1']}\n"),
            "gw.yaml:9: dns.servers[0]: invalid address '::1': IPv6 addresses need brackets "
            "(expected IP:PORT, e.g. 127.0.0.1:25 or [::1]:25)");
  EXPECT_EQ(Err("hostname: gw.example.com\ndata_dir: /d\nlisteners:\n  - name: a\n"
                "    bind: localhost:25\naccepted_domains: [example.com]\n"
                "incoming_mail_policies: [{name: DEFAULT}]\n"),
            "gw.yaml:5: listeners[0].bind: invalid address 'localhost:25': not an IP address "
            "(expected IP:PORT, e.g. 127.0.0.1:25 or [::1]:25)");
  EXPECT_EQ(Err("hostname: gw.example.com\ndata_dir: /d\nlisteners:\n  - name: a\n"
                "    bind: 127.0.0.1\naccepted_domains: [example.com]\n"
                "incoming_mail_policies: [{name: DEFAULT}]\n"),
            "gw.yaml:5: listeners[0].bind: invalid address '127.0.0.1': missing port "
            "(expected IP:PORT, e.g. 127.0.0.1:25 or [::1]:25)");
}

TEST(GatewayConfig, RoutesAreKeyedByLowerCaseDomainOnce) {
  EXPECT_EQ(Err(kMinimal + "smtp_routes:\n  example.com: 127.0.0.1:25\n"
                           "  EXAMPLE.com: 127.0.0.1:26\n"),
            "gw.yaml:11: smtp_routes.EXAMPLE.com: duplicate route for 'example.com'");
  EXPECT_EQ(Err(kMinimal + "smtp_routes:\n  bad_domain: 127.0.0.1:25\n"),
            "gw.yaml:10: smtp_routes.bad_domain: invalid domain 'bad_domain'");
}

TEST(Endpoint, Str) {
  EXPECT_EQ((Endpoint{"127.0.0.1", 2525}).str(), "127.0.0.1:2525");
  EXPECT_EQ((Endpoint{"::1", 25}).str(), "[::1]:25");
  EXPECT_EQ((Endpoint{"mx.example.com", 0}).str(), "mx.example.com:0");
}

// ---- Listeners ----

TEST(GatewayConfig, ListenerNamesAndBindsAreUnique) {
  EXPECT_EQ(Err("hostname: gw.example.com\ndata_dir: /d\nlisteners:\n"
                "  - {name: In, bind: 127.0.0.1:2525}\n"
                "  - {name: In, bind: 127.0.0.1:0}\n"
                "  - {name: Other, bind: 127.0.0.1:2525}\n"
                "accepted_domains: [example.com]\nincoming_mail_policies: [{name: DEFAULT}]\n"),
            "gw.yaml:5: listeners[1].name: duplicate listener name 'In'\n"
            "gw.yaml:6: listeners[2].bind: 127.0.0.1:2525 is already the bind address of "
            "listener 'In'");
  EXPECT_EQ(Err("hostname: gw.example.com\ndata_dir: /d\nlisteners: []\n"
                "accepted_domains: [example.com]\nincoming_mail_policies: [{name: DEFAULT}]\n"),
            "gw.yaml:3: listeners: needs at least one listener");
  EXPECT_EQ(Err("hostname: gw.example.com\ndata_dir: /d\nlisteners:\n"
                "  - {name: 'In Bound', bind: 127.0.0.1:0}\n"
                "accepted_domains: [example.com]\nincoming_mail_policies: [{name: DEFAULT}]\n"),
            "gw.yaml:4: listeners[0].name: invalid name 'In Bound' (use 1-64 letters, digits, "
            "'_', '-' or '.')");
}

TEST(GatewayConfig, RequireTlsNeedsTlsFiles) {
  EXPECT_EQ(Err("hostname: gw.example.com\ndata_dir: /d\nlisteners:\n  - name: a\n"
                "    bind: 127.0.0.1:0\n    require_tls: true\naccepted_domains: [example.com]\n"
                "incoming_mail_policies: [{name: DEFAULT}]\n"),
            "gw.yaml:6: listeners[0].require_tls: needs tls {certificate, key} on this listener");
}

TEST(GatewayConfig, NamedFilesMustExist) {
  TempDir dir;
  dir.Write("cert.pem", "c");
  const std::string yaml =
      "hostname: gw.example.com\ndata_dir: /d\nlisteners:\n  - name: a\n    bind: 127.0.0.1:0\n"
      "    tls:\n      certificate: cert.pem\n      key: key.pem\n"
      "accepted_domains: [example.com]\nincoming_mail_policies: [{name: DEFAULT}]\n"
      "threat_defense_connector: {tls_ca_file: /}\n";
  EXPECT_EQ(Err(yaml, dir / "gw.yaml"),
            dir / "gw.yaml" + ":8: listeners[0].tls.key: " + (dir / "key.pem") +
                ": no such file\n" + (dir / "gw.yaml") +
                ":11: threat_defense_connector.tls_ca_file: /: not a regular file");
}

TEST(GatewayConfig, ListenerTlsProfileDefaultsToOpportunisticAndIsValidated) {
  TempDir dir;
  dir.Write("c.pem", "c");
  dir.Write("k.pem", "k");
  const std::string head =
      "hostname: gw.example.com\ndata_dir: /d\naccepted_domains: [example.com]\n"
      "incoming_mail_policies: [{name: DEFAULT}]\nlisteners:\n"
      "  - name: a\n    bind: 127.0.0.1:0\n    tls: {certificate: c.pem, key: k.pem}\n";
  auto c = Ok(head +
                  "  - name: b\n    bind: 127.0.0.1:0\n    tls:\n      certificate: c.pem\n"
                  "      key: k.pem\n      profile: intermediate\n"
                  "      ciphers: 'ECDHE+AESGCM:!SHA1'\n",
              dir / "gw.yaml");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->listeners[0].tls->profile, TlsProfile::kOpportunistic);
  EXPECT_EQ(c->listeners[0].tls->ciphers, "");
  EXPECT_EQ(c->listeners[1].tls->profile, TlsProfile::kIntermediate);
  EXPECT_EQ(c->listeners[1].tls->ciphers, "ECDHE+AESGCM:!SHA1");
  EXPECT_EQ(Err(head + "  - name: b\n    bind: 127.0.0.1:0\n    tls:\n      certificate: c.pem\n"
                       "      key: k.pem\n      profile: [x]\n      ciphers: '!ALL'\n"
                       "      cipher: x\n",
                dir / "gw.yaml"),
            dir / "gw.yaml" + ":14: listeners[1].tls.profile: expected a string, got a list\n" +
                dir / "gw.yaml" +
                ":15: listeners[1].tls.ciphers: OpenSSL selects no TLS 1.2 cipher from '!ALL' "
                "(expected a cipher string such as ECDHE+AESGCM:ECDHE+CHACHA20)\n" +
                dir / "gw.yaml" +
                ":16: listeners[1].tls.cipher: unknown key (did you mean "
                "'ciphers'?)");
}

// ---- Domains ----

// DomainPattern itself (mail/match.h) is tested in mail/match_test.cc.

TEST(GatewayConfig, AcceptedDomainsAreLowerCasedAndValidated) {
  auto c =
      Ok("hostname: gw.example.com\ndata_dir: /d\nlisteners: [{name: a, bind: 127.0.0.1:0}]\n"
         "accepted_domains: [Example.COM, .Sub.Example.ORG]\n"
         "incoming_mail_policies: [{name: DEFAULT}]\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->accepted_domains[1].domain, "sub.example.org");
  EXPECT_TRUE(c->accepted_domains[1].subdomains);
  EXPECT_TRUE(c->IsAcceptedDomain("EXAMPLE.com"));
  EXPECT_TRUE(c->IsAcceptedDomain("x.SUB.example.org"));
  EXPECT_FALSE(c->IsAcceptedDomain("evil.com"));
  EXPECT_EQ(
      Err("hostname: gw.example.com\ndata_dir: /d\nlisteners: [{name: a, bind: 127.0.0.1:0}]\n"
          "accepted_domains: []\nincoming_mail_policies: [{name: DEFAULT}]\n"),
      "gw.yaml:4: accepted_domains: needs at least one domain");
  EXPECT_EQ(
      Err("hostname: gw.example.com\ndata_dir: /d\nlisteners: [{name: a, bind: 127.0.0.1:0}]\n"
          "accepted_domains:\n  - example.com\n  - '*.example.org'\n"
          "incoming_mail_policies: [{name: DEFAULT}]\n"),
      "gw.yaml:6: accepted_domains[1]: invalid domain '*.example.org' (expected e.g. "
      "example.com, or .example.org for any subdomain)");
}

// ---- Delivery ----

TEST(GatewayConfig, DeliveryTlsModeAndRetryOrder) {
  auto c = Ok(kMinimal + "delivery: {tls: required}\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->delivery.tls, TlsMode::kRequired);
  EXPECT_EQ(Err(kMinimal + "delivery:\n  tls: always\n"),
            "gw.yaml:10: delivery.tls: expected none, preferred or required, got 'always'");
  EXPECT_EQ(Err(kMinimal + "delivery:\n  retry:\n    initial: 2h\n    max_interval: 1h\n"),
            "gw.yaml:11: delivery.retry.initial: retry.initial must not be longer than "
            "retry.max_interval");
  // With only max_interval written, the complaint points at it.
  EXPECT_EQ(Err(kMinimal + "delivery:\n  retry:\n    max_interval: 30s\n"),
            "gw.yaml:11: delivery.retry.max_interval: retry.initial must not be longer than "
            "retry.max_interval");
}

// ---- Threat Defense Connector ----

TEST(GatewayConfig, TdcEnabledNeedsAnIntakeAddress) {
  EXPECT_EQ(Err(kMinimal + "threat_defense_connector:\n  enabled: true\n  min_connections: 2\n"),
            "gw.yaml:9: threat_defense_connector: enabled: true needs an intake_address");
  // Disabled, the address may be absent.
  auto c = Ok(kMinimal + "threat_defense_connector: {enabled: false}\n");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->tdc.enabled);
}

TEST(GatewayConfig, TdcConnectionBounds) {
  EXPECT_EQ(Err(kMinimal + "threat_defense_connector:\n  min_connections: 5\n"
                           "  max_connections: 4\n"),
            "gw.yaml:11: threat_defense_connector.max_connections: max_connections (4) must be "
            "at least min_connections (5)");
  EXPECT_EQ(Err(kMinimal + "threat_defense_connector:\n  min_connections: 25\n"),
            "gw.yaml:10: threat_defense_connector.min_connections: max_connections (20) must be "
            "at least min_connections (25)");
  EXPECT_EQ(Err(kMinimal + "threat_defense_connector: {min_connections: 0}\n"),
            "gw.yaml:9: threat_defense_connector.min_connections: expected an integer from 1 to "
            "1000, got '0'");
}

TEST(GatewayConfig, IntakeAddressesNeedADomainName) {
  EXPECT_EQ(Err(kMinimal + "threat_defense_connector: {intake_address: 'x@[127.0.0.1]'}\n"),
            "gw.yaml:9: threat_defense_connector.intake_address: invalid address "
            "'x@[127.0.0.1]': an intake address needs a domain name, not an address literal");
  EXPECT_EQ(Err(kMinimal + "threat_defense_connector: {intake_address: 'x@127.0.0.1'}\n"),
            "gw.yaml:9: threat_defense_connector.intake_address: invalid address "
            "'x@127.0.0.1': an intake address needs a domain name, not an address literal");
  EXPECT_EQ(Err(kMinimal + "threat_defense_connector: {intake_address: intake.example.net}\n"),
            "gw.yaml:9: threat_defense_connector.intake_address: invalid address "
            "'intake.example.net': missing @domain");
  EXPECT_EQ(Err(kMinimal + "threat_defense_connector: {remote_ip_header: 'X-Remote IP'}\n"),
            "gw.yaml:9: threat_defense_connector.remote_ip_header: invalid header field name "
            "'X-Remote IP'");
}

// ---- Policies ----

const std::string kPolicyHead =
    "hostname: gw.example.com\n"                     // 1
    "data_dir: /d\n"                                 // 2
    "listeners: [{name: In, bind: 127.0.0.1:0}]\n"   // 3
    "accepted_domains: [example.com]\n"              // 4
    "threat_defense_connector:\n"                    // 5
    "  enabled: true\n"                              // 6
    "  intake_address: global@intake.example.net\n"  // 7
    "incoming_mail_policies:\n";                     // 8

TEST(GatewayConfig, PolicyTdcSettingsAndTheirResolution) {
  auto c = Ok(kPolicyHead +
              "  - name: Sales\n"
              "    recipients: ['@Sales.Example.com', 'CEO@example.COM', '@.example.net', 'bob@']\n"
              "  - name: Quiet\n"
              "    senders: ['@example.org']\n"
              "    threat_defense_connector: off\n"
              "  - name: Legal\n"
              "    recipients: ['@legal.example.com']\n"
              "    threat_defense_connector: {intake_address: legal@intake.example.net}\n"
              "  - name: Global\n"
              "    recipients: ['@g.example.com']\n"
              "    threat_defense_connector: global\n"
              "  - name: DEFAULT\n"
              "    threat_defense_connector: {intake_address: dflt@intake.example.net}\n");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->policies.size(), 5u);
  const Policy& sales = c->policies[0];
  EXPECT_EQ(sales.line, 9);
  EXPECT_EQ(sales.recipients, (std::vector<std::string>{"@sales.example.com", "CEO@example.com",
                                                        "@.example.net", "bob@"}));
  EXPECT_EQ(sales.tdc.mode, PolicyTdcMode::kDefault);
  EXPECT_EQ(c->policies[1].tdc.mode, PolicyTdcMode::kOff);
  EXPECT_EQ(c->policies[1].senders, std::vector<std::string>{"@example.org"});
  EXPECT_EQ(c->policies[2].tdc.mode, PolicyTdcMode::kCustom);
  EXPECT_EQ(c->policies[3].tdc.mode, PolicyTdcMode::kGlobal);
  EXPECT_EQ(c->DefaultPolicy().tdc.mode, PolicyTdcMode::kCustom);
  EXPECT_EQ(c->FindPolicy("Legal"), &c->policies[2]);
  EXPECT_EQ(c->FindPolicy("legal"), nullptr);

  // "default" follows DEFAULT; "global" the global address; "off" nothing.
  EXPECT_EQ(c->JournalAddress(c->policies[0])->str(), "dflt@intake.example.net");
  EXPECT_FALSE(c->JournalAddress(c->policies[1]).has_value());
  EXPECT_EQ(c->JournalAddress(c->policies[2])->str(), "legal@intake.example.net");
  EXPECT_EQ(c->JournalAddress(c->policies[3])->str(), "global@intake.example.net");
}

TEST(GatewayConfig, DisabledTdcJournalsNothing) {
  std::string yaml = kPolicyHead + "  - name: DEFAULT\n    threat_defense_connector: global\n";
  yaml.replace(yaml.find("enabled: true"), 13, "enabled: false");
  auto c = Ok(yaml);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->JournalAddress(c->DefaultPolicy()).has_value());
}

TEST(GatewayConfig, DefaultPolicyMustExistAndBeLast) {
  EXPECT_EQ(Err(kPolicyHead + "  - name: Sales\n    recipients: ['@example.com']\n"),
            "gw.yaml:8: incoming_mail_policies: the last policy must be named DEFAULT");
  EXPECT_EQ(Err(kPolicyHead + "  - name: DEFAULT\n  - name: Sales\n"
                              "    recipients: ['@example.com']\n"),
            "gw.yaml:9: incoming_mail_policies[0].name: DEFAULT must be the last policy");
  EXPECT_EQ(Err(kPolicyHead.substr(0, kPolicyHead.size() - 1) + " []\n"),
            "gw.yaml:8: incoming_mail_policies: the last policy must be named DEFAULT");
}

TEST(GatewayConfig, PolicyNamesAreUniqueAndNonEmpty) {
  EXPECT_EQ(Err(kPolicyHead + "  - name: Sales\n    recipients: ['@a.example.com']\n"
                              "  - name: sales\n    recipients: ['@b.example.com']\n"
                              "  - name: DEFAULT\n"),
            "gw.yaml:11: incoming_mail_policies[1].name: duplicate policy name 'sales'");
  EXPECT_EQ(Err(kPolicyHead + "  - name: ''\n    recipients: ['@a.example.com']\n"
                              "  - name: DEFAULT\n"),
            "gw.yaml:9: incoming_mail_policies[0].name: must not be empty");
  EXPECT_EQ(Err(kPolicyHead + "  - recipients: ['@a.example.com']\n  - name: DEFAULT\n"),
            "gw.yaml:9: incoming_mail_policies[0].name: missing required key");
}

TEST(GatewayConfig, DefaultPolicyTakesNoPatternsAndNoDefaultSetting) {
  EXPECT_EQ(Err(kPolicyHead + "  - name: DEFAULT\n    recipients: ['@example.com']\n"),
            "gw.yaml:10: incoming_mail_policies[0].recipients: the DEFAULT policy matches every "
            "message and takes no patterns");
  EXPECT_EQ(Err(kPolicyHead + "  - name: DEFAULT\n    senders: []\n"),
            "gw.yaml:10: incoming_mail_policies[0].senders: the DEFAULT policy matches every "
            "message and takes no patterns");
  EXPECT_EQ(Err(kPolicyHead + "  - name: DEFAULT\n    threat_defense_connector: default\n"),
            "gw.yaml:10: incoming_mail_policies[0].threat_defense_connector: the DEFAULT policy "
            "cannot use 'default'; expected global, off or {intake_address: ADDRESS}");
}

TEST(GatewayConfig, OtherPoliciesNeedAPattern) {
  EXPECT_EQ(Err(kPolicyHead + "  - name: Sales\n  - name: DEFAULT\n"),
            "gw.yaml:9: incoming_mail_policies[0]: a policy other than DEFAULT needs at least "
            "one recipients or senders pattern");
  EXPECT_EQ(Err(kPolicyHead + "  - name: Sales\n    recipients: []\n    senders: []\n"
                              "  - name: DEFAULT\n"),
            "gw.yaml:10: incoming_mail_policies[0].recipients: a policy other than DEFAULT "
            "needs at least one recipients or senders pattern");
}

TEST(GatewayConfig, PolicyPatternsAndTdcValuesAreValidated) {
  EXPECT_EQ(Err(kPolicyHead + "  - name: Sales\n    recipients:\n      - '@example.com'\n"
                              "      - 'sales.example.com'\n  - name: DEFAULT\n"),
            "gw.yaml:12: incoming_mail_policies[0].recipients[1]: invalid pattern "
            "'sales.example.com': missing '@' (expected user@domain, @domain, @.domain or user@)");
  EXPECT_EQ(Err(kPolicyHead + "  - name: Sales\n    senders: ['a b@example.com']\n"
                              "  - name: DEFAULT\n"),
            "gw.yaml:10: incoming_mail_policies[0].senders[0]: invalid pattern "
            "'a b@example.com': bad local part: missing @domain (expected user@domain, @domain, "
            "@.domain or user@)");
  EXPECT_EQ(Err(kPolicyHead + "  - name: Sales\n    recipients: ['@']\n  - name: DEFAULT\n"),
            "gw.yaml:10: incoming_mail_policies[0].recipients[0]: invalid pattern '@': empty "
            "pattern (expected user@domain, @domain, @.domain or user@)");
  EXPECT_EQ(Err(kPolicyHead + "  - name: DEFAULT\n    threat_defense_connector: on\n"),
            "gw.yaml:10: incoming_mail_policies[0].threat_defense_connector: expected global, "
            "off or {intake_address: ADDRESS}, got 'on'");
  EXPECT_EQ(Err(kPolicyHead + "  - name: DEFAULT\n    threat_defense_connector:\n"
                              "      address: x@intake.example.net\n"),
            "gw.yaml:10: incoming_mail_policies[0].threat_defense_connector.intake_address: "
            "missing required key\n"
            "gw.yaml:11: incoming_mail_policies[0].threat_defense_connector.address: unknown key");
}

// ---- Several errors at once ----

TEST(GatewayConfig, AllErrorsAreReportedSortedByLine) {
  const std::string yaml =
      "hostname: 'not a host'\n"                      // 1
      "data_dir: /d\n"                                // 2
      "listeners: [{name: In, bind: 127.0.0.1:0}]\n"  // 3
      "accepted_domains: [example.com]\n"             // 4
      "incoming_mail_policies: [{name: DEFAULT}]\n"   // 5
      "log: {keep: 0}\n"                              // 6
      "delivery: {tls: maybe}\n";                     // 7
  EXPECT_EQ(Err(yaml),
            "gw.yaml:1: hostname: invalid host name 'not a host' (expected e.g. gw.example.com)\n"
            "gw.yaml:6: log.keep: expected an integer from 1 to 4294967295, got '0'\n"
            "gw.yaml:7: delivery.tls: expected none, preferred or required, got 'maybe'");
}

// Every prefix and many single-byte corruptions of the example: no crash, no exception, and
// every error line has the FILE:LINE: form (the parser's robustness, fuzz-style, in bounded time).
TEST(GatewayConfig, MangledInputAlwaysGivesFileLineErrors) {
  std::ifstream in(std::string(TIDEGATE_SOURCE_DIR) + "/examples/gateway.yaml");
  const std::string example((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(example.size(), 1000u);
  auto check = [](const std::string& yaml) {
    auto c = ParseGatewayConfig(yaml, "gw.yaml");
    if (c.ok()) return;
    std::string_view rest = c.error().message;
    while (!rest.empty()) {
      const std::string_view line = rest.substr(0, rest.find('\n'));
      rest.remove_prefix(std::min(rest.size(), line.size() + 1));
      ASSERT_EQ(line.substr(0, 7), "gw.yaml") << line;
      ASSERT_EQ(line[7], ':') << line;
      const size_t colon = line.find(':', 8);
      ASSERT_NE(colon, std::string_view::npos) << line;
      const std::string_view number = line.substr(8, colon - 8);
      ASSERT_FALSE(number.empty()) << line;
      ASSERT_TRUE(std::all_of(number.begin(), number.end(), ::isdigit)) << line;
      ASSERT_GE(std::stoi(std::string(number)), 1) << line;
    }
  };
  for (size_t n = 0; n < example.size(); n += 7) check(example.substr(0, n));
  const std::string noise = "\t:{}[]-'\"&*!|>%@`#,? \n\x01\xff";
  for (size_t i = 0; i < example.size(); i += 3) {
    std::string mangled = example;
    mangled[i] = noise[i % noise.size()];
    check(mangled);
  }
}

TEST(GatewayConfig, SnapshotsAreIndependent) {
  auto a = Ok(kMinimal);
  auto b = Ok(kMinimal + "delivery: {tls: none}\n");
  ASSERT_TRUE(a && b);
  EXPECT_NE(a.get(), b.get());
  EXPECT_EQ(a->delivery.tls, TlsMode::kPreferred);
  EXPECT_EQ(b->delivery.tls, TlsMode::kNone);
}

}  // namespace
}  // namespace tidegate::config

namespace tidegate::config {
namespace {
TEST(TrackingSection, RetentionParsedAndBounded) {
  const std::string base =
      "hostname: gw.example.com\ndata_dir: /tmp/x\nlisteners: [{name: In, bind: 127.0.0.1:0}]\n"
      "accepted_domains: [example.com]\nincoming_mail_policies: [{name: DEFAULT}]\n";
  auto cfg = ParseGatewayConfig(base, "t.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ((*cfg)->tracking.retention, std::chrono::hours(24 * 30));
  cfg = ParseGatewayConfig(base + "tracking: {retention: 7d}\n", "t.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ((*cfg)->tracking.retention, std::chrono::hours(24 * 7));
  auto bad = ParseGatewayConfig(base + "tracking: {retention: 5m}\n", "t.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("t.yaml:6: tracking.retention"), std::string::npos)
      << bad.error().message;
}
}  // namespace
}  // namespace tidegate::config
