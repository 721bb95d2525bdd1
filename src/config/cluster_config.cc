// cluster_config.cc — see cluster_config.h.
#include "config/cluster_config.h"

#include <string_view>

namespace tidegate::config::internal {
namespace {

// http://HOST:PORT or https://HOST:PORT (a trailing "/" allowed, no path): an etcd client URL.
std::optional<std::string> ReadEtcdEndpoint(Context& ctx, const Field& f) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  std::string_view rest = *s;
  const bool secure = rest.starts_with("https://");
  if (!secure && !rest.starts_with("http://")) {
    ctx.Fail(f.mark, f.path,
             "expected http://HOST:PORT or https://HOST:PORT, got " + Quote(*s));
    return std::nullopt;
  }
  rest.remove_prefix(secure ? 8 : 7);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  Field endpoint_field = f;
  endpoint_field.node = YAML::Node(std::string(rest));
  auto e = ReadEndpoint(ctx, endpoint_field,
                        EndpointRules{.allow_names = true, .default_port = 2379});
  if (!e) return std::nullopt;
  return std::string(secure ? "https://" : "http://") + e->str();
}

void ReadEtcd(Context& ctx, const Field& field, EtcdSettings* out) {
  MapReader m(ctx, field);
  if (!m.valid()) return;
  if (auto f = m.Require("endpoints")) {
    if (auto items = ReadSequence(ctx, *f)) {
      if (items->empty()) ctx.Fail(f->mark, f->path, "needs at least one endpoint");
      for (const Field& item : *items) {
        if (auto e = ReadEtcdEndpoint(ctx, item)) out->endpoints.push_back(*e);
      }
    }
  }
  if (auto f = m.Get("prefix")) {
    if (auto s = ReadText(ctx, *f)) {
      if (s->size() < 2 || s->front() != '/' || s->back() != '/' ||
          s->find("//") != std::string::npos) {
        ctx.Fail(f->mark, f->path,
                 "expected a key prefix that starts and ends with '/', e.g. /tidegate/");
      } else {
        out->prefix = *s;
      }
    }
  }
  bool any_https = false;
  for (const std::string& e : out->endpoints) any_https = any_https || e.starts_with("https://");
  if (auto tls = m.Get("tls")) {
    MapReader t(ctx, *tls);
    if (t.valid()) {
      t.Path("ca_file", &out->ca_file, /*must_exist=*/true);
      auto cert = t.Path("certificate", &out->certificate, /*must_exist=*/true);
      auto key = t.Path("key", &out->key, /*must_exist=*/true);
      if (out->certificate.empty() != out->key.empty()) {
        const Field& at = cert ? *cert : *key;
        ctx.Fail(at.key_mark, at.path, "certificate and key go together");
      }
      t.Finish();
      if (!any_https) {
        ctx.Fail(tls->key_mark, tls->path, "needs https:// endpoints (TLS is for https only)");
      }
    }
  }
  auto user = m.Get("username");
  if (user) {
    if (auto s = ReadText(ctx, *user)) out->username = *s;
  }
  if (auto f = m.Path("password_file", &out->password_file, /*must_exist=*/false)) {
    if (out->username.empty()) {
      ctx.Fail(f->key_mark, f->path, "needs username (the password is for that user)");
    } else if (!out->password_file.empty()) {
      if (auto p = ReadPasswordFile(ctx, *f, out->password_file)) out->password = std::move(*p);
    }
  } else if (user && !out->username.empty()) {
    ctx.Fail(user->key_mark, user->path, "needs password_file (a file holding the password)");
  }
  m.Finish();
}

}  // namespace

void ReadCluster(Context& ctx, MapReader& root, GatewayConfig* out) {
  auto field = root.Get("cluster");
  if (!field) return;
  MapReader m(ctx, *field);
  if (!m.valid()) return;
  Cluster c;
  if (auto f = m.Require("name")) {
    if (auto s = ReadName(ctx, *f)) c.name = *s;
  }
  if (auto f = m.Require("machine")) {
    if (auto s = ReadName(ctx, *f)) c.machine = *s;
  }
  if (auto f = m.Get("group")) {
    if (auto s = ReadName(ctx, *f)) c.group = *s;
  }
  if (auto f = m.Require("etcd")) ReadEtcd(ctx, *f, &c.etcd);
  m.Finish();
  out->cluster = std::move(c);
}

void ReadTracking(Context& ctx, MapReader& root, Tracking* out) {
  auto field = root.Get("tracking");
  if (!field) return;
  MapReader m(ctx, *field);
  if (!m.valid()) return;
  m.DurationAtLeast("retention", &out->retention, std::chrono::hours(1));
  auto backend = m.Get("backend");
  if (backend) {
    if (auto s = ReadString(ctx, *backend)) {
      if (*s == "sqlite") {
        out->backend = TrackingBackend::kSqlite;
      } else if (*s == "postgresql") {
        out->backend = TrackingBackend::kPostgresql;
      } else {
        ctx.Fail(backend->mark, backend->path,
                 "expected sqlite or postgresql, got " + Quote(*s));
      }
    }
  }
  auto pg = m.Get("postgresql");
  if (pg) {
    MapReader p(ctx, *pg);
    if (p.valid()) {
      if (auto f = p.Require("conninfo")) {
        if (auto s = ReadText(ctx, *f)) {
          if (s->find("password") != std::string::npos) {
            // A password in the conninfo would be shown wherever the conninfo is.
            ctx.Fail(f->mark, f->path, "put the password in password_file, not in conninfo");
          } else {
            out->postgresql.conninfo = *s;
          }
        }
      }
      if (auto f = p.Path("password_file", &out->postgresql.password_file, false)) {
        if (!out->postgresql.password_file.empty()) {
          if (auto pw = ReadPasswordFile(ctx, *f, out->postgresql.password_file)) {
            out->postgresql.password = std::move(*pw);
          }
        }
      }
      p.Finish();
    }
  }
  if (out->backend == TrackingBackend::kPostgresql && !pg) {
    ctx.Fail(backend->mark, backend->path, "backend postgresql needs tracking.postgresql");
  }
  m.Size("buffer_max", &out->buffer_max, 1 << 20);
  m.Finish();
}

}  // namespace tidegate::config::internal
