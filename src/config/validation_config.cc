// validation_config.cc — see validation_config.h.
#include "config/validation_config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

namespace tidegate::config::internal {
namespace {

// "postmaster@" (a local part in any accepted domain) or "user@example.com"; lower-cased.
std::optional<std::string> ReadAlwaysAccept(Context& ctx, const Field& f) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  const bool local_only = s->back() == '@';
  // A local part alone is checked as the mailbox it stands for in any domain.
  auto address = mail::ParseMailbox(local_only ? *s + "example.com" : *s);
  if (!address) {
    ctx.Fail(f.mark, f.path,
             "invalid entry " + Quote(*s) + ": " + address.error().message +
                 " (expected a local part with '@' last, e.g. postmaster@, or a full address)");
    return std::nullopt;
  }
  return mail::AsciiLower(*s);
}

// ldap://HOST[:PORT] or ldaps://HOST[:PORT], a trailing "/" allowed; no DN, attributes or
// extensions in the URI (base and filter have their own keys).
std::optional<std::string> ReadLdapUri(Context& ctx, const Field& f) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  std::string_view rest = *s;
  const bool secure = rest.starts_with("ldaps://");
  if (!secure && !rest.starts_with("ldap://")) {
    ctx.Fail(f.mark, f.path,
             "expected ldap://HOST[:PORT] or ldaps://HOST[:PORT], got " + Quote(*s));
    return std::nullopt;
  }
  rest.remove_prefix(secure ? 8 : 7);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  Field endpoint_field = f;
  endpoint_field.node = YAML::Node(std::string(rest));
  const std::uint16_t default_port = secure ? 636 : 389;
  auto e = ReadEndpoint(ctx, endpoint_field,
                        EndpointRules{.allow_names = true, .default_port = default_port});
  if (!e) return std::nullopt;
  return std::string(secure ? "ldaps://" : "ldap://") + e->str();
}

// At least one of {a} {u} {d}, no other {…}, parentheses balanced.
std::optional<std::string> ReadFilter(Context& ctx, const Field& f) {
  auto s = ReadText(ctx, f);
  if (!s) return std::nullopt;
  int depth = 0;
  bool placeholder = false;
  for (size_t i = 0; i < s->size(); ++i) {
    const char c = (*s)[i];
    if (c == '{') {
      const size_t close = s->find('}', i);
      const std::string_view name = close == std::string::npos
                                        ? std::string_view(*s).substr(i)
                                        : std::string_view(*s).substr(i, close - i + 1);
      if (name != "{a}" && name != "{u}" && name != "{d}") {
        ctx.Fail(f.mark, f.path,
                 "unknown placeholder " + Quote(name) + " (expected {a}, {u} or {d})");
        return std::nullopt;
      }
      placeholder = true;
      i = close;
    } else if (c == '}') {
      ctx.Fail(f.mark, f.path, "'}' without '{'");
      return std::nullopt;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && --depth < 0) {
      break;
    }
  }
  if (depth != 0) {
    ctx.Fail(f.mark, f.path, "unbalanced parentheses in " + Quote(*s));
    return std::nullopt;
  }
  if (!placeholder) {
    ctx.Fail(f.mark, f.path,
             "the filter must contain {a} (address), {u} (local part) or {d} (domain)");
    return std::nullopt;
  }
  return s;
}

// A pattern lies inside accepted_domains when every name it matches is accepted.
bool InsideAcceptedDomains(const GatewayConfig& config, const DomainPattern& p) {
  if (!p.subdomains) return config.IsAcceptedDomain(p.domain);
  return std::any_of(
      config.accepted_domains.begin(), config.accepted_domains.end(), [&](const DomainPattern& a) {
        return a.subdomains && (p.domain == a.domain || p.domain.ends_with("." + a.domain));
      });
}

// `domains:` of a method: accepted_domains syntax, at least one, each accepted.
void ReadMethodDomains(Context& ctx, const Field& f, const GatewayConfig& config,
                       std::vector<DomainPattern>* out) {
  auto items = ReadSequence(ctx, f);
  if (!items) return;
  if (items->empty()) {
    ctx.Fail(f.mark, f.path, "needs at least one domain");
    return;
  }
  for (const Field& item : *items) {
    auto pattern = ReadDomainPattern(ctx, item);
    if (!pattern) continue;
    // Skipped while accepted_domains itself is broken: its own error says what is wrong.
    if (!config.accepted_domains.empty() && !InsideAcceptedDomains(config, *pattern)) {
      ctx.Fail(item.mark, item.path,
               Quote(pattern->str()) +
                   " is not an accepted domain (only mail for accepted_domains is validated)");
      continue;
    }
    out->push_back(std::move(*pattern));
  }
}

void ReadOnFailure(Context& ctx, MapReader& m, OnLookupFailure* out) {
  auto f = m.Get("on_failure");
  if (!f) return;
  auto s = ReadString(ctx, *f);
  if (!s) return;
  if (*s == "tempfail") {
    *out = OnLookupFailure::kTempFail;
  } else if (*s == "accept") {
    *out = OnLookupFailure::kAccept;
  } else {
    ctx.Fail(f->mark, f->path, "expected tempfail or accept, got " + Quote(*s));
  }
}

constexpr Duration kMinTimeout{100};

std::optional<LdapValidation> ReadLdap(Context& ctx, const Field& field,
                                       const GatewayConfig& config) {
  MapReader m(ctx, field);
  if (!m.valid()) return std::nullopt;
  LdapValidation l;
  if (auto f = m.Require("uri")) {
    if (f->node.IsScalar()) {
      if (auto uri = ReadLdapUri(ctx, *f)) l.uris.push_back(std::move(*uri));
    } else if (auto items = ReadSequence(ctx, *f)) {
      if (items->empty()) ctx.Fail(f->mark, f->path, "needs at least one URI");
      for (const Field& item : *items) {
        if (auto uri = ReadLdapUri(ctx, item)) l.uris.push_back(std::move(*uri));
      }
    }
  }
  if (auto f = m.Require("base")) {
    if (auto s = ReadText(ctx, *f)) l.base = *s;
  }
  std::optional<Field> bind_dn = m.Get("bind_dn");
  if (bind_dn) {
    if (auto s = ReadText(ctx, *bind_dn)) l.bind_dn = *s;
  }
  if (auto f = m.Path("password_file", &l.password_file, /*must_exist=*/false)) {
    if (!bind_dn) {
      ctx.Fail(f->key_mark, f->path, "needs bind_dn (the password is for binding as it)");
    } else if (!l.password_file.empty()) {
      if (auto p = ReadPasswordFile(ctx, *f, l.password_file)) l.password = std::move(*p);
    }
  } else if (bind_dn) {
    ctx.Fail(bind_dn->key_mark, bind_dn->path,
             "needs password_file (a file holding the password, beside the configuration)");
  }
  m.Bool("starttls", &l.starttls);
  if (auto f = m.Get("filter")) {
    if (auto s = ReadFilter(ctx, *f)) l.filter = *s;
  }
  if (auto f = m.Get("domains")) ReadMethodDomains(ctx, *f, config, &l.domains);
  m.DurationAtLeast("timeout", &l.timeout, kMinTimeout);
  ReadOnFailure(ctx, m, &l.on_failure);
  m.Finish();
  if (l.starttls && std::any_of(l.uris.begin(), l.uris.end(),
                                [](const std::string& u) { return u.starts_with("ldaps://"); })) {
    auto f = m.Get("starttls");
    ctx.Fail(f->mark, f->path, "StartTLS is for ldap:// URIs; ldaps:// is TLS from the start");
  }
  return l;
}

std::optional<CallAheadValidation> ReadCallAhead(Context& ctx, const Field& field,
                                                 const GatewayConfig& config) {
  MapReader m(ctx, field);
  if (!m.valid()) return std::nullopt;
  CallAheadValidation c;
  if (auto f = m.Require("domains")) ReadMethodDomains(ctx, *f, config, &c.domains);
  m.DurationAtLeast("timeout", &c.timeout, kMinTimeout);
  ReadOnFailure(ctx, m, &c.on_failure);
  m.Finish();
  return c;
}

}  // namespace

void ReadRecipientValidation(Context& ctx, MapReader& root, GatewayConfig* out) {
  auto field = root.Get("recipient_validation");
  if (!field) return;
  MapReader m(ctx, *field);
  if (!m.valid()) return;
  RecipientValidation& rv = out->recipient_validation;
  if (auto f = m.Get("always_accept")) {
    if (auto items = ReadSequence(ctx, *f)) {
      for (const Field& item : *items) {
        if (auto entry = ReadAlwaysAccept(ctx, item)) rv.always_accept.push_back(std::move(*entry));
      }
    }
  }
  m.DurationAtLeast("cache_ttl", &rv.cache_ttl, Duration(0));
  m.Uint32("max_invalid_recipients_per_hour", &rv.max_invalid_recipients_per_hour, 0);
  if (auto f = m.Get("ldap")) rv.ldap = ReadLdap(ctx, *f, *out);
  if (auto f = m.Get("call_ahead")) rv.call_ahead = ReadCallAhead(ctx, *f, *out);
  m.Finish();
}

}  // namespace tidegate::config::internal
