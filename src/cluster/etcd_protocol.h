// etcd_protocol.h — etcd v3's JSON gateway (etcd 3.4, `/v3/...`) without I/O: the request
// bodies the client sends and the parsers of the replies it gets (CONTRACT §11).
//
// The gateway speaks protobuf-as-JSON: keys and values are Base64, int64 numbers are JSON
// strings ("5"), fields at their default value are left out (a failed txn has no "succeeded",
// an unknown lease no "TTL"). An error is an HTTP 4xx/5xx with `{"error":…,"code":…}`; inside a
// stream (/v3/watch, /v3/lease/keepalive) each message is one JSON object on its own line,
// `{"result":{…}}` or `{"error":…}`.
//
// Every parser takes hostile text: anything that is not the expected shape is an Error
// "malformed reply: …" (never an exception, never an assert); numbers outside int64 included.
// An etcd error reply is an Error "etcd error <code>: <message>" (EtcdErrorCode() reads it back).
// Pure functions and a plain value type (WatchStreamDecoder); thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace tidegate::cluster {

struct KeyValue {
  std::string key, value;
  std::int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};
struct RangeResult {
  std::int64_t revision = 0;
  std::vector<KeyValue> kvs;
};
struct Compare {  // one txn compare
  enum class Target { kVersion, kCreate, kMod, kValue };
  enum class Result { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  std::string range_end;  // range_end "" = the key only
  Target target = Target::kMod;
  Result result = Result::kEqual;
  std::int64_t number = 0;  // for kVersion/kCreate/kMod
  std::string value;        // for kValue
};
struct Op {  // one txn request op
  enum class Kind { kPut, kDeleteRange, kRange };
  Kind kind = Kind::kPut;
  std::string key, value, range_end;
  std::int64_t lease = 0;
};
struct TxnResult {
  bool succeeded = false;
  std::int64_t revision = 0;
  std::vector<RangeResult> ranges;  // the kRange ops' results, in order
};
struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;
};
struct WatchBatch {
  std::int64_t revision = 0;
  std::vector<WatchEvent> events;
};

// The range_end that selects every key starting with prefix: the prefix with its last byte
// below 0xff incremented and what follows dropped; "\0" (every key) when there is none.
std::string PrefixEnd(std::string_view prefix);

// ---- request bodies (JSON text) ----
std::string RangeRequest(std::string_view key, std::string_view range_end, std::int64_t revision,
                         bool count_only = false);
std::string PutRequest(std::string_view key, std::string_view value, std::int64_t lease);
std::string TxnRequest(const std::vector<Compare>& compares, const std::vector<Op>& success,
                       const std::vector<Op>& failure);
std::string LeaseGrantRequest(std::int64_t ttl_seconds);
std::string LeaseKeepAliveRequest(std::int64_t lease);
std::string AuthenticateRequest(std::string_view name, std::string_view password);
// progress_notify is always asked for (etcd_client.h: how a silent stream is judged).
std::string WatchCreateRequest(std::string_view key, std::string_view range_end,
                               std::int64_t start_revision);

// ---- replies ----
// An HTTP status other than 200, or a body with "error": the etcd error. Else Ok.
base::Status CheckHttpReply(int http_status, std::string_view body);
base::Result<RangeResult> ParseRangeReply(std::string_view body);
base::Result<std::int64_t> ParsePutReply(std::string_view body);  // → header.revision
base::Result<TxnResult> ParseTxnReply(std::string_view body);
base::Result<std::int64_t> ParseLeaseGrantReply(std::string_view body);  // → ID
// /v3/lease/keepalive answers with a stream of one message: → its TTL, 0 = the lease is gone.
base::Result<std::int64_t> ParseLeaseKeepAliveReply(std::string_view body);
base::Result<std::string> ParseAuthenticateReply(std::string_view body);  // → token

// The gRPC code of an Error made by CheckHttpReply / the parsers ("etcd error <code>: …"),
// or -1 for any other Error.
int EtcdErrorCode(const base::Error& error);
// The token was refused (expired, or the member restarted): authenticate again.
bool IsAuthTokenRefused(const base::Error& error);
// Worth trying the next endpoint: the member cannot serve now (Unavailable, no leader, …).
bool IsMemberUnavailable(const base::Error& error);

// One message of a /v3/watch stream.
struct WatchMessage {
  bool created = false;
  bool canceled = false;
  std::string cancel_reason;
  std::int64_t compact_revision = 0;  // canceled because start_revision was compacted
  WatchBatch batch;                   // revision from the header; events may be empty (progress)
};

// Cuts a /v3/watch (or keepalive) response body, fed as it arrives, into messages: one JSON
// object a line. A line longer than max_line is an error (a hostile or broken peer).
class WatchStreamDecoder {
 public:
  explicit WatchStreamDecoder(std::size_t max_line = std::size_t{64} << 20) : max_line_(max_line) {}
  void Feed(std::string_view bytes) { pending_.append(bytes); }
  // The next complete message, nullopt when more bytes are needed, or an Error (malformed
  // message, an `{"error":…}` from the gateway, a line over max_line). After an Error the
  // decoder is finished: the stream is to be abandoned.
  base::Result<std::optional<WatchMessage>> Next();

 private:
  std::string pending_;
  std::size_t consumed_ = 0;
  std::size_t max_line_;
};

// Parses one stream message (a line without its newline).
base::Result<WatchMessage> ParseWatchMessage(std::string_view line);

}  // namespace tidegate::cluster
