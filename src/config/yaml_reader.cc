// yaml_reader.cc — typed reading of yaml-cpp nodes (see yaml_reader.h).
#include "config/yaml_reader.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "base/units.h"

namespace tidegate::config::internal {
namespace {

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
  }
  return "something else";
}

bool IsEmptyValue(const YAML::Node& node) { return !node.IsDefined() || node.IsNull(); }

// Only digits and dots: text that means an IPv4 address, never a host name. Rejecting it as a
// name keeps "10.0.0.300" from being taken for a (resolvable-looking) domain.
bool LooksNumeric(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

bool IsIpv4(const std::string& s) {
  unsigned char buf[4];
  return inet_pton(AF_INET, s.c_str(), buf) == 1;
}

bool IsIpv6(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool ParsePort(std::string_view text, std::uint32_t& port) {
  if (text.empty() || text.size() > 5) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc() && ptr == text.data() + text.size() && port <= 65535;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// Control characters from the document would break the one-line-per-error promise.
std::string EscapeControls(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 80;  // a runaway multi-line scalar should not flood the terminal
  if (s.size() > kMax) return "'" + EscapeControls(s.substr(0, kMax)) + "...'";
  return "'" + EscapeControls(s) + "'";
}

// ---- Context ----

Context::Context(std::string file, std::string base_dir)
    : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

void Context::Fail(const YAML::Mark& mark, std::string_view path, std::string_view message) {
  // yaml-cpp counts lines from 0; editors and operators count from 1.
  const int line = mark.is_null() || mark.line < 0 ? 1 : mark.line + 1;
  std::string text = file_ + ":" + std::to_string(line) + ": ";
  if (!path.empty()) text += std::string(path) + ": ";
  text += message;
  text = EscapeControls(text);
  for (const Entry& e : errors_) {
    if (e.text == text) return;
  }
  errors_.push_back(Entry{line, std::move(text)});
}

base::Error Context::ToError() const {
  std::vector<Entry> sorted = errors_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Entry& a, const Entry& b) { return a.line < b.line; });
  std::string message;
  for (const Entry& e : sorted) {
    if (!message.empty()) message += '\n';
    message += e.text;
  }
  return base::MakeError(std::move(message));
}

namespace {

// Walks a document's events without building nodes; remembers where its first node starts.
class DocumentProbe final : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> first_node;

  void OnDocumentStart(const YAML::Mark&) override { first_node.reset(); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnMapEnd() override {}

 private:
  void Node(const YAML::Mark& mark) {
    if (!first_node) first_node = mark;
  }
};

}  // namespace

std::optional<YAML::Node> LoadDocument(Context& ctx, std::string_view yaml) {
  try {
    const std::string text(yaml);
    // Not YAML::LoadAll(): yaml-cpp 0.7's LoadAll() loops forever, allocating without bound,
    // when a document consumes no token (e.g. "#c\n,x"; upstream issue 1040, found by
    // config_fuzz). Asking the parser for at most two documents tells one from several.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentProbe probe;
    if (!parser.HandleNextDocument(probe)) return YAML::Node(YAML::NodeType::Null);
    if (parser.HandleNextDocument(probe)) {
      // yaml-cpp also starts a new document when a block ends and another kind of block begins
      // at column 0 ("- a" then "b: 1"), so the message does not only speak of "---".
      ctx.Fail(probe.first_node.value_or(YAML::Mark::null_mark()), "",
               "unexpected content after the end of the configuration (only one YAML document, "
               "one top-level mapping, is allowed)");
      return std::nullopt;
    }
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    ctx.Fail(e.mark, "", "YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    ctx.Fail(YAML::Mark::null_mark(), "", std::string("cannot parse YAML: ") + e.what());
  }
  return std::nullopt;
}

Field ItemField(const Field& parent, const YAML::Node& item, size_t index) {
  Field f;
  f.node = item;
  f.mark = IsEmptyValue(item) ? parent.mark : item.Mark();
  f.key_mark = f.mark;
  f.path = parent.path + "[" + std::to_string(index) + "]";
  return f;
}

std::string ResolvePath(const std::string& dir, const std::string& name) {
  std::filesystem::path p(name);
  if (p.is_relative()) p = std::filesystem::path(dir) / p;
  return p.lexically_normal().string();
}

// ---- Typed readers ----

std::optional<std::string> ReadString(Context& ctx, const Field& f) {
  if (IsEmptyValue(f.node)) {
    ctx.Fail(f.mark, f.path, "missing value");
    return std::nullopt;
  }
  if (!f.node.IsScalar()) {
    ctx.Fail(f.mark, f.path, "expected a string, got " + Describe(f.node));
    return std::nullopt;
  }
  if (f.node.Scalar().empty()) {
    ctx.Fail(f.mark, f.path, "must not be empty");
    return std::nullopt;
  }
  return f.node.Scalar();
}

std::optional<std::string> ReadName(Context& ctx, const Field& f) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  const bool ok = s->size() <= 64 && std::all_of(s->begin(), s->end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
                  });
  if (!ok) {
    ctx.Fail(f.mark, f.path,
             "invalid name " + Quote(*s) + " (use 1-64 letters, digits, '_', '-' or '.')");
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> ReadText(Context& ctx, const Field& f) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  for (unsigned char c : *s) {
    if (c < 0x20 || c == 0x7f) {
      ctx.Fail(f.mark, f.path, "must not contain control characters");
      return std::nullopt;
    }
  }
  return s;
}

std::optional<std::string> ReadHeaderName(Context& ctx, const Field& f) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  // RFC 5322 §2.2: printable US-ASCII except ':'.
  for (unsigned char c : *s) {
    if (c < 33 || c > 126 || c == ':') {
      ctx.Fail(f.mark, f.path, "invalid header field name " + Quote(*s));
      return std::nullopt;
    }
  }
  return s;
}

std::optional<std::string> ReadHostname(Context& ctx, const Field& f) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  if (!mail::IsValidDomain(*s) || LooksNumeric(*s)) {
    ctx.Fail(f.mark, f.path, "invalid host name " + Quote(*s) + " (expected e.g. gw.example.com)");
    return std::nullopt;
  }
  return s;
}

std::optional<bool> ReadBool(Context& ctx, const Field& f) {
  // Plain scalars only: a quoted "true" is a string, and YAML 1.1's yes/no/on/off are too
  // easy to write by accident.
  if (f.node.IsScalar() && f.node.Tag() == "?") {
    if (f.node.Scalar() == "true") return true;
    if (f.node.Scalar() == "false") return false;
  }
  ctx.Fail(f.mark, f.path, "expected true or false, got " + Describe(f.node));
  return std::nullopt;
}

std::optional<std::uint64_t> ReadUint(Context& ctx, const Field& f, std::uint64_t min,
                                      std::uint64_t max) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(s->data(), s->data() + s->size(), n);
  const bool parsed = ec == std::errc() && ptr == s->data() + s->size();
  if (!parsed || n < min || n > max) {
    ctx.Fail(f.mark, f.path,
             "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                 ", got " + Quote(*s));
    return std::nullopt;
  }
  return n;
}

std::optional<Duration> ReadDuration(Context& ctx, const Field& f, Duration min) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  auto d = base::ParseDuration(*s);
  if (!d) {
    ctx.Fail(f.mark, f.path, d.error().message);
    return std::nullopt;
  }
  if (*d < min) {
    ctx.Fail(f.mark, f.path, "must be at least " + base::FormatDuration(min));
    return std::nullopt;
  }
  return *d;
}

std::optional<std::uint64_t> ReadSize(Context& ctx, const Field& f, std::uint64_t min) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  auto n = base::ParseSize(*s);
  if (!n) {
    ctx.Fail(f.mark, f.path, n.error().message);
    return std::nullopt;
  }
  if (*n < min) {
    ctx.Fail(f.mark, f.path, "must be at least " + std::to_string(min) + " bytes");
    return std::nullopt;
  }
  return *n;
}

std::optional<Endpoint> ReadEndpoint(Context& ctx, const Field& f, const EndpointRules& rules) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  const std::string expected =
      rules.allow_names ? " (expected HOST:PORT, e.g. mx.example.com:25, 127.0.0.1:25, [::1]:25)"
                        : " (expected IP:PORT, e.g. 127.0.0.1:25 or [::1]:25)";
  auto fail = [&](const std::string& why) {
    ctx.Fail(f.mark, f.path, "invalid address " + Quote(*s) + ": " + why + expected);
    return std::nullopt;
  };
  std::string host;
  std::string_view port_text;
  bool has_port = false;
  std::string_view text = *s;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']'");
    host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail("unexpected text after ']'");
      has_port = true;
      port_text = rest.substr(1);
    }
    if (!IsIpv6(host)) return fail("bad IPv6 address");
  } else {
    const size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      return fail("IPv6 addresses need brackets");
    }
    host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = text.substr(colon + 1);
    }
    if (!IsIpv4(host)) {
      if (!rules.allow_names) return fail("not an IP address");
      if (LooksNumeric(host) || !mail::IsValidDomain(host)) return fail("bad host name");
    }
  }
  std::uint32_t port = rules.default_port;
  if (!has_port) {
    if (rules.default_port == 0) return fail("missing port");
  } else if (!ParsePort(port_text, port)) {
    return fail("bad port");
  } else if (port == 0 && !rules.allow_port_zero) {
    return fail("port 0 is not allowed here");
  }
  return Endpoint{std::move(host), static_cast<std::uint16_t>(port)};
}

std::optional<std::string> ReadPath(Context& ctx, const Field& f, bool must_exist) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  std::string path = ResolvePath(ctx.base_dir(), *s);
  if (must_exist) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (status.type() == std::filesystem::file_type::not_found) {
      ctx.Fail(f.mark, f.path, path + ": no such file");
      return std::nullopt;
    }
    if (ec) {
      ctx.Fail(f.mark, f.path, path + ": cannot access: " + ec.message());
      return std::nullopt;
    }
    if (status.type() != std::filesystem::file_type::regular) {
      ctx.Fail(f.mark, f.path, path + ": not a regular file");
      return std::nullopt;
    }
  }
  return path;
}

// "example.com" or ".example.org" (any subdomain).
std::optional<DomainPattern> ReadDomainPattern(Context& ctx, const Field& f) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  auto pattern = mail::ParseDomainPattern(*s);
  if (!pattern) {
    ctx.Fail(f.mark, f.path,
             "invalid domain " + Quote(*s) +
                 " (expected e.g. example.com, or .example.org for any "
                 "subdomain)");
    return std::nullopt;
  }
  return std::move(*pattern);
}

std::optional<mail::Address> ReadIntakeAddress(Context& ctx, const Field& f) {
  auto s = ReadString(ctx, f);
  if (!s) return std::nullopt;
  auto address = mail::ParseMailbox(*s);
  if (!address) {
    ctx.Fail(f.mark, f.path, "invalid address " + Quote(*s) + ": " + address.error().message);
    return std::nullopt;
  }
  // The journal copy is routed by this domain (smtp_routes, then MX), so it must be a name.
  if (address->domain_literal() || LooksNumeric(address->domain) ||
      !mail::IsValidDomain(address->domain)) {
    ctx.Fail(f.mark, f.path,
             "invalid address " + Quote(*s) +
                 ": an intake address needs a domain name, not an "
                 "address literal");
    return std::nullopt;
  }
  return std::move(address).value();
}

std::optional<std::vector<Field>> ReadSequence(Context& ctx, const Field& f) {
  if (!f.node.IsSequence()) {
    ctx.Fail(f.mark, f.path, "expected a list, got " + Describe(f.node));
    return std::nullopt;
  }
  std::vector<Field> items;
  items.reserve(f.node.size());
  size_t i = 0;
  for (const YAML::Node& item : f.node) items.push_back(ItemField(f, item, i++));
  return items;
}

// ---- MapReader ----

MapReader::MapReader(Context& ctx, const YAML::Node& root) : ctx_(ctx), node_(root) {
  mark_ = IsEmptyValue(root) ? YAML::Mark() : root.Mark();
  if (IsEmptyValue(root)) {
    ctx_.Fail(mark_, "", "the configuration is empty");
    return;
  }
  if (!root.IsMap()) {
    ctx_.Fail(mark_, "", "the configuration must be a mapping of keys, got " + Describe(root));
    return;
  }
  valid_ = true;
  for (auto it = root.begin(); it != root.end(); ++it) AddKey(it->first, it->second);
}

MapReader::MapReader(Context& ctx, const Field& field)
    : ctx_(ctx), node_(field.node), path_(field.path) {
  mark_ = field.key_mark.is_null() ? field.mark : field.key_mark;
  if (!field.node.IsMap()) {
    ctx_.Fail(field.mark, path_, "expected a mapping, got " + Describe(field.node));
    return;
  }
  valid_ = true;
  for (auto it = field.node.begin(); it != field.node.end(); ++it) AddKey(it->first, it->second);
}

void MapReader::AddKey(const YAML::Node& key, const YAML::Node& value) {
  if (!key.IsScalar()) {
    ctx_.Fail(key.Mark(), path_, "keys must be plain strings, got " + Describe(key));
    return;
  }
  const std::string& name = key.Scalar();
  for (const Key& k : keys_) {
    if (k.name == name) {
      ctx_.Fail(key.Mark(), ChildPath(name), "duplicate key");
      return;
    }
  }
  keys_.push_back(Key{name, key, value});
}

std::string MapReader::ChildPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

bool MapReader::Has(std::string_view key) const {
  return std::any_of(keys_.begin(), keys_.end(), [&](const Key& k) { return k.name == key; });
}

std::optional<Field> MapReader::Get(std::string_view key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
  for (Key& k : keys_) {
    if (k.name != key) continue;
    k.used = true;
    Field f;
    f.node = k.value;
    f.key_mark = k.key.Mark();
    f.mark = IsEmptyValue(k.value) ? f.key_mark : k.value.Mark();
    f.path = ChildPath(key);
    return f;
  }
  return std::nullopt;
}

std::optional<Field> MapReader::Require(std::string_view key) {
  auto f = Get(key);
  if (!f && valid_) ctx_.Fail(mark_, ChildPath(key), "missing required key");
  return f;
}

std::vector<std::pair<std::string, Field>> MapReader::Entries() {
  std::vector<std::pair<std::string, Field>> out;
  std::vector<std::string> names;
  for (const Key& k : keys_) names.push_back(k.name);
  for (const std::string& name : names) out.emplace_back(name, *Get(name));
  return out;
}

std::optional<Field> MapReader::String(std::string_view key, std::string* out, bool required) {
  auto f = required ? Require(key) : Get(key);
  if (f) {
    if (auto v = ReadString(ctx_, *f)) *out = std::move(*v);
  }
  return f;
}

std::optional<Field> MapReader::Bool(std::string_view key, bool* out) {
  auto f = Get(key);
  if (f) {
    if (auto v = ReadBool(ctx_, *f)) *out = *v;
  }
  return f;
}

std::optional<Field> MapReader::Uint32(std::string_view key, std::uint32_t* out, std::uint32_t min,
                                       std::uint32_t max) {
  auto f = Get(key);
  if (f) {
    if (auto v = ReadUint(ctx_, *f, min, max)) *out = static_cast<std::uint32_t>(*v);
  }
  return f;
}

std::optional<Field> MapReader::DurationAtLeast(std::string_view key, Duration* out, Duration min) {
  auto f = Get(key);
  if (f) {
    if (auto v = ReadDuration(ctx_, *f, min)) *out = *v;
  }
  return f;
}

std::optional<Field> MapReader::Size(std::string_view key, std::uint64_t* out, std::uint64_t min) {
  auto f = Get(key);
  if (f) {
    if (auto v = ReadSize(ctx_, *f, min)) *out = *v;
  }
  return f;
}

std::optional<Field> MapReader::EndpointAt(std::string_view key, Endpoint* out,
                                           const EndpointRules& rules, bool required) {
  auto f = required ? Require(key) : Get(key);
  if (f) {
    if (auto v = ReadEndpoint(ctx_, *f, rules)) *out = std::move(*v);
  }
  return f;
}

std::optional<Field> MapReader::Path(std::string_view key, std::string* out, bool must_exist,
                                     bool required) {
  auto f = required ? Require(key) : Get(key);
  if (f) {
    if (auto v = ReadPath(ctx_, *f, must_exist)) *out = std::move(*v);
  }
  return f;
}

void MapReader::Finish() {
  for (const Key& k : keys_) {
    if (k.used) continue;
    std::string message = "unknown key";
    // A near miss is almost always a typo of a key this section knows.
    for (const std::string& known : known_) {
      if (EditDistance(k.name, known) <= 2) {
        message += " (did you mean " + Quote(known) + "?)";
        break;
      }
    }
    ctx_.Fail(k.key.Mark(), ChildPath(k.name), message);
  }
}

// ---- Files ----

base::Result<std::string> ReadConfigFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return base::MakeError(path + ": cannot read: " + std::strerror(errno));
  std::string text;
  char buffer[65536];
  while (true) {
    const size_t n = std::fread(buffer, 1, sizeof buffer, file);
    text.append(buffer, n);
    if (n < sizeof buffer) break;
  }
  const int error = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (error != 0) return base::MakeError(path + ": cannot read: " + std::strerror(error));
  return text;
}

std::string ConfigDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  if (ec) absolute = std::filesystem::path(path);
  return absolute.lexically_normal().parent_path().string();
}

namespace {

// Whether OpenSSL accepts `ciphers` as a TLS 1.2 cipher list (it fails when nothing matches).
bool SelectsSomeCipher(const std::string& ciphers) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return true;  // cannot tell here; the listener's start will
  const bool ok = SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) == 1;
  SSL_CTX_free(ctx);
  return ok;
}

}  // namespace

std::optional<TlsFiles> ReadServerTls(Context& ctx, const Field& f, TlsProfile default_profile) {
  MapReader m(ctx, f);
  if (!m.valid()) return std::nullopt;
  TlsFiles tls;
  tls.profile = default_profile;
  m.Path("certificate", &tls.certificate, /*must_exist=*/true, /*required=*/true);
  m.Path("key", &tls.key, /*must_exist=*/true, /*required=*/true);
  if (auto p = m.Get("profile")) {
    if (auto s = ReadString(ctx, *p)) {
      if (*s == "opportunistic") {
        tls.profile = TlsProfile::kOpportunistic;
      } else if (*s == "intermediate") {
        tls.profile = TlsProfile::kIntermediate;
      } else {
        ctx.Fail(p->mark, p->path,
                 "unknown TLS profile " + Quote(*s) + " (expected opportunistic or intermediate)");
      }
    }
  }
  if (auto c = m.Get("ciphers")) {
    if (auto s = ReadString(ctx, *c)) {
      const bool plain = std::all_of(s->begin(), s->end(), [](unsigned char ch) {
        return std::isalnum(ch) || (ch != 0 && std::strchr("+-!:@=._,", ch) != nullptr);
      });
      if (!plain || !SelectsSomeCipher(*s)) {
        ctx.Fail(c->mark, c->path,
                 "OpenSSL selects no TLS 1.2 cipher from " + Quote(*s) +
                     " (expected a cipher string such as ECDHE+AESGCM:ECDHE+CHACHA20)");
      } else {
        tls.ciphers = *s;
      }
    }
  }
  m.Finish();
  return tls;
}

void ReadLoginSection(Context& ctx, MapReader& root, std::string_view key, Endpoint* bind,
                      std::string* user, std::string* password_file) {
  auto field = root.Get(key);
  if (!field) return;
  MapReader m(ctx, *field);
  if (!m.valid()) return;
  m.EndpointAt("bind", bind, EndpointRules{.allow_port_zero = true});
  if (auto u = m.Get("user")) {
    if (auto s = ReadText(ctx, *u)) {
      // HTTP Basic separates user and password with the first ':'.
      if (s->find(':') != std::string::npos || s->find(' ') != std::string::npos) {
        ctx.Fail(u->mark, u->path, "must not contain ':' or spaces");
      } else {
        *user = *s;
      }
    }
  }
  m.Path("password_file", password_file, /*must_exist=*/true, /*required=*/true);
  m.Finish();
}

std::optional<std::string> ReadPasswordFile(Context& ctx, const Field& f, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ctx.Fail(f.mark, f.path, "cannot read password file " + path + ": " + std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream content;
  content << in.rdbuf();
  std::string password = content.str();
  if (!password.empty() && password.back() == '\n') password.pop_back();
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    // An empty password is an unauthenticated bind, which many directories let succeed.
    ctx.Fail(f.mark, f.path, "password file " + path + " is empty");
    return std::nullopt;
  }
  if (password.find('\n') != std::string::npos) {
    ctx.Fail(f.mark, f.path, "password file " + path + " has more than one line");
    return std::nullopt;
  }
  return password;
}

}  // namespace tidegate::config::internal
