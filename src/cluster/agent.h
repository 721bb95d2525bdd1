// agent.h — cluster mode's Centralized Management (CONTRACT §11): the shared configuration in
// etcd at cluster, group and machine level, applied on every machine through the gateway's
// reload path; commits guarded by revision; the machine registry under a lease.
//
// The Agent owns an EtcdClient on the gateway's io_context and three coroutines: the config
// loop (range the config prefix, bootstrap it when empty, watch, apply; on any failure:
// disconnected, retry every second, catch up on reconnect), the registry loop (lease grant,
// keepalive, this machine's entry), and the commits it is asked for. The effective configuration
// is the local file's machine-local keys plus, per shared section (sections.h), the value of the
// most specific level that has it; it is kept on disk (data_dir/cluster/applied.yaml) so a
// restart while etcd is down runs on the last applied revision.
//
// Threads: every member is called on the io thread (admin handlers, the gateway). Nothing
// blocks: etcd I/O is asynchronous. Failure: etcd unreachable never stops mail; commits then
// fail fast with kUnreachable.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "base/clock.h"
#include "base/result.h"
#include "cluster/sections.h"
#include "config/config.h"
#include "config/history.h"

namespace tidegate::telemetry {
class MailLog;
}

namespace tidegate::cluster {

class EtcdClient;

// Who asks for a change and why (the log line's "by <user>: <comment>").
struct CommitRequest {
  std::string user;
  std::string comment;
  std::optional<std::int64_t> base_revision;  // absent: the newest revision this machine saw
};

struct CommitResult {
  enum class Kind { kOk, kInvalid, kNotFound, kConflict, kUnreachable };
  Kind kind = Kind::kOk;
  std::string message;        // operator-facing; "conflict: configuration changed since …"
  std::int64_t revision = 0;  // kOk: the etcd revision of the commit (0: nothing to change)
  std::uint64_t history_entry = 0;  // kOk: its configuration history number (0: none)
  bool ok() const { return kind == Kind::kOk; }
  int http_status() const;    // 200, 400, 404, 409, 503
};

// Where one shared section of the effective configuration comes from.
struct SectionOrigin {
  std::string section;
  Level level;  // kNone: in no level (the section is absent: its defaults)
};

struct ClusterState {
  std::string cluster_name, machine, group;
  Level mode;  // where this machine's changes go
  bool connected = false;
  base::SystemTime disconnected_since{};
  std::string disconnect_reason;
  std::int64_t revision_seen = 0;     // the newest revision seen (refused ones included)
  std::int64_t applied_revision = 0;  // the revision the running configuration comes from
  std::vector<SectionOrigin> sections;
};

// One registry entry (<prefix>machines/<NAME>).
struct MachineInfo {
  std::string name, group, admin_url;
  std::int64_t applied_revision = 0;
  bool healthy = false;
};

class Agent {
 public:
  // Applies a validated effective configuration through the gateway's reload path; returns an
  // error when the gateway refuses it (the previous configuration stays).
  using ApplyFn = std::function<base::Status(std::shared_ptr<const config::GatewayConfig>)>;

  struct Options {
    std::shared_ptr<const config::GatewayConfig> local;  // the local file, as loaded
    std::string admin_url;                               // registered for the other machines
    ApplyFn apply;
    telemetry::MailLog* log = nullptr;
    std::chrono::milliseconds retry_interval{1000};
    std::chrono::seconds lease_ttl{10};
  };

  // The configuration to start with, before the io_context runs: etcd asked (blocking, bounded
  // by a few seconds), bootstrapped when empty; else the last applied one on disk; else the
  // local file (a machine that never joined). Logs which: Info from etcd, Warning otherwise.
  static base::Result<std::shared_ptr<const config::GatewayConfig>> Initial(
      const std::shared_ptr<const config::GatewayConfig>& local, telemetry::MailLog& log);

  Agent(boost::asio::io_context& io, Options options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // The admin API's URL registered for the other machines (before Start()).
  void set_admin_url(std::string url);
  void Start();  // spawns the loops
  void Stop();   // cancels them (shutdown); the registry entry expires with its lease

  // The local file changed (SIGHUP): re-merge with the levels held and apply.
  base::Status ReloadLocal(std::shared_ptr<const config::GatewayConfig> local);

  ClusterState State() const;
  // The effective configuration as YAML text: what a ConfigEditor edits in cluster mode.
  std::string EffectiveText() const;

  // Writes the shared sections that differ between `original` and `edited` (both effective
  // texts) at the mode's level, in one transaction guarded by the base revision, after checking
  // that the result validates for this machine. Applied here before it returns.
  boost::asio::awaitable<CommitResult> Commit(std::string original, std::string edited,
                                              CommitRequest request);
  // Removes `section`'s override at `level` (group or machine), guarded the same way.
  boost::asio::awaitable<CommitResult> Inherit(std::string section, Level level,
                                               CommitRequest request);
  // Copies the section's effective value to `level` (an override that starts equal).
  boost::asio::awaitable<CommitResult> Override(std::string section, Level level,
                                                CommitRequest request);
  // Where this machine's changes go (kept in data_dir/cluster/mode).
  base::Status SetMode(Level level);
  // The registry.
  boost::asio::awaitable<base::Result<std::vector<MachineInfo>>> Machines();

  // The configuration history kept in etcd (CONTRACT §11/§12; cluster/history.h): every commit
  // through tidegate is an entry numbered cluster-wide, with its level and that level's
  // sections after it. Errors: etcd unreachable.
  boost::asio::awaitable<base::Result<std::vector<config::HistoryEntry>>> History();
  // One entry with its text (the level's sections); nullopt when it is not kept.
  boost::asio::awaitable<base::Result<std::optional<config::HistoryEntry>>> HistoryAt(
      std::uint64_t number);
  // Makes entry `number`'s level hold its snapshot again, as a new commit at that level (the
  // request's comment is the entry's; validated and guarded like every commit). kNotFound when
  // the entry is not kept; kOk with revision 0 when the level holds it already.
  boost::asio::awaitable<CommitResult> Rollback(std::uint64_t number, CommitRequest request);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tidegate::cluster
