// etcd_protocol_test.cc — the etcd JSON gateway codec on replies recorded from a real etcd
// 3.4.23 (testdata/, see testdata/README), and on garbage, missing fields and huge numbers.
#include "cluster/etcd_protocol.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tidegate::cluster {
namespace {

std::string Recorded(const std::string& name) {
  std::ifstream in(std::string(TIDEGATE_CLUSTER_TESTDATA) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(EtcdProtocolTest, RangeRecorded) {
  auto r = ParseRangeReply(Recorded("range_two.json"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->revision, 3);
  ASSERT_EQ(r->kvs.size(), 2u);
  EXPECT_EQ(r->kvs[0].key, "/a/1");
  EXPECT_EQ(r->kvs[0].value, "v1");
  EXPECT_EQ(r->kvs[1].key, "/a/2");
  EXPECT_EQ(r->kvs[1].create_revision, 3);
  EXPECT_EQ(r->kvs[1].mod_revision, 3);
  EXPECT_EQ(r->kvs[1].version, 1);
  EXPECT_EQ(r->kvs[1].lease, 0);

  auto empty = ParseRangeReply(Recorded("range_empty.json"));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->revision, 3);
  EXPECT_TRUE(empty->kvs.empty());

  auto leased = ParseRangeReply(Recorded("range_lease.json"));
  ASSERT_TRUE(leased.ok());
  EXPECT_EQ(leased->kvs.at(0).lease, 4111120466598593039);
}

TEST(EtcdProtocolTest, PutTxnLeaseAuthRecorded) {
  auto put = ParsePutReply(Recorded("put.json"));
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(*put, 2);

  auto ok = ParseTxnReply(Recorded("txn_succeeded.json"));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_TRUE(ok->succeeded);
  EXPECT_EQ(ok->revision, 4);
  ASSERT_EQ(ok->ranges.size(), 1u);
  EXPECT_EQ(ok->ranges[0].kvs.at(0).value, "v1b");
  EXPECT_EQ(ok->ranges[0].kvs.at(0).mod_revision, 4);

  auto failed = ParseTxnReply(Recorded("txn_failed.json"));
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed->succeeded);  // etcd leaves "succeeded": false out
  EXPECT_EQ(failed->revision, 5);
  EXPECT_EQ(failed->ranges.size(), 1u);  // the delete's response is not a range

  auto grant = ParseLeaseGrantReply(Recorded("lease_grant.json"));
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(*grant, 4111120466598593035);
  auto alive = ParseLeaseKeepAliveReply(Recorded("lease_keepalive.json"));
  ASSERT_TRUE(alive.ok());
  EXPECT_EQ(*alive, 30);
  auto gone = ParseLeaseKeepAliveReply(Recorded("lease_keepalive_gone.json"));
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(*gone, 0);

  auto token = ParseAuthenticateReply(Recorded("authenticate.json"));
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, "dtqkomIUeAbvcafk.23");
}

TEST(EtcdProtocolTest, ErrorsRecorded) {
  auto bad = CheckHttpReply(400, Recorded("error_base64.json"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "etcd error 3: illegal base64 data at input byte 0");
  EXPECT_EQ(EtcdErrorCode(bad.error()), 3);
  EXPECT_FALSE(IsMemberUnavailable(bad.error()));

  auto lease = ParsePutReply(Recorded("error_lease_not_found.json"));
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(EtcdErrorCode(lease.error()), 5);

  auto token = CheckHttpReply(401, Recorded("error_invalid_token.json"));
  ASSERT_FALSE(token.ok());
  EXPECT_TRUE(IsAuthTokenRefused(token.error()));
  auto password = CheckHttpReply(400, Recorded("error_auth_failed.json"));
  ASSERT_FALSE(password.ok());
  EXPECT_FALSE(IsAuthTokenRefused(password.error()));
  EXPECT_NE(password.error().message.find("authentication failed"), std::string::npos);

  auto unavailable = CheckHttpReply(503, R"({"error":"etcdserver: no leader","code":14})");
  ASSERT_FALSE(unavailable.ok());
  EXPECT_TRUE(IsMemberUnavailable(unavailable.error()));
  auto proxy = CheckHttpReply(502, "<html>Bad Gateway</html>");
  ASSERT_FALSE(proxy.ok());
  EXPECT_EQ(proxy.error().message, "HTTP status 502");
  EXPECT_TRUE(IsMemberUnavailable(proxy.error()));
  EXPECT_EQ(EtcdErrorCode(base::MakeError("connection refused")), -1);

  // A peer's message is kept to one line.
  auto multi = CheckHttpReply(400, R"({"error":"a\nb\rc","code":3})");
  ASSERT_FALSE(multi.ok());
  EXPECT_EQ(multi.error().message, "etcd error 3: a b c");
}

TEST(EtcdProtocolTest, WatchStreamRecorded) {
  std::string stream = Recorded("watch_stream.txt");
  // Fed a byte at a time, as a slow peer could send it: the same messages.
  WatchStreamDecoder decoder;
  std::vector<WatchMessage> messages;
  for (char c : stream) {
    decoder.Feed(std::string_view(&c, 1));
    while (true) {
      auto next = decoder.Next();
      ASSERT_TRUE(next.ok()) << next.error().message;
      if (!*next) break;
      messages.push_back(std::move(**next));
    }
  }
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_TRUE(messages[0].created);
  EXPECT_TRUE(messages[0].batch.events.empty());
  EXPECT_EQ(messages[1].batch.revision, 7);
  ASSERT_EQ(messages[1].batch.events.size(), 1u);
  EXPECT_EQ(messages[1].batch.events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(messages[1].batch.events[0].kv.key, "/w/1");
  EXPECT_EQ(messages[1].batch.events[0].kv.value, "hello");
  EXPECT_EQ(messages[2].batch.events.at(0).type, WatchEvent::Type::kDelete);
  EXPECT_EQ(messages[2].batch.events.at(0).kv.mod_revision, 8);
  EXPECT_EQ(messages[3].batch.events.size(), 2u);  // one txn, one batch

  WatchStreamDecoder compacted;
  compacted.Feed(Recorded("watch_compacted.txt"));
  auto created = compacted.Next();
  ASSERT_TRUE(created.ok() && *created);
  auto canceled = compacted.Next();
  ASSERT_TRUE(canceled.ok() && *canceled);
  EXPECT_TRUE((*canceled)->canceled);
  EXPECT_EQ((*canceled)->compact_revision, 8);

  auto token = ParseWatchMessage(Recorded("watch_invalid_token.txt"));
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(token->canceled);
  EXPECT_NE(token->cancel_reason.find("invalid auth token"), std::string::npos);
}

TEST(EtcdProtocolTest, GarbageAndMissingFields) {
  for (std::string body :
       {"", "garbage", "[]", "null", "\"x\"", "{", "{}", R"({"header":5})",
        R"({"header":{"revision":"x"}})", R"({"header":{"revision":true}})",
        R"({"header":{"revision":"1"},"kvs":{}})", R"({"header":{"revision":"1"},"kvs":[5]})",
        R"({"header":{"revision":"1"},"kvs":[{"key":"!!"}]})",
        R"({"header":{"revision":"1"},"kvs":[{"key":5}]})", R"({"header":{"revision":"1 "}})",
        R"({"header":{"revision":""}})"}) {
    auto r = ParseRangeReply(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().message.rfind("malformed reply: ", 0), 0u) << r.error().message;
  }
  EXPECT_FALSE(ParseTxnReply(R"({"header":{"revision":"1"},"responses":[1]})").ok());
  EXPECT_FALSE(ParseLeaseGrantReply(R"({"header":{"revision":"1"}})").ok());  // no ID
  EXPECT_FALSE(ParseLeaseKeepAliveReply("").ok());
  EXPECT_FALSE(ParseLeaseKeepAliveReply(R"({"result":5})").ok());
  EXPECT_FALSE(ParseAuthenticateReply(R"({"header":{},"token":"a\r\nX-Evil: 1"})").ok());
  EXPECT_FALSE(ParseAuthenticateReply(R"({"header":{}})").ok());
  EXPECT_FALSE(
      ParseWatchMessage(R"({"result":{"header":{},"events":[{"type":"EXPLODE","kv":{}}]}})").ok());
  EXPECT_FALSE(ParseWatchMessage(R"({"result":{"header":{},"events":[{}]}})").ok());
  // A stream error from the gateway.
  auto stream_error =
      ParseWatchMessage(R"({"error":{"grpc_code":14,"http_code":503,"message":"unavailable"}})");
  ASSERT_FALSE(stream_error.ok());
  EXPECT_TRUE(IsMemberUnavailable(stream_error.error()));
}

TEST(EtcdProtocolTest, HugeNumbers) {
  auto max = ParsePutReply(R"({"header":{"revision":"9223372036854775807"}})");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(*max, INT64_MAX);
  auto plain = ParsePutReply(R"({"header":{"revision":42}})");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, 42);
  for (std::string body :
       {R"({"header":{"revision":"9223372036854775808"}})",
        R"({"header":{"revision":"-9223372036854775809"}})",
        R"({"header":{"revision":18446744073709551615}})", R"({"header":{"revision":1e300}})",
        R"({"header":{"revision":"99999999999999999999999999"}})"}) {
    auto r = ParsePutReply(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().message.rfind("malformed reply: ", 0), 0u) << r.error().message;
  }
}

TEST(EtcdProtocolTest, StreamLineLimit) {
  WatchStreamDecoder decoder(100);
  decoder.Feed(std::string(101, 'x'));
  auto next = decoder.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().message, "malformed reply: stream message too large");
}

TEST(EtcdProtocolTest, Requests) {
  using nlohmann::json;
  auto range = json::parse(RangeRequest("/a/", PrefixEnd("/a/"), 7));
  EXPECT_EQ(range["key"], "L2Ev");
  EXPECT_EQ(range["range_end"], "L2Ew");  // "/a0"
  EXPECT_EQ(range["revision"], "7");
  Compare c;
  c.key = "k";
  c.number = 5;
  Op put;
  put.key = "k";
  put.value = "v";
  put.lease = 9;
  Op get;
  get.kind = Op::Kind::kRange;
  get.key = "k";
  Op del;
  del.kind = Op::Kind::kDeleteRange;
  del.key = "k";
  auto txn = json::parse(TxnRequest({c}, {put, get}, {del}));
  EXPECT_EQ(txn["compare"][0],
            json({{"key", "aw=="}, {"target", "MOD"}, {"result", "EQUAL"}, {"mod_revision", "5"}}));
  EXPECT_EQ(txn["success"][0]["request_put"]["lease"], "9");
  EXPECT_EQ(txn["success"][1]["request_range"]["key"], "aw==");
  EXPECT_EQ(txn["failure"][0]["request_delete_range"]["key"], "aw==");
  auto watch = json::parse(WatchCreateRequest("/w/", "/w0", 12));
  EXPECT_EQ(watch["create_request"]["start_revision"], "12");
  EXPECT_EQ(watch["create_request"]["progress_notify"], true);
  EXPECT_EQ(json::parse(LeaseGrantRequest(10))["TTL"], "10");
  EXPECT_EQ(json::parse(LeaseKeepAliveRequest(-5))["ID"], "-5");
  // A password that is not UTF-8 does not throw.
  EXPECT_FALSE(AuthenticateRequest("root", "\xff\xfe").empty());
}

TEST(EtcdProtocolTest, PrefixEnd) {
  EXPECT_EQ(PrefixEnd("/a/"), "/a0");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd("\xff\xff"), std::string(1, '\0'));
  EXPECT_EQ(PrefixEnd(""), std::string(1, '\0'));
}

}  // namespace
}  // namespace tidegate::cluster
