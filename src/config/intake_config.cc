// intake_config.cc — the intake service's YAML schema (CONTRACT §8) read into an IntakeConfig.
#include <set>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace tidegate::config {
namespace {

using internal::Context;
using internal::EndpointRules;
using internal::Field;
using internal::MapReader;

void ReadTls(Context& ctx, MapReader& root, std::optional<TlsFiles>* out) {
  auto field = root.Get("tls");
  if (!field) return;
  // The intake's only client is the gateway's Threat Defense Connector, which always requires
  // TLS 1.2+: no reason to offer anything below the intermediate profile.
  *out = internal::ReadServerTls(ctx, *field, TlsProfile::kIntermediate);
}

void ReadConsole(Context& ctx, MapReader& root, Console* out) {
  internal::ReadLoginSection(ctx, root, "console", &out->bind, &out->user, &out->password_file);
}

void ReadAccounts(Context& ctx, MapReader& root, std::vector<IntakeAccount>* out) {
  auto field = root.Require("accounts");
  if (!field) return;
  auto items = internal::ReadSequence(ctx, *field);
  if (!items) return;
  // With no account every message would be refused: surely a mistake.
  if (items->empty()) ctx.Fail(field->mark, field->path, "needs at least one account");
  std::set<std::string> names;
  std::set<std::string> addresses;
  for (const Field& item : *items) {
    MapReader m(ctx, item);
    if (!m.valid()) continue;
    IntakeAccount account;
    if (auto name = m.Require("name")) {
      if (auto n = internal::ReadName(ctx, *name)) {
        account.name = *n;
        if (!names.insert(*n).second) {
          ctx.Fail(name->mark, name->path, "duplicate account name '" + *n + "'");
        }
      }
    }
    if (auto address = m.Require("intake_address")) {
      if (auto a = internal::ReadIntakeAddress(ctx, *address)) {
        account.intake_address = *a;
        if (!addresses.insert(mail::AsciiLower(a->str())).second) {
          ctx.Fail(address->mark, address->path,
                   "intake address " + a->str() + " already belongs to another account");
        }
      }
    }
    m.Finish();
    out->push_back(std::move(account));
  }
}

}  // namespace

base::Result<std::shared_ptr<const IntakeConfig>> ParseIntakeConfig(std::string_view yaml,
                                                                    const std::string& path) {
  Context ctx(path, internal::ConfigDir(path));
  auto document = internal::LoadDocument(ctx, yaml);
  if (!document) return ctx.ToError();
  auto config = std::make_shared<IntakeConfig>();
  config->path = path;
  MapReader root(ctx, *document);
  if (!root.valid()) return ctx.ToError();

  if (auto f = root.Get("hostname")) {
    if (auto h = internal::ReadHostname(ctx, *f)) config->hostname = *h;
  }
  root.EndpointAt("listen", &config->listen, EndpointRules{.allow_port_zero = true},
                  /*required=*/true);
  ReadTls(ctx, root, &config->tls);
  if (auto require = root.Bool("require_tls", &config->require_tls);
      require && config->require_tls && !root.Has("tls")) {
    ctx.Fail(require->mark, require->path, "needs tls {certificate, key}");
  }
  if (auto header = root.Get("remote_ip_header")) {
    if (auto s = internal::ReadHeaderName(ctx, *header)) config->remote_ip_header = *s;
  }
  root.Path("data_dir", &config->data_dir, /*must_exist=*/false, /*required=*/true);
  root.Size("max_message_size", &config->max_message_size, 1024);
  ReadConsole(ctx, root, &config->console);
  ReadAccounts(ctx, root, &config->accounts);
  root.Finish();

  if (ctx.failed()) return ctx.ToError();
  return std::shared_ptr<const IntakeConfig>(std::move(config));
}

bool IsIntakeConfig(std::string_view yaml) {
  Context ctx("", "");
  const std::optional<YAML::Node> document = internal::LoadDocument(ctx, yaml);
  return document && document->IsMap() && (*document)["accounts"] && !(*document)["listeners"];
}

base::Result<std::shared_ptr<const IntakeConfig>> LoadIntakeConfig(const std::string& path) {
  auto text = internal::ReadConfigFile(path);
  if (!text) return text.error();
  return ParseIntakeConfig(*text, path);
}

}  // namespace tidegate::config
