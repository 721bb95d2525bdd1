// gateway_config.cc — the gateway's YAML schema (CONTRACT §3) read into a GatewayConfig.
//
// One function per section, in the order of the example in CONTRACT §3; cross-section checks
// (DEFAULT last, unique names, min <= max) sit where both values are known.
#include <algorithm>
#include <set>

#include "config/cluster_config.h"
#include "config/config.h"
#include "config/security_config.h"
#include "config/validation_config.h"
#include "config/yaml_reader.h"

namespace tidegate::config {
namespace {

using internal::Context;
using internal::EndpointRules;
using internal::Field;
using internal::MapReader;

constexpr Duration kOneSecond = std::chrono::seconds(1);
constexpr Duration kZero{0};

void ReadListeners(Context& ctx, MapReader& root, std::vector<Listener>* out) {
  auto field = root.Require("listeners");
  if (!field) return;
  auto items = internal::ReadSequence(ctx, *field);
  if (!items) return;
  if (items->empty()) ctx.Fail(field->mark, field->path, "needs at least one listener");
  std::set<std::string> names;
  std::vector<std::pair<Endpoint, std::string>> binds;
  for (const Field& item : *items) {
    MapReader m(ctx, item);
    if (!m.valid()) continue;
    Listener l;
    if (auto name = m.Require("name")) {
      if (auto n = internal::ReadName(ctx, *name)) {
        l.name = *n;
        if (!names.insert(*n).second) {
          ctx.Fail(name->mark, name->path, "duplicate listener name '" + *n + "'");
        }
      }
    }
    if (auto bind = m.EndpointAt("bind", &l.bind, EndpointRules{.allow_port_zero = true},
                                 /*required=*/true);
        bind && l.bind.port != 0) {
      // Two listeners cannot own one socket; port 0 picks a fresh port each time.
      for (const auto& [other, other_name] : binds) {
        if (other == l.bind) {
          ctx.Fail(bind->mark, bind->path,
                   l.bind.str() + " is already the bind address of listener '" + other_name + "'");
        }
      }
      binds.emplace_back(l.bind, l.name);
    }
    // SMTP between MTAs: TLS is opportunistic unless the operator says otherwise.
    if (auto tls = m.Get("tls")) {
      l.tls = internal::ReadServerTls(ctx, *tls, TlsProfile::kOpportunistic);
    }
    m.Size("max_message_size", &l.max_message_size, 1024);
    m.Uint32("max_connections", &l.max_connections, 1);
    m.Uint32("max_recipients", &l.max_recipients, 1);
    m.DurationAtLeast("idle_timeout", &l.idle_timeout, kOneSecond);
    m.DurationAtLeast("session_timeout", &l.session_timeout, kOneSecond);
    m.DurationAtLeast("greeting_delay", &l.greeting_delay, kZero);
    if (auto require = m.Bool("require_tls", &l.require_tls);
        require && l.require_tls && !m.Has("tls")) {
      ctx.Fail(require->mark, require->path, "needs tls {certificate, key} on this listener");
    }
    m.Finish();
    out->push_back(std::move(l));
  }
}

void ReadAcceptedDomains(Context& ctx, MapReader& root, std::vector<DomainPattern>* out) {
  auto field = root.Require("accepted_domains");
  if (!field) return;
  auto items = internal::ReadSequence(ctx, *field);
  if (!items) return;
  // An empty list would make a gateway that rejects everything; surely a mistake.
  if (items->empty()) ctx.Fail(field->mark, field->path, "needs at least one domain");
  for (const Field& item : *items) {
    if (auto pattern = internal::ReadDomainPattern(ctx, item)) out->push_back(std::move(*pattern));
  }
}

void ReadSmtpRoutes(Context& ctx, MapReader& root,
                    std::map<std::string, std::vector<Endpoint>>* out) {
  auto field = root.Get("smtp_routes");
  if (!field) return;
  MapReader m(ctx, *field);
  if (!m.valid()) return;
  const EndpointRules rules{.allow_names = true, .allow_port_zero = false, .default_port = 25};
  for (const auto& [domain, route] : m.Entries()) {
    // ".example.org" routes every subdomain of example.org (as in accepted_domains).
    auto pattern = mail::ParseDomainPattern(domain);
    if (!pattern) {
      ctx.Fail(route.key_mark, route.path, "invalid domain " + internal::Quote(domain));
      continue;
    }
    const std::string key = pattern->str();
    if (out->count(key) != 0) {
      ctx.Fail(route.key_mark, route.path, "duplicate route for '" + key + "'");
      continue;
    }
    std::vector<Endpoint> hops;
    if (route.node.IsScalar()) {
      if (auto e = internal::ReadEndpoint(ctx, route, rules)) hops.push_back(std::move(*e));
    } else if (auto items = internal::ReadSequence(ctx, route)) {
      if (items->empty()) ctx.Fail(route.mark, route.path, "needs at least one next hop");
      for (const Field& item : *items) {
        if (auto e = internal::ReadEndpoint(ctx, item, rules)) hops.push_back(std::move(*e));
      }
    }
    (*out)[key] = std::move(hops);
  }
}

void ReadDns(Context& ctx, MapReader& root, Dns* out) {
  auto field = root.Get("dns");
  if (!field) return;
  MapReader m(ctx, *field);
  if (!m.valid()) return;
  if (auto servers = m.Get("servers")) {
    if (auto items = internal::ReadSequence(ctx, *servers)) {
      for (const Field& item : *items) {
        if (auto e = internal::ReadEndpoint(ctx, item, EndpointRules{.default_port = 53})) {
          out->servers.push_back(std::move(*e));
        }
      }
    }
  }
  m.DurationAtLeast("timeout", &out->timeout, Duration(100));
  m.Finish();
}

void ReadDelivery(Context& ctx, MapReader& root, Delivery* out) {
  auto field = root.Get("delivery");
  if (!field) return;
  MapReader m(ctx, *field);
  if (!m.valid()) return;
  if (auto tls = m.Get("tls")) {
    if (auto s = internal::ReadString(ctx, *tls)) {
      if (*s == "none") {
        out->tls = TlsMode::kNone;
      } else if (*s == "preferred") {
        out->tls = TlsMode::kPreferred;
      } else if (*s == "required") {
        out->tls = TlsMode::kRequired;
      } else {
        ctx.Fail(tls->mark, tls->path,
                 "expected none, preferred or required, got " + internal::Quote(*s));
      }
    }
  }
  m.Path("tls_ca_file", &out->tls_ca_file, /*must_exist=*/true);
  m.Uint32("max_connections_per_host", &out->max_connections_per_host, 1);
  m.Uint32("max_connections_per_ip", &out->max_connections_per_ip, 1);
  m.Uint32("max_connections", &out->max_connections, 1);
  std::uint32_t port = out->port;
  if (m.Uint32("port", &port, 1, 65535)) out->port = static_cast<std::uint16_t>(port);
  if (auto retry_field = m.Get("retry")) {
    MapReader r(ctx, *retry_field);
    if (r.valid()) {
      auto initial = r.DurationAtLeast("initial", &out->retry.initial, kOneSecond);
      auto max_interval = r.DurationAtLeast("max_interval", &out->retry.max_interval, kOneSecond);
      r.DurationAtLeast("max_queue_time", &out->retry.max_queue_time, kOneSecond);
      if (out->retry.initial > out->retry.max_interval) {
        const Field& at = initial ? *initial : *max_interval;
        ctx.Fail(at.mark, at.path, "retry.initial must not be longer than retry.max_interval");
      }
      r.Finish();
    }
  }
  m.DurationAtLeast("connect_timeout", &out->connect_timeout, kOneSecond);
  m.DurationAtLeast("command_timeout", &out->command_timeout, kOneSecond);
  m.DurationAtLeast("data_timeout", &out->data_timeout, kOneSecond);
  m.Finish();
}

void ReadThreatDefenseConnector(Context& ctx, MapReader& root, ThreatDefenseConnector* out) {
  auto field = root.Get("threat_defense_connector");
  if (!field) return;  // the whole section is optional: the connector is then disabled
  MapReader m(ctx, *field);
  if (!m.valid()) return;
  m.Bool("enabled", &out->enabled);
  if (auto address = m.Get("intake_address")) {
    out->intake_address = internal::ReadIntakeAddress(ctx, *address);
  } else if (out->enabled) {
    ctx.Fail(m.mark(), m.path(), "enabled: true needs an intake_address");
  }
  if (auto name = m.Get("service_name")) {
    if (auto s = internal::ReadText(ctx, *name)) out->service_name = *s;
  }
  if (auto header = m.Get("remote_ip_header")) {
    if (auto s = internal::ReadHeaderName(ctx, *header)) out->remote_ip_header = *s;
  }
  m.Uint32("min_connections", &out->min_connections, 1, 1000);
  if (auto max = m.Uint32("max_connections", &out->max_connections, 1, 1000);
      out->max_connections < out->min_connections) {
    const Field& at = max ? *max : *m.Get("min_connections");
    ctx.Fail(at.mark, at.path,
             "max_connections (" + std::to_string(out->max_connections) +
                 ") must be at least min_connections (" + std::to_string(out->min_connections) +
                 ")");
  }
  m.DurationAtLeast("max_queue_time", &out->max_queue_time, kOneSecond);
  m.DurationAtLeast("retry_delay", &out->retry_delay, kZero);
  m.Uint32("max_queued", &out->max_queued, 1);
  m.Path("tls_ca_file", &out->tls_ca_file, /*must_exist=*/true);
  m.Finish();
}

// A policy pattern (mail/match.h): "user@domain", "@domain", "@.domain" (any subdomain), "user@"
// (any domain). Returned normalised: the domain in lower case, the local part as written.
std::optional<std::string> ReadPolicyPattern(Context& ctx, const Field& f) {
  auto s = internal::ReadString(ctx, f);
  if (!s) return std::nullopt;
  auto pattern = mail::ParseAddressPattern(*s);
  if (!pattern) {
    ctx.Fail(f.mark, f.path,
             "invalid pattern " + internal::Quote(*s) + ": " + pattern.error().message +
                 " (expected user@domain, @domain, @.domain or user@)");
    return std::nullopt;
  }
  return pattern->str();
}

std::optional<std::vector<std::string>> ReadPatterns(Context& ctx, const Field& f) {
  auto items = internal::ReadSequence(ctx, f);
  if (!items) return std::nullopt;
  std::vector<std::string> patterns;
  for (const Field& item : *items) {
    if (auto p = ReadPolicyPattern(ctx, item)) patterns.push_back(std::move(*p));
  }
  return patterns;
}

std::optional<PolicyTdc> ReadPolicyTdc(Context& ctx, const Field& f, bool is_default) {
  if (f.node.IsMap()) {
    MapReader m(ctx, f);
    PolicyTdc tdc;
    tdc.mode = PolicyTdcMode::kCustom;
    if (auto address = m.Require("intake_address")) {
      tdc.intake_address = internal::ReadIntakeAddress(ctx, *address);
    }
    m.Finish();
    return tdc;
  }
  const std::string choices = is_default ? "global, off or {intake_address: ADDRESS}"
                                         : "default, global, off or {intake_address: ADDRESS}";
  if (!f.node.IsScalar()) {
    ctx.Fail(f.mark, f.path, "expected " + choices);
    return std::nullopt;
  }
  const std::string& s = f.node.Scalar();
  if (s == "global") return PolicyTdc{PolicyTdcMode::kGlobal, std::nullopt};
  if (s == "off") return PolicyTdc{PolicyTdcMode::kOff, std::nullopt};
  if (s == "default") {
    if (!is_default) return PolicyTdc{PolicyTdcMode::kDefault, std::nullopt};
    ctx.Fail(f.mark, f.path, "the DEFAULT policy cannot use 'default'; expected " + choices);
    return std::nullopt;
  }
  ctx.Fail(f.mark, f.path, "expected " + choices + ", got " + internal::Quote(s));
  return std::nullopt;
}

void ReadPolicies(Context& ctx, MapReader& root, std::vector<Policy>* out) {
  auto field = root.Require("incoming_mail_policies");
  if (!field) return;
  auto items = internal::ReadSequence(ctx, *field);
  if (!items) return;
  std::set<std::string> lower_names;
  std::optional<Field> default_name;
  size_t default_index = 0;
  for (size_t i = 0; i < items->size(); ++i) {
    const Field& item = (*items)[i];
    MapReader m(ctx, item);
    if (!m.valid()) continue;
    Policy policy;
    policy.line = item.mark.line + 1;
    auto name = m.Require("name");
    if (name) {
      if (auto n = internal::ReadName(ctx, *name)) {
        policy.name = *n;
        // Case-insensitive: "Sales" and "sales" side by side would confuse every operator.
        if (!lower_names.insert(mail::AsciiLower(*n)).second) {
          ctx.Fail(name->mark, name->path, "duplicate policy name '" + *n + "'");
        }
      }
    }
    const bool is_default = policy.name == kDefaultPolicyName;
    if (is_default && !default_name) {
      default_name = name;
      default_index = i;
    }
    // Patterns written, valid or not: an invalid one is reported on its own, not as "none".
    size_t written = 0;
    std::optional<Field> first_list;
    for (const char* key : {"recipients", "senders"}) {
      auto patterns_field = m.Get(key);
      if (!patterns_field) continue;
      if (is_default) {
        ctx.Fail(patterns_field->key_mark, patterns_field->path,
                 "the DEFAULT policy matches every message and takes no patterns");
        continue;
      }
      if (!first_list) first_list = patterns_field;
      written += patterns_field->node.IsSequence() ? patterns_field->node.size() : 1;
      if (auto patterns = ReadPatterns(ctx, *patterns_field)) {
        (std::string_view(key) == "recipients" ? policy.recipients : policy.senders) =
            std::move(*patterns);
      }
    }
    if (!is_default && written == 0) {
      // Point at the empty list if one was written, else at the policy itself.
      const Field& at = first_list ? *first_list : item;
      ctx.Fail(at.mark, at.path,
               "a policy other than DEFAULT needs at least one recipients or "
               "senders pattern");
    }
    policy.tdc.mode = is_default ? PolicyTdcMode::kGlobal : PolicyTdcMode::kDefault;
    if (auto tdc = m.Get("threat_defense_connector")) {
      if (auto t = ReadPolicyTdc(ctx, *tdc, is_default)) policy.tdc = std::move(*t);
    }
    if (auto as = m.Get("anti_spam")) {
      if (auto a = internal::ReadPolicyAntiSpam(ctx, *as, is_default)) policy.anti_spam = *a;
    }
    if (auto av = m.Get("anti_virus")) {
      if (auto a = internal::ReadPolicyAntiVirus(ctx, *av, is_default)) policy.anti_virus = *a;
    }
    m.Finish();
    out->push_back(std::move(policy));
  }
  if (!default_name) {
    ctx.Fail(field->key_mark, field->path, "the last policy must be named DEFAULT");
  } else if (default_index + 1 != items->size()) {
    ctx.Fail(default_name->mark, default_name->path, "DEFAULT must be the last policy");
  }
}

void ReadAdmin(Context& ctx, MapReader& root, Admin* out) {
  internal::ReadLoginSection(ctx, root, "admin", &out->bind, &out->user, &out->password_file);
}

// RFC 5424 table 1, as syslog.conf spells the names.
constexpr std::pair<std::string_view, int> kSyslogFacilities[] = {
    {"kern", 0},      {"user", 1},    {"mail", 2},    {"daemon", 3},  {"auth", 4},
    {"syslog", 5},    {"lpr", 6},     {"news", 7},    {"uucp", 8},    {"cron", 9},
    {"authpriv", 10}, {"ftp", 11},    {"local0", 16}, {"local1", 17}, {"local2", 18},
    {"local3", 19},   {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23},
};

// One of `choices` ("udp|tcp"), or an error naming them.
std::optional<std::string> ReadChoice(Context& ctx, const Field& f,
                                      std::initializer_list<std::string_view> choices) {
  auto s = internal::ReadString(ctx, f);
  if (!s) return std::nullopt;
  std::string names;
  for (std::string_view c : choices) {
    if (*s == c) return s;
    names += names.empty() ? "" : " or ";
    names += c;
  }
  ctx.Fail(f.mark, f.path, "expected " + names + ", got " + internal::Quote(*s));
  return std::nullopt;
}

// log.syslog: {address: HOST:PORT | unix:PATH, protocol: udp|tcp, facility: NAME,
// format: rfc5424|rfc3164, buffer: SIZE}.
std::optional<SyslogTarget> ReadSyslog(Context& ctx, const Field& field) {
  MapReader m(ctx, field);
  if (!m.valid()) return std::nullopt;
  SyslogTarget t;
  if (auto address = m.Require("address")) {
    if (auto s = internal::ReadString(ctx, *address)) {
      t.address = *s;
      if (s->starts_with("unix:")) {
        const std::string path = s->substr(5);
        if (path.empty()) {
          ctx.Fail(address->mark, address->path, "unix: needs the path of a datagram socket");
        } else {
          t.unix_path = internal::ResolvePath(ctx.base_dir(), path);
        }
      } else if (auto e = internal::ReadEndpoint(
                     ctx, *address,
                     EndpointRules{.allow_names = true, .allow_port_zero = false,
                                   .default_port = 514})) {
        t.endpoint = *e;
      }
    }
  }
  if (auto protocol = m.Get("protocol")) {
    if (auto p = ReadChoice(ctx, *protocol, {"udp", "tcp"})) {
      t.protocol = *p == "tcp" ? SyslogTarget::Protocol::kTcp : SyslogTarget::Protocol::kUdp;
      if (t.protocol == SyslogTarget::Protocol::kTcp && !t.unix_path.empty()) {
        ctx.Fail(protocol->mark, protocol->path,
                 "a unix: address is a datagram socket: protocol must be udp (or left out)");
      }
    }
  }
  if (auto facility = m.Get("facility")) {
    if (auto s = internal::ReadString(ctx, *facility)) {
      const auto it = std::find_if(std::begin(kSyslogFacilities), std::end(kSyslogFacilities),
                                   [&](const auto& f) { return f.first == *s; });
      if (it == std::end(kSyslogFacilities)) {
        ctx.Fail(facility->mark, facility->path,
                 "unknown facility " + internal::Quote(*s) +
                     " (expected kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, "
                     "authpriv, ftp or local0 to local7)");
      } else {
        t.facility_name = *s;
        t.facility = it->second;
      }
    }
  }
  if (auto format = m.Get("format")) {
    if (auto f = ReadChoice(ctx, *format, {"rfc5424", "rfc3164"})) {
      t.format = *f == "rfc3164" ? SyslogTarget::Format::kRfc3164 : SyslogTarget::Format::kRfc5424;
    }
  }
  m.Size("buffer", &t.buffer, 4096);
  m.Finish();
  return t;
}

void ReadMetrics(Context& ctx, MapReader& root, const Admin& admin, std::optional<Metrics>* out) {
  auto field = root.Get("metrics");
  if (!field) return;
  MapReader m(ctx, *field);
  if (!m.valid()) return;
  // The listener is the admin HTTP server's code with the gateway's figures behind it.
  if (admin.password_file.empty()) {
    ctx.Fail(field->key_mark, field->path, "needs the admin section (with its password_file)");
  }
  Metrics metrics;
  if (m.EndpointAt("bind", &metrics.bind, EndpointRules{.allow_port_zero = true},
                   /*required=*/true)) {
    *out = metrics;
  }
  m.Finish();
}

void ReadLog(Context& ctx, MapReader& root, const std::string& data_dir, Log* out) {
  if (!data_dir.empty()) out->mail_log = internal::ResolvePath(data_dir, "mail_logs/mail.current");
  auto field = root.Get("log");
  if (!field) return;
  MapReader m(ctx, *field);
  if (!m.valid()) return;
  if (auto mail_log = m.Get("mail_log")) {
    if (auto s = internal::ReadString(ctx, *mail_log); s && !data_dir.empty()) {
      out->mail_log = internal::ResolvePath(data_dir, *s);
    }
  }
  m.Size("max_size", &out->max_size, 4096);
  m.DurationAtLeast("rotate_interval", &out->rotate_interval, kZero);
  m.Uint32("keep", &out->keep, 1);
  if (auto syslog = m.Get("syslog")) out->syslog = ReadSyslog(ctx, *syslog);
  m.Finish();
}

void ReadSpool(Context& ctx, MapReader& root, Spool* out) {
  auto field = root.Get("spool");
  if (!field) return;
  MapReader m(ctx, *field);
  if (!m.valid()) return;
  m.Size("segment_size", &out->segment_size, 64 << 10);
  m.Size("min_free_space", &out->min_free_space, 0);
  m.Finish();
}

}  // namespace

base::Result<std::shared_ptr<const GatewayConfig>> ParseGatewayConfig(std::string_view yaml,
                                                                      const std::string& path) {
  Context ctx(path, internal::ConfigDir(path));
  auto document = internal::LoadDocument(ctx, yaml);
  if (!document) return ctx.ToError();
  auto config = std::make_shared<GatewayConfig>();
  config->path = path;
  MapReader root(ctx, *document);
  if (!root.valid()) return ctx.ToError();

  if (auto f = root.Require("hostname")) {
    if (auto h = internal::ReadHostname(ctx, *f)) config->hostname = *h;
  }
  root.Path("data_dir", &config->data_dir, /*must_exist=*/false, /*required=*/true);
  ReadListeners(ctx, root, &config->listeners);
  ReadAcceptedDomains(ctx, root, &config->accepted_domains);
  ReadSmtpRoutes(ctx, root, &config->smtp_routes);
  ReadDns(ctx, root, &config->dns);
  ReadDelivery(ctx, root, &config->delivery);
  ReadThreatDefenseConnector(ctx, root, &config->tdc);
  ReadPolicies(ctx, root, &config->policies);
  ReadAdmin(ctx, root, &config->admin);
  ReadMetrics(ctx, root, config->admin, &config->metrics);
  ReadLog(ctx, root, config->data_dir, &config->log);
  ReadSpool(ctx, root, &config->spool);
  internal::ReadTracking(ctx, root, &config->tracking);
  internal::ReadCluster(ctx, root, config.get());
  internal::ReadContentSecurity(ctx, root, config.get());
  internal::CheckPolicyEngines(ctx, *config);
  internal::ReadRecipientValidation(ctx, root, config.get());
  root.Finish();

  if (ctx.failed()) return ctx.ToError();
  return std::shared_ptr<const GatewayConfig>(std::move(config));
}

base::Result<std::shared_ptr<const GatewayConfig>> LoadGatewayConfig(const std::string& path) {
  auto text = internal::ReadConfigFile(path);
  if (!text) return text.error();
  return ParseGatewayConfig(*text, path);
}

}  // namespace tidegate::config
