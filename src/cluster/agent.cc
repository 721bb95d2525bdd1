// agent.cc — see agent.h. Design notes: docs/design-cluster.md.
#include "cluster/agent.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "base/filesystem.h"
#include "cluster/etcd_client.h"
#include "cluster/history.h"
#include "config/history.h"
#include "telemetry/mail_log.h"

namespace tidegate::cluster {
namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

constexpr std::string_view kLastCommit = "last_commit";

// What <prefix>config/last_commit says about the newest commit.
struct CommitMeta {
  Level level;
  std::string user;
  std::string comment;
  std::string machine;     // the machine that committed
  std::uint64_t number = 0;  // its configuration history entry (history.h); 0: none
};

std::string MetaJson(const CommitMeta& m) {
  json j{{"level", LevelKindName(m.level.kind)},
         {"name", m.level.name},
         {"user", m.user},
         {"comment", m.comment},
         {"machine", m.machine},
         {"number", m.number}};
  return j.dump();
}

CommitMeta ParseMeta(const std::string& text) {
  CommitMeta m;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return m;
  auto str = [&j](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  auto level = ParseLevel(str("level"), str("name"));
  if (level) m.level = *level;
  m.user = str("user");
  m.comment = str("comment");
  m.machine = str("machine");
  if (j.contains("number") && j["number"].is_number_unsigned()) {
    m.number = j["number"].get<std::uint64_t>();
  }
  return m;
}

std::string LastCommitKey(const config::Cluster& c) {
  return ConfigPrefix(c.etcd.prefix) + std::string(kLastCommit);
}

std::string MachinesPrefix(const config::Cluster& c) { return c.etcd.prefix + "machines/"; }

EtcdOptions ClientOptions(const config::Cluster& c) {
  EtcdOptions o;
  o.endpoints = c.etcd.endpoints;
  o.ca_file = c.etcd.ca_file;
  o.certificate = c.etcd.certificate;
  o.key = c.etcd.key;
  o.username = c.etcd.username;
  o.password = c.etcd.password;
  return o;
}

// data_dir/cluster/: the last applied state (state.json) and the mode (mode).
std::string StateDir(const config::GatewayConfig& local) {
  return base::JoinPath(local.data_dir, "cluster");
}

// The state kept on disk so a restart while etcd is down runs on the last applied revision.
struct DiskState {
  std::int64_t revision = 0;
  LevelValues values;
};

base::Status SaveState(const config::GatewayConfig& local, const DiskState& s) {
  json values = json::object();
  for (const auto& [k, v] : s.values) values[k] = v;
  json j{{"revision", s.revision}, {"values", values}};
  auto& fs = base::PosixFilesystem();
  const std::string dir = StateDir(local);
  if (base::Status st = fs.CreateDirs(dir); !st) return st;
  return fs.WriteFileAtomic(base::JoinPath(dir, "state.json"), j.dump(1) + "\n");
}

std::optional<DiskState> LoadState(const config::GatewayConfig& local) {
  auto text = base::PosixFilesystem().ReadWholeFile(base::JoinPath(StateDir(local), "state.json"));
  if (!text) return std::nullopt;
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("values") || !j["values"].is_object()) return std::nullopt;
  DiskState s;
  if (j.contains("revision") && j["revision"].is_number_integer()) {
    s.revision = j["revision"].get<std::int64_t>();
  }
  for (auto& [k, v] : j["values"].items()) {
    if (v.is_string()) s.values[k] = v.get<std::string>();
  }
  return s;
}

Level LoadMode(const config::GatewayConfig& local) {
  auto text = base::PosixFilesystem().ReadWholeFile(base::JoinPath(StateDir(local), "mode"));
  if (!text) return Level{LevelKind::kCluster, ""};
  std::string t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  const auto space = t.find(' ');
  auto level = space == std::string::npos ? ParseLevel(t, "")
                                          : ParseLevel(t.substr(0, space), t.substr(space + 1));
  return level ? *level : Level{LevelKind::kCluster, ""};
}

// The local file's text (the snapshot keeps only the path).
base::Result<std::string> LocalText(const config::GatewayConfig& local) {
  auto text = base::PosixFilesystem().ReadWholeFile(local.path);
  if (!text) return base::MakeError(local.path + ": cannot read: " + text.error().message);
  return *text;
}

// The effective configuration of this machine from these values.
struct Effective {
  Merged merged;
  std::shared_ptr<const config::GatewayConfig> config;
};

base::Result<Effective> Build(const config::GatewayConfig& local, const std::string& local_text,
                              const LevelValues& values) {
  const config::Cluster& c = *local.cluster;
  auto merged = Merge(local_text, values, c.etcd.prefix, c.group, c.machine);
  if (!merged) return merged.error();
  auto cfg = config::ParseGatewayConfig(merged->text, local.path);
  if (!cfg) return cfg.error();
  if (!(*cfg)->cluster || !((*cfg)->cluster == local.cluster)) {
    return base::MakeError("the cluster section must stay machine-local");
  }
  return Effective{std::move(*merged), std::move(*cfg)};
}

// The values under the config prefix (sections only) and the last commit.
void ReadValues(const config::Cluster& c, const RangeResult& r, LevelValues* values,
                std::optional<KeyValue>* last) {
  values->clear();
  for (const KeyValue& kv : r.kvs) {
    if (kv.key == LastCommitKey(c)) {
      *last = kv;
    } else if (ParseSectionKey(c.etcd.prefix, kv.key)) {
      (*values)[kv.key] = kv.value;
    }
  }
}

// Transaction parts, field by field (the structs may grow).
Op PutOp(std::string key, std::string value) {
  Op op;
  op.kind = Op::Kind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  return op;
}

Op DeleteOp(std::string key) {
  Op op;
  op.kind = Op::Kind::kDeleteRange;
  op.key = std::move(key);
  return op;
}

Op RangeOp(std::string key) {
  Op op;
  op.kind = Op::Kind::kRange;
  op.key = std::move(key);
  return op;
}

Compare Guard(std::string key, Compare::Target target, Compare::Result result,
              std::int64_t number) {
  Compare c;
  c.key = std::move(key);
  c.target = target;
  c.result = result;
  c.number = number;
  return c;
}

std::string OneLine(std::string s) {
  for (char& ch : s) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  return s;
}

// The message of every request that etcd did not answer.
std::string UnreachableText(const std::string& reason) {
  return "cluster configuration store unreachable: " + OneLine(reason);
}

// The configuration history's part of a commit transaction (history.h): entry `meta.number`
// with the snapshot of its level, the oldest kept entry beyond the bound deleted, and (when
// `guard` is given) the guard that the number is still free.
void AddHistory(const config::Cluster& c, const CommitMeta& meta, const LevelSections& sections,
                std::vector<Op>* ops, std::vector<Compare>* guard) {
  const std::string& prefix = c.etcd.prefix;
  ClusterHistoryEntry e{meta.number,
                        config::Rfc3339Utc(base::SystemClock::Instance().Now()),
                        meta.user,
                        meta.comment,
                        meta.machine,
                        meta.level};
  ops->push_back(PutOp(HistoryEntryKey(prefix, meta.number), EntryJson(e)));
  ops->push_back(PutOp(HistorySnapshotKey(prefix, meta.number), SnapshotJson(meta.level, sections)));
  if (meta.number > kClusterHistoryKeep) {
    ops->push_back(DeleteOp(HistoryEntryKey(prefix, meta.number - kClusterHistoryKeep)));
    ops->push_back(DeleteOp(HistorySnapshotKey(prefix, meta.number - kClusterHistoryKeep)));
  }
  if (guard != nullptr) {
    guard->push_back(Guard(HistoryEntryKey(prefix, meta.number), Compare::Target::kCreate,
                           Compare::Result::kEqual, 0));
  }
}

}  // namespace

int CommitResult::http_status() const {
  switch (kind) {
    case Kind::kOk:
      return 200;
    case Kind::kInvalid:
      return 400;
    case Kind::kNotFound:
      return 404;
    case Kind::kConflict:
      return 409;
    case Kind::kUnreachable:
      return 503;
  }
  return 500;
}

// ---- the bootstrap transaction, shared by Initial() and the config loop -------------------

namespace {

// Writes the local file's shared sections as the cluster level, if nothing is there yet.
asio::awaitable<base::Status> Bootstrap(EtcdClient& etcd, const config::GatewayConfig& local,
                                        const std::string& local_text) {
  const config::Cluster& c = *local.cluster;
  auto shared = SharedValues(local_text);
  if (!shared) co_return shared.error();
  std::vector<Op> puts;
  for (const auto& [section, value] : *shared) {
    puts.push_back(PutOp(SectionKey(c.etcd.prefix, Level{}, section), value));
  }
  // History entry 1 is the configuration the cluster starts from (CONTRACT §12).
  CommitMeta meta{Level{LevelKind::kCluster, ""}, c.machine, "bootstrap from " + c.machine,
                  c.machine, 1};
  puts.push_back(PutOp(LastCommitKey(c), MetaJson(meta)));
  std::vector<Compare> guard{
      Guard(LastCommitKey(c), Compare::Target::kCreate, Compare::Result::kEqual, 0)};
  // No guard on the entry: without last_commit the prefix holds no configuration, and a history
  // left from an earlier one starts again at 1.
  AddHistory(c, meta, *shared, &puts, nullptr);
  auto r = co_await etcd.Txn(std::move(guard), std::move(puts));
  if (!r) co_return r.error();
  co_return base::Status::Ok();  // lost the race: another machine bootstrapped; fine
}

}  // namespace

base::Result<std::shared_ptr<const config::GatewayConfig>> Agent::Initial(
    const std::shared_ptr<const config::GatewayConfig>& local, telemetry::MailLog& log) {
  const config::Cluster& c = *local->cluster;
  auto local_text = LocalText(*local);
  if (!local_text) return local_text.error();
  asio::io_context io;
  EtcdOptions options = ClientOptions(c);
  options.request_timeout = std::chrono::milliseconds(1500);
  EtcdClient etcd(io.get_executor(), options);
  std::optional<RangeResult> range;
  std::string failure = "no answer";
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int attempt = 0; attempt < 2; ++attempt) {
          auto r = co_await etcd.Range(ConfigPrefix(c.etcd.prefix),
                                       EtcdClient::PrefixEnd(ConfigPrefix(c.etcd.prefix)));
          if (!r) {
            failure = OneLine(r.error().message);
            co_return;
          }
          bool has_commit = false;
          for (const KeyValue& kv : r->kvs) has_commit = has_commit || kv.key == LastCommitKey(c);
          if (has_commit || attempt == 1) {
            range = std::move(*r);
            co_return;
          }
          if (base::Status s = co_await Bootstrap(etcd, *local, *local_text); !s) {
            failure = OneLine(s.error().message);
            co_return;
          }
        }
      },
      asio::detached);
  io.run();
  if (range) {
    LevelValues values;
    std::optional<KeyValue> last;
    ReadValues(c, *range, &values, &last);
    auto built = Build(*local, *local_text, values);
    if (built) {
      const std::int64_t rev = last ? last->mod_revision : range->revision;
      (void)SaveState(*local, DiskState{rev, values});
      log.Info(fmt::format("Cluster configuration revision {} loaded from etcd", rev));
      return built->config;
    }
    // An invalid configuration in etcd: run on the last one applied here, as below.
    failure = "revision refused: " + OneLine(built.error().message);
  }
  if (auto state = LoadState(*local)) {
    auto built = Build(*local, *local_text, state->values);
    if (built) {
      log.Warning(fmt::format(
          "Cluster configuration store unavailable ({}): running on revision {}, the last one "
          "applied here",
          failure, state->revision));
      return built->config;
    }
  }
  log.Warning("Cluster configuration store unavailable (" + failure +
              "): no configuration was ever applied here, running on the local file");
  return local;
}

// ---- Impl ----------------------------------------------------------------------------------

class Agent::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, Options options)
      : io_(io),
        options_(std::move(options)),
        cluster_(*options_.local->cluster),
        etcd_(io.get_executor(), ClientOptions(cluster_)),
        retry_timer_(io),
        registry_timer_(io) {
    mode_ = LoadMode(*options_.local);
    if (auto text = LocalText(*options_.local)) local_text_ = *text;
    if (auto state = LoadState(*options_.local)) {
      values_ = state->values;
      applied_revision_ = state->revision;
      revision_seen_ = state->revision;
    }
    if (auto built = Build(*options_.local, local_text_, values_)) {
      effective_ = built->merged;
    } else {
      effective_.text = local_text_;
    }
    disconnected_since_ = base::SystemClock::Instance().Now();
    disconnect_reason_ = "not connected yet";
  }

  void set_admin_url(std::string url) { options_.admin_url = std::move(url); }

  void Start() {
    auto self = shared_from_this();
    asio::co_spawn(io_, [self]() { return self->ConfigLoop(); }, asio::detached);
    asio::co_spawn(io_, [self]() { return self->RegistryLoop(); }, asio::detached);
  }

  void Stop() {
    stopping_ = true;
    retry_timer_.cancel();
    registry_timer_.cancel();
    etcd_.Stop();
  }

  // ---- the config loop ----

  asio::awaitable<void> ConfigLoop() {
    const std::string prefix = ConfigPrefix(cluster_.etcd.prefix);
    const std::string end = EtcdClient::PrefixEnd(prefix);
    while (!stopping_) {
      auto r = co_await etcd_.Range(prefix, end);
      if (stopping_) break;
      if (!r) {
        Disconnected(r.error().message);
        co_await Pause();
        continue;
      }
      LevelValues values;
      std::optional<KeyValue> last;
      ReadValues(cluster_, *r, &values, &last);
      if (!last) {
        if (base::Status s = co_await Bootstrap(etcd_, *options_.local, local_text_); !s) {
          Disconnected(s.error().message);
          co_await Pause();
        }
        continue;  // range again: ours or another machine's bootstrap
      }
      Connected();
      revision_seen_ = std::max(revision_seen_, r->revision);
      values_ = std::move(values);
      meta_ = ParseMeta(last->value);
      history_number_ = std::max(history_number_, meta_.number);
      if (last->mod_revision != applied_revision_ || !applied_once_) {
        (void)Apply(last->mod_revision);  // logged either way
      }
      // Watch from here; a batch per commit (the prefix holds only commits).
      const auto watch_start = std::chrono::steady_clock::now();
      base::Status watch = co_await etcd_.Watch(
          prefix, end, r->revision + 1, [this](WatchBatch batch) { OnBatch(std::move(batch)); });
      if (stopping_) break;
      // The stream ended (a member went away, a timeout): range again at once; only a failing
      // range means the store is unreachable. A stream that fails as soon as it opens must not
      // make this a busy loop.
      (void)watch;
      if (std::chrono::steady_clock::now() - watch_start < std::chrono::milliseconds(200)) {
        co_await Pause();
      }
    }
  }

  void OnBatch(WatchBatch batch) {
    bool commit = false, by_tidegate = false;
    std::optional<Level> touched;
    // The commit's revision is its events' mod_revision (a delete's is the delete's revision).
    // Not the batch header's: a watcher that catches up gets the store's current revision
    // there, which counts later writes outside the prefix (the registry), so one commit would
    // be logged under different revisions on different machines.
    std::int64_t commit_revision = 0;
    for (const WatchEvent& e : batch.events) {
      commit_revision = std::max(commit_revision, e.kv.mod_revision);
      if (e.kv.key == LastCommitKey(cluster_)) {
        if (e.type == WatchEvent::Type::kPut) {
          meta_ = ParseMeta(e.kv.value);
          history_number_ = std::max(history_number_, meta_.number);
          commit = by_tidegate = true;
        }
        continue;
      }
      auto section = ParseSectionKey(cluster_.etcd.prefix, e.kv.key);
      if (!section) continue;
      if (e.type == WatchEvent::Type::kPut) {
        values_[e.kv.key] = e.kv.value;
      } else {
        values_.erase(e.kv.key);
      }
      touched = section->first;
      commit = true;
    }
    if (commit && !by_tidegate && touched) {
      // Written around tidegate (etcdctl, another tool): say so rather than name the last
      // commit's author.
      meta_ = CommitMeta{*touched, "(unknown)", "changed in etcd directly", ""};
    }
    revision_seen_ = std::max(revision_seen_, batch.revision);
    if (commit_revision == 0) commit_revision = batch.revision;
    if (commit && commit_revision > applied_revision_) (void)Apply(commit_revision);  // logged
  }

  // Builds and applies the effective configuration of `revision`; logs either way.
  base::Status Apply(std::int64_t revision) {
    applied_once_ = true;
    auto built = Build(*options_.local, local_text_, values_);
    if (!built) {
      refused_revision_ = revision;
      Log(2, fmt::format("Cluster configuration revision {} refused: {}", revision,
                         OneLine(built.error().message)));
      Wake();
      return built.error();
    }
    const bool changed = built->merged.text != effective_.text;
    if (changed) {
      if (base::Status s = options_.apply(built->config); !s) {
        refused_revision_ = revision;
        Log(2, fmt::format("Cluster configuration revision {} refused: {}", revision,
                           OneLine(s.error().message)));
        Wake();
        return s;
      }
    }
    effective_ = std::move(built->merged);
    applied_revision_ = revision;
    refused_revision_ = 0;
    if (base::Status s = SaveState(*options_.local, DiskState{revision, values_}); !s) {
      Log(1, "Cluster configuration: cannot keep the applied revision on disk: " +
                 s.error().message);
    }
    const std::string level = meta_.level.kind == LevelKind::kCluster
                                  ? "cluster " + cluster_.name
                                  : LevelText(meta_.level);
    Log(0, fmt::format("Cluster configuration revision {} applied ({}, by {}: {})", revision,
                       level, OneLine(meta_.user), OneLine(meta_.comment)));
    Wake();
    return base::Status::Ok();
  }

  base::Status ReloadLocal(std::shared_ptr<const config::GatewayConfig> local) {
    if (!local->cluster || !(*local->cluster == cluster_)) {
      return base::MakeError("the cluster section cannot change while running (restart)");
    }
    auto text = LocalText(*local);
    if (!text) return text.error();
    auto built = Build(*local, *text, values_);
    if (!built) return built.error();
    if (base::Status s = options_.apply(built->config); !s) return s;
    options_.local = std::move(local);
    local_text_ = std::move(*text);
    effective_ = std::move(built->merged);
    return base::Status::Ok();
  }

  // ---- connection state ----

  void Disconnected(const std::string& reason) {
    if (!connected_ && !first_) return;
    first_ = false;
    connected_ = false;
    disconnected_since_ = base::SystemClock::Instance().Now();
    disconnect_reason_ = OneLine(reason);
    Log(1, "Cluster configuration store disconnected: " + disconnect_reason_);
  }

  void Connected() {
    if (connected_) return;
    const bool was_first = first_;
    first_ = false;
    connected_ = true;
    if (!was_first) Log(0, "Cluster configuration store reconnected");
    Wake();
  }

  asio::awaitable<void> Pause() {
    retry_timer_.expires_after(options_.retry_interval);
    boost::system::error_code ec;
    co_await retry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // ---- the registry ----

  std::string RegistryValue() const {
    json j{{"name", cluster_.machine},
           {"group", cluster_.group},
           {"admin_url", options_.admin_url},
           {"applied_revision", applied_revision_},
           {"healthy", refused_revision_ == 0}};
    return j.dump();
  }

  void Wake() { registry_timer_.cancel(); }

  asio::awaitable<void> RegistryLoop() {
    const std::string key = MachinesPrefix(cluster_) + cluster_.machine;
    const auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(
                              options_.lease_ttl) / 3;
    while (!stopping_) {
      auto lease = co_await etcd_.LeaseGrant(options_.lease_ttl);
      if (stopping_) break;
      if (!lease) {
        co_await Pause();
        continue;
      }
      std::string written;
      auto next_keepalive = std::chrono::steady_clock::now() + interval;
      while (!stopping_) {
        const std::string value = RegistryValue();
        if (value != written) {
          auto put = co_await etcd_.Put(key, value, *lease);
          if (!put) break;
          written = value;
        }
        if (std::chrono::steady_clock::now() >= next_keepalive) {
          auto ttl = co_await etcd_.LeaseKeepAlive(*lease);
          if (!ttl || *ttl <= 0) break;
          next_keepalive = std::chrono::steady_clock::now() + interval;
        }
        registry_timer_.expires_at(next_keepalive);
        boost::system::error_code ec;
        co_await registry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (!stopping_) co_await Pause();
    }
  }

  // ---- commits ----

  CommitResult Unreachable() const {
    return CommitResult{CommitResult::Kind::kUnreachable, UnreachableText(disconnect_reason_), 0};
  }

  // Writes `changes` (key → value; nullopt deletes) in one transaction guarded by the base
  // revision, after checking that the result validates for this machine; applies it here.
  asio::awaitable<CommitResult> Write(std::map<std::string, std::optional<std::string>> changes,
                                      Level level, CommitRequest request) {
    // Known to be unreachable: refuse at once. Not known yet (just started): try; the guard
    // makes a stale view safe.
    if (!connected_ && !first_) co_return Unreachable();
    LevelValues next = values_;
    for (const auto& [key, value] : changes) {
      if (value) {
        next[key] = *value;
      } else {
        next.erase(key);
      }
    }
    if (next == values_) co_return CommitResult{};
    if (auto built = Build(*options_.local, local_text_, next); !built) {
      co_return CommitResult{CommitResult::Kind::kInvalid,
                             "refused: the configuration would not be valid: " +
                                 built.error().message,
                             0};
    }
    const std::int64_t base = request.base_revision.value_or(revision_seen_);
    CommitMeta meta{level, request.user, request.comment, cluster_.machine, 0};
    base::Result<TxnResult> r = base::MakeError("not tried");
    // Attempts differ only in the history number: a number this machine did not know was taken
    // (it had not ranged the store yet, or last_commit lost its number to a hand edit) is
    // learnt from the failed transaction and the next one tried; the base revision's guard is
    // the same every time, so a real conflict still fails at once.
    for (int attempt = 0; attempt < 3; ++attempt) {
      meta.number = history_number_ + 1;
      std::vector<Op> ops;
      for (const auto& [key, value] : changes) {
        ops.push_back(value ? PutOp(key, *value) : DeleteOp(key));
      }
      ops.push_back(PutOp(LastCommitKey(cluster_), MetaJson(meta)));
      std::vector<Compare> guard{Guard(LastCommitKey(cluster_), Compare::Target::kMod,
                                       Compare::Result::kLess, base + 1)};
      // The level's whole content after the commit, under the next history number.
      AddHistory(cluster_, meta, SectionsAt(next, cluster_.etcd.prefix, level), &ops, &guard);
      // When it fails: the last commit (for the message) and the history's numbers.
      const std::string entries = HistoryEntriesPrefix(cluster_.etcd.prefix);
      std::vector<Op> otherwise{RangeOp(LastCommitKey(cluster_)), RangeOp(entries)};
      otherwise.back().range_end = EtcdClient::PrefixEnd(entries);
      r = co_await etcd_.Txn(std::move(guard), std::move(ops), std::move(otherwise));
      if (!r) {
        co_return CommitResult{CommitResult::Kind::kUnreachable,
                               UnreachableText(r.error().message), 0};
      }
      if (r->succeeded) break;
      std::int64_t now = r->revision;
      if (!r->ranges.empty() && !r->ranges[0].kvs.empty()) {
        now = r->ranges[0].kvs[0].mod_revision;
      }
      revision_seen_ = std::max(revision_seen_, r->revision);
      bool number_taken = false;
      if (r->ranges.size() > 1) {
        for (const KeyValue& kv : r->ranges[1].kvs) {
          if (auto e = ParseEntryJson(kv.value)) {
            number_taken = number_taken || e->number == meta.number;
            history_number_ = std::max(history_number_, e->number);
          }
        }
      }
      if (now > base || !number_taken) {
        co_return CommitResult{
            CommitResult::Kind::kConflict,
            fmt::format("conflict: configuration changed since revision {} (now {})", base, now),
            0};
      }
    }
    if (!r->succeeded) {
      co_return CommitResult{CommitResult::Kind::kConflict,
                             "conflict: no free configuration history number was found", 0};
    }
    // Applied here at once (read your writes); the watch brings the same revision later and
    // finds it applied.
    values_ = std::move(next);
    meta_ = meta;
    history_number_ = std::max(history_number_, meta.number);
    revision_seen_ = std::max(revision_seen_, r->revision);
    if (base::Status s = Apply(r->revision); !s) {
      // Valid when checked a moment ago; the gateway refused it (e.g. a listener): say so.
      co_return CommitResult{CommitResult::Kind::kInvalid,
                             fmt::format("revision {} committed but not applied here: {}",
                                         r->revision, s.error().message),
                             r->revision};
    }
    co_return CommitResult{CommitResult::Kind::kOk, "", r->revision, meta.number};
  }

  asio::awaitable<CommitResult> Commit(std::string original, std::string edited,
                                       CommitRequest request) {
    auto changed = ChangedSections(original, edited);
    if (!changed) co_return CommitResult{CommitResult::Kind::kInvalid, changed.error().message, 0};
    auto values = SharedValues(edited);
    if (!values) co_return CommitResult{CommitResult::Kind::kInvalid, values.error().message, 0};
    std::map<std::string, std::optional<std::string>> changes;
    for (const std::string& section : *changed) {
      auto it = values->find(section);
      std::optional<std::string> value;
      if (it != values->end()) value = it->second;
      changes[SectionKey(cluster_.etcd.prefix, mode_, section)] = value;
    }
    co_return co_await Write(std::move(changes), mode_, std::move(request));
  }

  asio::awaitable<CommitResult> Inherit(std::string section, Level level, CommitRequest request) {
    if (!IsSharedSection(section)) {
      co_return CommitResult{CommitResult::Kind::kInvalid, "not a shared section: " + section, 0};
    }
    if (level.kind != LevelKind::kGroup && level.kind != LevelKind::kMachine) {
      co_return CommitResult{CommitResult::Kind::kInvalid,
                             "only a group or machine level can inherit (the cluster level is "
                             "what the others inherit from)",
                             0};
    }
    const std::string key = SectionKey(cluster_.etcd.prefix, level, section);
    if (!values_.contains(key)) {
      co_return CommitResult{CommitResult::Kind::kInvalid,
                             section + " has no override at " + LevelText(level), 0};
    }
    std::map<std::string, std::optional<std::string>> changes;
    changes[key] = std::nullopt;
    co_return co_await Write(std::move(changes), level, std::move(request));
  }

  asio::awaitable<CommitResult> Override(std::string section, Level level,
                                         CommitRequest request) {
    if (!IsSharedSection(section)) {
      co_return CommitResult{CommitResult::Kind::kInvalid, "not a shared section: " + section, 0};
    }
    auto values = SharedValues(effective_.text);
    if (!values || !values->contains(section)) {
      co_return CommitResult{CommitResult::Kind::kInvalid,
                             section + " is not set at any level: nothing to override", 0};
    }
    const std::string key = SectionKey(cluster_.etcd.prefix, level, section);
    if (values_.contains(key)) {
      co_return CommitResult{CommitResult::Kind::kInvalid,
                             section + " is already overridden at " + LevelText(level), 0};
    }
    std::map<std::string, std::optional<std::string>> changes;
    changes[key] = values->at(section);
    co_return co_await Write(std::move(changes), level, std::move(request));
  }

  // ---- the configuration history (history.h) ----

  asio::awaitable<base::Result<std::vector<config::HistoryEntry>>> History() {
    const std::string prefix = HistoryEntriesPrefix(cluster_.etcd.prefix);
    auto r = co_await etcd_.Range(prefix, EtcdClient::PrefixEnd(prefix));
    if (!r) {
      co_return base::MakeError(UnreachableText(r.error().message));
    }
    std::vector<config::HistoryEntry> out;
    for (const KeyValue& kv : r->kvs) {  // key order is number order
      if (auto e = ParseEntryJson(kv.value)) out.push_back(ToHistoryEntry(*e));
    }
    co_return out;
  }

  // Entry `number` with its snapshot; nullopt when it is not kept.
  struct Kept {
    ClusterHistoryEntry entry;
    Snapshot snapshot;
  };
  asio::awaitable<base::Result<std::optional<Kept>>> Find(std::uint64_t number) {
    auto entry = co_await etcd_.Range(HistoryEntryKey(cluster_.etcd.prefix, number), "");
    if (!entry) {
      co_return base::MakeError(UnreachableText(entry.error().message));
    }
    auto snapshot = co_await etcd_.Range(HistorySnapshotKey(cluster_.etcd.prefix, number), "");
    if (!snapshot) {
      co_return base::MakeError(UnreachableText(snapshot.error().message));
    }
    if (entry->kvs.empty() || snapshot->kvs.empty()) co_return std::optional<Kept>();
    auto e = ParseEntryJson(entry->kvs[0].value);
    auto s = ParseSnapshotJson(snapshot->kvs[0].value);
    if (!e || !s) {
      co_return base::MakeError(fmt::format("configuration history entry {} is damaged in etcd",
                                            number));
    }
    co_return std::optional<Kept>(Kept{std::move(*e), std::move(*s)});
  }

  asio::awaitable<base::Result<std::optional<config::HistoryEntry>>> HistoryAt(
      std::uint64_t number) {
    auto kept = co_await Find(number);
    if (!kept) co_return kept.error();
    if (!*kept) co_return std::optional<config::HistoryEntry>();
    config::HistoryEntry out = ToHistoryEntry((*kept)->entry);
    out.text = SnapshotText((*kept)->snapshot.level, (*kept)->snapshot.sections);
    co_return std::optional<config::HistoryEntry>(std::move(out));
  }

  // Restores the level of entry `number` to its snapshot, as a new commit at that level.
  asio::awaitable<CommitResult> Rollback(std::uint64_t number, CommitRequest request) {
    if (!connected_ && !first_) co_return Unreachable();
    auto kept = co_await Find(number);
    if (!kept) {
      co_return CommitResult{CommitResult::Kind::kUnreachable, kept.error().message, 0};
    }
    if (!*kept) {
      co_return CommitResult{CommitResult::Kind::kNotFound,
                             fmt::format("no configuration history entry {}", number), 0};
    }
    const Snapshot& snapshot = (*kept)->snapshot;
    auto changes = RestoreLevel(values_, cluster_.etcd.prefix, snapshot.level, snapshot.sections);
    if (changes.empty()) co_return CommitResult{};  // that level holds it already
    co_return co_await Write(std::move(changes), snapshot.level, std::move(request));
  }

  base::Status SetMode(Level level) {
    auto& fs = base::PosixFilesystem();
    const std::string dir = StateDir(*options_.local);
    if (base::Status s = fs.CreateDirs(dir); !s) return s;
    const std::string text =
        level.kind == LevelKind::kCluster ? "cluster\n" : LevelText(level) + "\n";
    if (base::Status s = fs.WriteFileAtomic(base::JoinPath(dir, "mode"), text); !s) return s;
    mode_ = std::move(level);
    return base::Status::Ok();
  }

  asio::awaitable<base::Result<std::vector<MachineInfo>>> Machines() {
    const std::string prefix = MachinesPrefix(cluster_);
    auto r = co_await etcd_.Range(prefix, EtcdClient::PrefixEnd(prefix));
    if (!r) {
      co_return base::MakeError(UnreachableText(r.error().message));
    }
    std::vector<MachineInfo> out;
    for (const KeyValue& kv : r->kvs) {
      json j = json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) continue;
      MachineInfo m;
      m.name = kv.key.substr(prefix.size());
      if (j.contains("group") && j["group"].is_string()) m.group = j["group"];
      if (j.contains("admin_url") && j["admin_url"].is_string()) m.admin_url = j["admin_url"];
      if (j.contains("applied_revision") && j["applied_revision"].is_number_integer()) {
        m.applied_revision = j["applied_revision"];
      }
      if (j.contains("healthy") && j["healthy"].is_boolean()) m.healthy = j["healthy"];
      out.push_back(std::move(m));
    }
    co_return out;
  }

  ClusterState State() const {
    ClusterState s;
    s.cluster_name = cluster_.name;
    s.machine = cluster_.machine;
    s.group = cluster_.group;
    s.mode = mode_;
    s.connected = connected_;
    s.disconnected_since = disconnected_since_;
    s.disconnect_reason = disconnect_reason_;
    s.revision_seen = revision_seen_;
    s.applied_revision = applied_revision_;
    for (const std::string& section : SharedSections()) {
      auto it = effective_.origin.find(section);
      s.sections.push_back(SectionOrigin{
          section, it == effective_.origin.end() ? Level{LevelKind::kNone, ""} : it->second});
    }
    return s;
  }

  const std::string& EffectiveText() const { return effective_.text; }

 private:
  void Log(int severity, std::string text) {
    if (options_.log == nullptr) return;
    if (severity == 0) {
      options_.log->Info(std::move(text));
    } else if (severity == 1) {
      options_.log->Warning(std::move(text));
    } else {
      options_.log->Critical(std::move(text));
    }
  }

  asio::io_context& io_;
  Options options_;
  const config::Cluster cluster_;
  EtcdClient etcd_;
  asio::steady_timer retry_timer_;
  asio::steady_timer registry_timer_;
  std::string local_text_;
  LevelValues values_;
  CommitMeta meta_;
  std::uint64_t history_number_ = 0;  // the newest history entry seen (last_commit's number)
  Merged effective_;
  Level mode_;
  std::int64_t revision_seen_ = 0;
  std::int64_t applied_revision_ = 0;
  std::int64_t refused_revision_ = 0;
  bool applied_once_ = false;
  bool connected_ = false;
  bool first_ = true;  // no connection attempt finished yet
  base::SystemTime disconnected_since_{};
  std::string disconnect_reason_;
  bool stopping_ = false;
};

// ---- Agent ---------------------------------------------------------------------------------

Agent::Agent(asio::io_context& io, Options options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}
Agent::~Agent() { impl_->Stop(); }
void Agent::set_admin_url(std::string url) { impl_->set_admin_url(std::move(url)); }
void Agent::Start() { impl_->Start(); }
void Agent::Stop() { impl_->Stop(); }
base::Status Agent::ReloadLocal(std::shared_ptr<const config::GatewayConfig> local) {
  return impl_->ReloadLocal(std::move(local));
}
ClusterState Agent::State() const { return impl_->State(); }
std::string Agent::EffectiveText() const { return impl_->EffectiveText(); }
asio::awaitable<CommitResult> Agent::Commit(std::string original, std::string edited,
                                            CommitRequest request) {
  auto impl = impl_;
  co_return co_await impl->Commit(std::move(original), std::move(edited), std::move(request));
}
asio::awaitable<CommitResult> Agent::Inherit(std::string section, Level level,
                                             CommitRequest request) {
  auto impl = impl_;
  co_return co_await impl->Inherit(std::move(section), std::move(level), std::move(request));
}
asio::awaitable<CommitResult> Agent::Override(std::string section, Level level,
                                              CommitRequest request) {
  auto impl = impl_;
  co_return co_await impl->Override(std::move(section), std::move(level), std::move(request));
}
base::Status Agent::SetMode(Level level) { return impl_->SetMode(std::move(level)); }
asio::awaitable<base::Result<std::vector<MachineInfo>>> Agent::Machines() {
  auto impl = impl_;
  co_return co_await impl->Machines();
}
asio::awaitable<base::Result<std::vector<config::HistoryEntry>>> Agent::History() {
  auto impl = impl_;
  co_return co_await impl->History();
}
asio::awaitable<base::Result<std::optional<config::HistoryEntry>>> Agent::HistoryAt(
    std::uint64_t number) {
  auto impl = impl_;
  co_return co_await impl->HistoryAt(number);
}
asio::awaitable<CommitResult> Agent::Rollback(std::uint64_t number, CommitRequest request) {
  auto impl = impl_;
  co_return co_await impl->Rollback(number, std::move(request));
}

}  // namespace tidegate::cluster
