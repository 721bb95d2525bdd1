// yaml_reader.h — internal to config/: typed, validated reading of yaml-cpp nodes, with every
// problem recorded as `FILE:LINE: key.path: message`.
//
// The gateway and intake loaders walk their documents with these helpers. A reader never stops
// at the first problem: it records the error in the Context, leaves the default in place and goes
// on, so that one run reports every independent mistake. Errors inside a section whose own type
// is wrong are not looked for (there is nothing to read). yaml-cpp is only called in ways that do
// not throw (no as<>, no operator[] on non-maps); LoadDocument() catches the parser's exceptions.
//
// Ownership: a Context belongs to one load; MapReaders borrow it and must not outlive it.
// Thread-safety: none needed; one load runs on one thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "mail/address.h"

namespace tidegate::config::internal {

// The errors of one load, and where relative file names resolve.
class Context {
 public:
  // file: as it will appear in messages; base_dir: absolute directory for relative file names.
  Context(std::string file, std::string base_dir);

  const std::string& file() const { return file_; }
  const std::string& base_dir() const { return base_dir_; }

  // Records "FILE:LINE: path: message" (or "FILE:LINE: message" for an empty path).
  void Fail(const YAML::Mark& mark, std::string_view path, std::string_view message);
  bool failed() const { return !errors_.empty(); }
  // All errors, sorted by line (stable), one per line.
  base::Error ToError() const;

 private:
  struct Entry {
    int line;
    std::string text;
  };
  std::string file_;
  std::string base_dir_;
  std::vector<Entry> errors_;
};

// A document value for a message: in single quotes, control characters escaped, long values cut.
std::string Quote(std::string_view s);

// Reads the single YAML document of `yaml`. Syntax errors are recorded; on failure returns
// nullopt. An empty document yields a null node (reported by the caller as "not a mapping").
std::optional<YAML::Node> LoadDocument(Context& ctx, std::string_view yaml);

// A value in the document: the node, where to point at it, and its key path for messages.
struct Field {
  YAML::Node node;
  YAML::Mark mark;  // the value's position; its key's when the value is empty (yaml-cpp gives
                    // empty values the position of the next token)
  YAML::Mark key_mark;
  std::string path;  // "delivery.retry.initial", "listeners[0].bind"
};

// The field for a sequence element, path "parent[i]".
Field ItemField(const Field& parent, const YAML::Node& item, size_t index);

// ---- Typed readers: they record a problem and return nullopt on a wrong type or value ----

// Any non-empty scalar (plain or quoted).
std::optional<std::string> ReadString(Context& ctx, const Field& f);
// A name: 1-64 of [A-Za-z0-9_.-] (policy, listener and account names appear in logs, URLs and
// operator commands, so they stay plain).
std::optional<std::string> ReadName(Context& ctx, const Field& f);
// Printable ASCII text without control characters (service names, user names).
std::optional<std::string> ReadText(Context& ctx, const Field& f);
// A header field name (RFC 5322 ftext).
std::optional<std::string> ReadHeaderName(Context& ctx, const Field& f);
// A host name for greetings and Received: lines.
std::optional<std::string> ReadHostname(Context& ctx, const Field& f);
// Plain true or false only (no yes/no/on/off, no quoted strings).
std::optional<bool> ReadBool(Context& ctx, const Field& f);
// A plain unsigned decimal integer within [min, max].
std::optional<std::uint64_t> ReadUint(Context& ctx, const Field& f, std::uint64_t min,
                                      std::uint64_t max);
// base::ParseDuration syntax (a bare integer is seconds), at least min.
std::optional<Duration> ReadDuration(Context& ctx, const Field& f, Duration min);
// base::ParseSize syntax, at least min.
std::optional<std::uint64_t> ReadSize(Context& ctx, const Field& f, std::uint64_t min);

struct EndpointRules {
  bool allow_names = false;        // host may be a host name, not only an IP address
  bool allow_port_zero = false;    // listening endpoints: 0 = any free port
  std::uint16_t default_port = 0;  // non-zero: the port may be omitted
};
// "IPv4:PORT", "[IPv6]:PORT", "name:PORT" (when allowed), or without ":PORT" when defaulted.
std::optional<Endpoint> ReadEndpoint(Context& ctx, const Field& f, const EndpointRules& rules);
// The content of the password file at `path` (f names the key) without its trailing line
// break; empty or multi-line files are errors. The password never appears in an error.
std::optional<std::string> ReadPasswordFile(Context& ctx, const Field& f, const std::string& path);
// A file name resolved to an absolute, normalised path; must_exist checks that it names an
// existing regular file (without opening it).
std::optional<std::string> ReadPath(Context& ctx, const Field& f, bool must_exist);
// A domain pattern as in accepted_domains: "example.com", or ".example.org" for any subdomain.
std::optional<DomainPattern> ReadDomainPattern(Context& ctx, const Field& f);
// A mailbox usable as an intake address: local@domain with a real domain name (no literal).
std::optional<mail::Address> ReadIntakeAddress(Context& ctx, const Field& f);
// Elements of a sequence (an error if the node is not one).
std::optional<std::vector<Field>> ReadSequence(Context& ctx, const Field& f);

// Resolves a relative name against dir; absolute names are kept. Both are normalised.
std::string ResolvePath(const std::string& dir, const std::string& name);

// A mapping being read: each Get() marks its key as known, Finish() reports the rest.
class MapReader {
 public:
  // The document root (the error says "the configuration must be a mapping").
  MapReader(Context& ctx, const YAML::Node& root);
  // A mapping-valued field. Records an error (and reads nothing) if it is not a mapping.
  MapReader(Context& ctx, const Field& field);
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  // False when the node was not a mapping: every Get() then returns nullopt.
  bool valid() const { return valid_; }
  // Where a missing key is reported: the key of this mapping, or its first line.
  const YAML::Mark& mark() const { return mark_; }
  const std::string& path() const { return path_; }

  bool Has(std::string_view key) const;
  // The field of key, if present; marks the key as known.
  std::optional<Field> Get(std::string_view key);
  // Like Get(), but records "missing required key" when absent (and the mapping is valid).
  std::optional<Field> Require(std::string_view key);

  // Every key/value pair, in document order, all marked as known (for mappings whose keys are
  // data, such as smtp_routes).
  std::vector<std::pair<std::string, Field>> Entries();

  // Typed shorthands: when the key is present and valid, *out is set; otherwise it keeps its
  // default. They return the field when present (valid or not), for later cross-checks.
  std::optional<Field> String(std::string_view key, std::string* out, bool required = false);
  std::optional<Field> Bool(std::string_view key, bool* out);
  std::optional<Field> Uint32(std::string_view key, std::uint32_t* out, std::uint32_t min,
                              std::uint32_t max = std::numeric_limits<std::uint32_t>::max());
  std::optional<Field> DurationAtLeast(std::string_view key, Duration* out, Duration min);
  std::optional<Field> Size(std::string_view key, std::uint64_t* out, std::uint64_t min);
  std::optional<Field> EndpointAt(std::string_view key, Endpoint* out, const EndpointRules& rules,
                                  bool required = false);
  std::optional<Field> Path(std::string_view key, std::string* out, bool must_exist,
                            bool required = false);

  // Records an error for every key that no Get() asked for.
  void Finish();

 private:
  void AddKey(const YAML::Node& key, const YAML::Node& value);
  std::string ChildPath(std::string_view key) const;

  Context& ctx_;
  YAML::Node node_;
  YAML::Mark mark_;
  std::string path_;
  bool valid_ = false;
  struct Key {
    std::string name;
    YAML::Node key;
    YAML::Node value;
    bool used = false;
  };
  std::vector<Key> keys_;
  std::vector<std::string> known_;  // every key asked for, for "did you mean" hints
};

// The whole file, or "FILE: cannot read: <strerror>".
base::Result<std::string> ReadConfigFile(const std::string& path);
// The absolute directory of a config file, against which its relative file names resolve.
std::string ConfigDir(const std::string& path);

// A server `tls:` mapping, shared by gateway listeners and the intake: certificate and key
// (required, must exist), profile (opportunistic | intermediate; default_profile when absent),
// ciphers (an OpenSSL cipher string that selects at least one TLS 1.2 cipher).
std::optional<TlsFiles> ReadServerTls(Context& ctx, const Field& f, TlsProfile default_profile);

// A login section shared by the gateway's `admin` and the intake's `console`: bind (port 0
// allowed), user (no ':' or spaces: HTTP Basic splits on the first ':'), password_file (required,
// must exist). Absent section: the outputs keep their defaults.
void ReadLoginSection(Context& ctx, MapReader& root, std::string_view key, Endpoint* bind,
                      std::string* user, std::string* password_file);

}  // namespace tidegate::config::internal
