// etcd_probe.cc — tidegate_etcd_probe: drives one cluster::EtcdClient from a script on stdin,
// for the end-to-end tests against a real etcd (tests/e2e/test_etcd_client.py).
//
//   tidegate_etcd_probe --endpoint URL [--endpoint URL…] [--ca-file F --cert F --key F]
//                       [--user U --password P] [--timeout-ms N] [--idle-timeout-ms N]
//
// One JSON command a line on stdin; one JSON line on stdout for each (and one per watch batch),
// keys and values as text. The client lives for the whole run (its preferred endpoint and
// token carry over). Commands:
//   {"op":"put","key":K,"value":V,"lease":N}                → {"ok":true,"revision":R,"ms":T}
//   {"op":"range","key":K,"range_end":E|"prefix":true,"revision":N}
//                                                           → {"ok":true,"revision":R,"kvs":[…]}
//   {"op":"txn","compare":[{"key","target":"version|create|mod|value","result":"equal|greater|
//     less|not_equal","number","value"}],"success":[OP…],"failure":[OP…]}, OP =
//     {"kind":"put|delete|range","key","value","range_end","lease"}
//                                                   →
//                                                   {"ok":true,"succeeded":B,"revision":R,"ranges":[…]}
//   {"op":"grant","ttl":S}                                  → {"ok":true,"lease":ID}
//   {"op":"keepalive","lease":ID}                           → {"ok":true,"ttl":S}
//   {"op":"watch","key":K,"prefix":true,"start_revision":N,"stop_after_ms":N}
//       → {"batch":{"revision":R,"events":[{"type":"put|delete","key","value","mod_revision"}]}}
//         for each batch, then {"ok":false,"error":…,"ms":T} when the watch returns.
// A failure: {"ok":false,"error":TEXT,"ms":T}. T = the command's duration in milliseconds.
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cluster/etcd_client.h"

namespace {

namespace asio = boost::asio;
using namespace tidegate::cluster;
using nlohmann::json;

json KvJson(const KeyValue& kv) {
  return {{"key", kv.key},
          {"value", kv.value},
          {"create_revision", kv.create_revision},
          {"mod_revision", kv.mod_revision},
          {"version", kv.version},
          {"lease", kv.lease}};
}

json RangeJson(const RangeResult& r) {
  json kvs = json::array();
  for (const auto& kv : r.kvs) kvs.push_back(KvJson(kv));
  return {{"revision", r.revision}, {"kvs", kvs}};
}

std::string RangeEnd(const json& cmd) {
  if (cmd.value("prefix", false)) return EtcdClient::PrefixEnd(cmd.value("key", ""));
  return cmd.value("range_end", "");
}

Op ParseOp(const json& j) {
  Op op;
  std::string kind = j.value("kind", "put");
  op.kind = kind == "delete"  ? Op::Kind::kDeleteRange
            : kind == "range" ? Op::Kind::kRange
                              : Op::Kind::kPut;
  op.key = j.value("key", "");
  op.value = j.value("value", "");
  op.range_end = RangeEnd(j);
  op.lease = j.value("lease", std::int64_t{0});
  return op;
}

Compare ParseCompare(const json& j) {
  Compare c;
  c.key = j.value("key", "");
  c.range_end = RangeEnd(j);
  std::string target = j.value("target", "mod"), result = j.value("result", "equal");
  c.target = target == "version"  ? Compare::Target::kVersion
             : target == "create" ? Compare::Target::kCreate
             : target == "value"  ? Compare::Target::kValue
                                  : Compare::Target::kMod;
  c.result = result == "greater"     ? Compare::Result::kGreater
             : result == "less"      ? Compare::Result::kLess
             : result == "not_equal" ? Compare::Result::kNotEqual
                                     : Compare::Result::kEqual;
  c.number = j.value("number", std::int64_t{0});
  c.value = j.value("value", "");
  return c;
}

void Print(json j) {
  std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
}

template <typename T>
json Failed(const tidegate::base::Result<T>& r) {
  return {{"ok", false}, {"error", r.error().message}};
}

asio::awaitable<void> Run(EtcdClient& client, json cmd) {
  const auto began = std::chrono::steady_clock::now();
  auto ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 began)
        .count();
  };
  const std::string op = cmd.value("op", "");
  json out;
  if (op == "put") {
    auto r = co_await client.Put(cmd.value("key", ""), cmd.value("value", ""),
                                 cmd.value("lease", std::int64_t{0}));
    out = r ? json{{"ok", true}, {"revision", *r}} : Failed(r);
  } else if (op == "range") {
    auto r = co_await client.Range(cmd.value("key", ""), RangeEnd(cmd),
                                   cmd.value("revision", std::int64_t{0}));
    if (r) {
      out = RangeJson(*r);
      out["ok"] = true;
    } else {
      out = Failed(r);
    }
  } else if (op == "txn") {
    std::vector<Compare> compares;
    std::vector<Op> success, failure;
    for (const auto& c : cmd.value("compare", json::array())) compares.push_back(ParseCompare(c));
    for (const auto& o : cmd.value("success", json::array())) success.push_back(ParseOp(o));
    for (const auto& o : cmd.value("failure", json::array())) failure.push_back(ParseOp(o));
    auto r = co_await client.Txn(compares, success, failure);
    if (r) {
      json ranges = json::array();
      for (const auto& range : r->ranges) ranges.push_back(RangeJson(range));
      out = {
          {"ok", true}, {"succeeded", r->succeeded}, {"revision", r->revision}, {"ranges", ranges}};
    } else {
      out = Failed(r);
    }
  } else if (op == "grant") {
    auto r = co_await client.LeaseGrant(std::chrono::seconds(cmd.value("ttl", 10)));
    out = r ? json{{"ok", true}, {"lease", *r}} : Failed(r);
  } else if (op == "keepalive") {
    auto r = co_await client.LeaseKeepAlive(cmd.value("lease", std::int64_t{0}));
    out = r ? json{{"ok", true}, {"ttl", *r}} : Failed(r);
  } else if (op == "watch") {
    asio::steady_timer stop_timer(co_await asio::this_coro::executor);
    if (int after = cmd.value("stop_after_ms", 0); after > 0) {
      stop_timer.expires_after(std::chrono::milliseconds(after));
      stop_timer.async_wait([&client](boost::system::error_code ec) {
        if (!ec) client.Stop();
      });
    }
    auto status = co_await client.Watch(
        cmd.value("key", ""), RangeEnd(cmd), cmd.value("start_revision", std::int64_t{0}),
        [](WatchBatch batch) {
          json events = json::array();
          for (const auto& e : batch.events) {
            events.push_back({{"type", e.type == WatchEvent::Type::kPut ? "put" : "delete"},
                              {"key", e.kv.key},
                              {"value", e.kv.value},
                              {"mod_revision", e.kv.mod_revision}});
          }
          Print({{"batch", {{"revision", batch.revision}, {"events", events}}}});
        });
    stop_timer.cancel();
    out = status ? json{{"ok", true}} : json{{"ok", false}, {"error", status.error().message}};
  } else {
    out = {{"ok", false}, {"error", "unknown op " + op}};
  }
  out["ms"] = ms();
  Print(out);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tidegate_etcd_probe: EtcdClient driven by JSON commands on stdin"};
  EtcdOptions options;
  int timeout_ms = 2000, idle_ms = 15000;
  app.add_option("--endpoint", options.endpoints, "http(s)://host:port")->required();
  app.add_option("--ca-file", options.ca_file);
  app.add_option("--cert", options.certificate);
  app.add_option("--key", options.key);
  app.add_option("--user", options.username);
  app.add_option("--password", options.password);
  app.add_option("--timeout-ms", timeout_ms);
  app.add_option("--idle-timeout-ms", idle_ms);
  CLI11_PARSE(app, argc, argv);
  options.request_timeout = std::chrono::milliseconds(timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(idle_ms);

  asio::io_context io;
  EtcdClient client(io.get_executor(), options);
  std::string line;
  // A test driver: reading stdin between commands, while no command runs, blocks nothing.
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json cmd = json::parse(line, nullptr, false);
    if (cmd.is_discarded() || !cmd.is_object()) {
      Print({{"ok", false}, {"error", "bad command"}});
      continue;
    }
    io.restart();
    asio::co_spawn(io, Run(client, std::move(cmd)), [](std::exception_ptr e) {
      if (e) Print({{"ok", false}, {"error", "exception"}});
    });
    io.run();
  }
  return 0;
}
