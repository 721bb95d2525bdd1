// cluster_config_test.cc — the `cluster:` and `tracking:` keys (CONTRACT §11): the contract's
// example, defaults, every error with file and line, passwords read from files and never shown.
#include <gtest/gtest.h>

#include "config/config.h"
#include "config/test_util.h"

namespace tidegate::config {
namespace {

using testing::TempDir;

const std::string kHead =
    "hostname: gw.example.com\n"                    // 1
    "data_dir: /d\n"                                // 2
    "listeners: [{name: In, bind: 127.0.0.1:0}]\n"  // 3
    "accepted_domains: [example.com]\n"             // 4
    "incoming_mail_policies: [{name: DEFAULT}]\n";  // 5

std::string Err(const std::string& tail, const std::string& path = "gw.yaml") {
  auto c = ParseGatewayConfig(kHead + tail, path);
  return c ? std::string("(loaded)") : c.error().message;
}

TEST(ClusterConfig, AbsentMeansOneMachineWithSqlite) {
  auto c = ParseGatewayConfig(kHead, "gw.yaml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE((*c)->cluster);
  EXPECT_EQ((*c)->tracking.backend, TrackingBackend::kSqlite);
  EXPECT_EQ((*c)->tracking.buffer_max, 1ull << 30);
}

TEST(ClusterConfig, ContractExampleParses) {
  TempDir dir;
  dir.Write("ca.pem", "x");
  dir.Write("c.pem", "x");
  dir.Write("k.pem", "x");
  dir.Write("etcd.password", "etcd-secret\n");
  dir.Write("pg.password", "pg-secret\n");
  auto c = ParseGatewayConfig(
      kHead +
          "cluster:\n"
          "  name: Hosted_Cluster\n"
          "  machine: gw1\n"
          "  group: Main_Group\n"
          "  etcd: {endpoints: [https://127.0.0.1:2379, https://etcd2.example:2379/],\n"
          "         prefix: /tidegate/, tls: {ca_file: ca.pem, certificate: c.pem, key: k.pem},\n"
          "         username: tg, password_file: etcd.password}\n"
          "tracking:\n"
          "  backend: postgresql\n"
          "  postgresql: {conninfo: \"host=127.0.0.1 port=5432 dbname=tidegate user=tidegate\",\n"
          "               password_file: pg.password}\n"
          "  buffer_max: 1G\n",
      dir / "gw.yaml");
  ASSERT_TRUE(c) << c.error().message;
  const Cluster& cl = *(*c)->cluster;
  EXPECT_EQ(cl.name, "Hosted_Cluster");
  EXPECT_EQ(cl.machine, "gw1");
  EXPECT_EQ(cl.group, "Main_Group");
  EXPECT_EQ(cl.etcd.endpoints,
            (std::vector<std::string>{"https://127.0.0.1:2379", "https://etcd2.example:2379"}));
  EXPECT_EQ(cl.etcd.prefix, "/tidegate/");
  EXPECT_EQ(cl.etcd.ca_file, dir / "ca.pem");
  EXPECT_EQ(cl.etcd.certificate, dir / "c.pem");
  EXPECT_EQ(cl.etcd.key, dir / "k.pem");
  EXPECT_EQ(cl.etcd.username, "tg");
  EXPECT_EQ(cl.etcd.password, "etcd-secret");
  const Tracking& t = (*c)->tracking;
  EXPECT_EQ(t.backend, TrackingBackend::kPostgresql);
  EXPECT_EQ(t.postgresql.conninfo, "host=127.0.0.1 port=5432 dbname=tidegate user=tidegate");
  EXPECT_EQ(t.postgresql.password, "pg-secret");
  EXPECT_EQ(t.buffer_max, 1ull << 30);
}

TEST(ClusterConfig, MinimalClusterDefaults) {
  auto c = ParseGatewayConfig(
      kHead + "cluster: {name: C, machine: gw2, etcd: {endpoints: [http://127.0.0.1]}}\n",
      "gw.yaml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ((*c)->cluster->group, "");
  EXPECT_EQ((*c)->cluster->etcd.prefix, "/tidegate/");
  EXPECT_EQ((*c)->cluster->etcd.endpoints, std::vector<std::string>{"http://127.0.0.1:2379"});
}

TEST(ClusterConfig, ErrorsNameFileAndLine) {
  EXPECT_EQ(Err("cluster: {machine: gw1, etcd: {endpoints: [http://127.0.0.1:1]}}\n"),
            "gw.yaml:6: cluster.name: missing required key");
  EXPECT_EQ(Err("cluster:\n  name: C\n  machine: gw/1\n  etcd: {endpoints: [http://h:1]}\n"),
            "gw.yaml:8: cluster.machine: invalid name 'gw/1' (use 1-64 letters, digits, '_', "
            "'-' or '.')");
  EXPECT_EQ(Err("cluster:\n  name: C\n  machine: m\n  etcd: {endpoints: [grpc://h:1]}\n"),
            "gw.yaml:9: cluster.etcd.endpoints[0]: expected http://HOST:PORT or "
            "https://HOST:PORT, got 'grpc://h:1'");
  EXPECT_EQ(Err("cluster:\n  name: C\n  machine: m\n  etcd: {endpoints: []}\n"),
            "gw.yaml:9: cluster.etcd.endpoints: needs at least one endpoint");
  EXPECT_EQ(Err("cluster:\n  name: C\n  machine: m\n  etcd: {endpoints: [http://h:1], "
                "prefix: tidegate}\n"),
            "gw.yaml:9: cluster.etcd.prefix: expected a key prefix that starts and ends with "
            "'/', e.g. /tidegate/");
  EXPECT_EQ(Err("cluster:\n  name: C\n  machine: m\n  etcd: {endpoints: [http://h:1], "
                "username: tg}\n"),
            "gw.yaml:9: cluster.etcd.username: needs password_file (a file holding the "
            "password)");
  EXPECT_EQ(Err("tracking: {backend: mysql}\n"),
            "gw.yaml:6: tracking.backend: expected sqlite or postgresql, got 'mysql'");
  EXPECT_EQ(Err("tracking: {backend: postgresql}\n"),
            "gw.yaml:6: tracking.backend: backend postgresql needs tracking.postgresql");
  EXPECT_EQ(Err("tracking: {backend: postgresql, postgresql: {conninfo: \"host=h "
                "password=x\"}}\n"),
            "gw.yaml:6: tracking.postgresql.conninfo: put the password in password_file, not "
            "in conninfo");
}

TEST(ClusterConfig, TlsNeedsHttpsAndPasswordsStaySecret) {
  TempDir dir;
  dir.Write("ca.pem", "x");
  dir.Write("etcd.password", "hunter2-secret\nsecond line\n");
  auto c = ParseGatewayConfig(
      kHead + "cluster:\n  name: C\n  machine: m\n  etcd:\n    endpoints: [http://h:1]\n"
              "    tls: {ca_file: ca.pem}\n    username: tg\n    password_file: etcd.password\n",
      dir / "gw.yaml");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("cluster.etcd.tls: needs https:// endpoints"),
            std::string::npos)
      << c.error().message;
  EXPECT_NE(c.error().message.find("has more than one line"), std::string::npos);
  EXPECT_EQ(c.error().message.find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace tidegate::config
