// security_config.cc — see security_config.h.
#include "config/security_config.h"

#include <string_view>

namespace tidegate::config::internal {
namespace {

constexpr Duration kOneSecond = std::chrono::seconds(1);

// `url: http://HOST:PORT` (a trailing "/" allowed; no path: rspamd's endpoints are fixed).
void ReadRspamdUrl(Context& ctx, const Field& f, AntiSpamEngine* out) {
  auto s = ReadString(ctx, f);
  if (!s) return;
  std::string_view rest = *s;
  constexpr std::string_view kScheme = "http://";
  if (rest.substr(0, kScheme.size()) != kScheme) {
    ctx.Fail(f.mark, f.path, "expected http://HOST:PORT, got " + Quote(*s));
    return;
  }
  rest.remove_prefix(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  Field endpoint_field = f;
  endpoint_field.node = YAML::Node(std::string(rest));
  if (auto e = ReadEndpoint(ctx, endpoint_field,
                            EndpointRules{.allow_names = true, .default_port = 11333})) {
    out->host = e->host;
    out->port = e->port;
  }
}

// `address: HOST:PORT` or `unix:/absolute/path`.
void ReadClamdAddress(Context& ctx, const Field& f, AntiVirusEngine* out) {
  auto s = ReadString(ctx, f);
  if (!s) return;
  if (s->starts_with("unix:")) {
    const std::string path = s->substr(5);
    if (path.empty() || path.front() != '/') {
      ctx.Fail(f.mark, f.path, "expected unix:/absolute/path, got " + Quote(*s));
      return;
    }
    out->address = *s;
    return;
  }
  if (auto e = ReadEndpoint(ctx, f, EndpointRules{.allow_names = true, .default_port = 3310})) {
    out->address = e->str();
  }
}

void ReadEngineName(Context& ctx, MapReader& m, std::string_view expected, std::string* out) {
  if (auto f = m.Get("engine")) {
    if (auto s = ReadString(ctx, *f)) {
      if (*s != expected) {
        ctx.Fail(f->mark, f->path,
                 "unsupported engine " + Quote(*s) + " (expected " + std::string(expected) + ")");
      } else {
        *out = *s;
      }
    }
  }
}

std::optional<ScanAction> ReadAction(Context& ctx, const Field& f) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  if (*s == "deliver") return ScanAction::kDeliver;
  if (*s == "tag") return ScanAction::kTag;
  if (*s == "quarantine") return ScanAction::kQuarantine;
  if (*s == "drop") return ScanAction::kDrop;
  ctx.Fail(f.mark, f.path, "expected deliver, tag, quarantine or drop, got " + Quote(*s));
  return std::nullopt;
}

void ActionAt(Context& ctx, MapReader& m, std::string_view key, ScanAction* out) {
  if (auto f = m.Get(key)) {
    if (auto a = ReadAction(ctx, *f)) *out = *a;
  }
}

// A subject tag: printable text, at most 100 characters (it becomes part of a header field).
void TagAt(Context& ctx, MapReader& m, std::string_view key, std::string* out) {
  if (auto f = m.Get(key)) {
    if (auto s = ReadText(ctx, *f)) {
      if (s->size() > 100) {
        ctx.Fail(f->mark, f->path, "subject_tag is longer than 100 characters");
      } else {
        *out = *s;
      }
    }
  }
}

// `default` / `off` as a scalar; the rest is the caller's map.
std::optional<PolicyScanMode> ReadScanScalar(Context& ctx, const Field& f, bool is_default,
                                             std::string_view map_form) {
  const std::string choices =
      (is_default ? std::string("off or ") : std::string("default, off or ")) +
      std::string(map_form);
  if (!f.node.IsScalar()) {
    ctx.Fail(f.mark, f.path, "expected " + choices);
    return std::nullopt;
  }
  const std::string& s = f.node.Scalar();
  if (s == "off") return PolicyScanMode::kOff;
  if (s == "default") {
    if (!is_default) return PolicyScanMode::kDefault;
    ctx.Fail(f.mark, f.path, "the DEFAULT policy cannot use 'default'; expected " + choices);
    return std::nullopt;
  }
  ctx.Fail(f.mark, f.path, "expected " + choices + ", got " + Quote(s));
  return std::nullopt;
}

}  // namespace

// An engine section: its name, its own address key (read by `where`), and the keys both share.
template <typename Engine, typename ReadWhere>
std::optional<Engine> ReadEngine(Context& ctx, MapReader& root, std::string_view key,
                                 std::string_view engine_name, std::string_view where_key,
                                 ReadWhere where) {
  auto field = root.Get(key);
  if (!field) return std::nullopt;
  MapReader m(ctx, *field);
  if (!m.valid()) return std::nullopt;
  Engine e;
  ReadEngineName(ctx, m, engine_name, &e.engine);
  if (auto f = m.Get(where_key)) where(*f, &e);
  m.DurationAtLeast("timeout", &e.timeout, Duration(100));
  m.Uint32("max_concurrency", &e.max_concurrency, 1, 1024);
  m.Size("max_message_size", &e.max_message_size, 1024);
  m.DurationAtLeast("retry_delay", &e.retry_delay, kOneSecond);
  m.Finish();
  return e;
}

void ReadContentSecurity(Context& ctx, MapReader& root, GatewayConfig* out) {
  out->anti_spam = ReadEngine<AntiSpamEngine>(
      ctx, root, "anti_spam", "rspamd", "url",
      [&](const Field& f, AntiSpamEngine* e) { ReadRspamdUrl(ctx, f, e); });
  out->anti_virus = ReadEngine<AntiVirusEngine>(
      ctx, root, "anti_virus", "clamd", "address",
      [&](const Field& f, AntiVirusEngine* e) { ReadClamdAddress(ctx, f, e); });
  if (auto field = root.Get("quarantine")) {
    MapReader m(ctx, *field);
    if (m.valid()) {
      m.DurationAtLeast("retention", &out->quarantine.retention, std::chrono::hours(1));
      m.Size("max_size", &out->quarantine.max_size, 1 << 20);
      m.Finish();
    }
  }
}

std::optional<PolicyAntiSpam> ReadPolicyAntiSpam(Context& ctx, const Field& f, bool is_default) {
  PolicyAntiSpam p;
  if (!f.node.IsMap()) {
    auto mode = ReadScanScalar(ctx, f, is_default,
                               "{positive: ACTION, suspect: ACTION, subject_tag: TEXT}");
    if (!mode) return std::nullopt;
    p.mode = *mode;
    return p;
  }
  MapReader m(ctx, f);
  p.mode = PolicyScanMode::kOn;
  p.settings.enabled = true;
  ActionAt(ctx, m, "positive", &p.settings.positive);
  ActionAt(ctx, m, "suspect", &p.settings.suspect);
  TagAt(ctx, m, "subject_tag", &p.settings.subject_tag);
  m.Finish();
  return p;
}

std::optional<PolicyAntiVirus> ReadPolicyAntiVirus(Context& ctx, const Field& f, bool is_default) {
  PolicyAntiVirus p;
  if (!f.node.IsMap()) {
    auto mode = ReadScanScalar(ctx, f, is_default, "{infected: ACTION, unscannable: ACTION}");
    if (!mode) return std::nullopt;
    p.mode = *mode;
    return p;
  }
  MapReader m(ctx, f);
  p.mode = PolicyScanMode::kOn;
  p.settings.enabled = true;
  ActionAt(ctx, m, "infected", &p.settings.infected);
  ActionAt(ctx, m, "unscannable", &p.settings.unscannable);
  TagAt(ctx, m, "subject_tag", &p.settings.subject_tag);
  m.Finish();
  return p;
}

void CheckPolicyEngines(Context& ctx, const GatewayConfig& config) {
  for (const Policy& policy : config.policies) {
    const bool wants_as = policy.anti_spam.mode == PolicyScanMode::kOn;
    const bool wants_av = policy.anti_virus.mode == PolicyScanMode::kOn;
    if ((wants_as && !config.anti_spam) || (wants_av && !config.anti_virus)) {
      const std::string what = wants_as && !config.anti_spam ? "anti_spam" : "anti_virus";
      YAML::Mark mark;
      mark.line = policy.line - 1;
      ctx.Fail(mark, "incoming_mail_policies",
               "policy " + Quote(policy.name) + " sets " + what +
                   " actions but there is no global " + what + " engine section");
    }
  }
}

}  // namespace tidegate::config::internal
