// etcd_protocol.cc — see etcd_protocol.h.
#include "cluster/etcd_protocol.h"

#include <fmt/format.h>

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "admin/text_codec.h"

namespace tidegate::cluster {

namespace {

using base::MakeError;
using nlohmann::json;

base::Error Malformed(std::string_view what) {
  return MakeError(fmt::format("malformed reply: {}", what));
}

std::string B64(std::string_view bytes) { return admin::Base64Encode(bytes); }

// The gateway writes int64 as a string; a plain JSON integer is accepted too. Absent = 0.
base::Result<std::int64_t> Int64Field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::int64_t{0};
  if (it->is_number_integer() && !it->is_number_unsigned()) return it->get<std::int64_t>();
  if (it->is_number_unsigned()) {
    auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return Malformed(fmt::format("{} out of range", name));
    }
    return static_cast<std::int64_t>(u);
  }
  if (!it->is_string()) return Malformed(fmt::format("{} is not a number", name));
  const auto& text = it->get_ref<const std::string&>();
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Malformed(fmt::format("{} is not an int64", name));
  }
  return value;
}

bool BoolField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

base::Result<std::string> Base64Field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Malformed(fmt::format("{} is not a string", name));
  auto decoded = admin::Base64Decode(it->get_ref<const std::string&>());
  if (!decoded) return Malformed(fmt::format("{}: {}", name, decoded.error().message));
  return std::move(*decoded);
}

base::Result<json> ParseObject(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Malformed("not JSON");
  if (!j.is_object()) return Malformed("not a JSON object");
  return j;
}

// {"error": "text" | {...}, "code": N} → the Error; Ok when there is no "error".
base::Status ErrorMember(const json& j) {
  auto it = j.find("error");
  if (it == j.end()) return base::Status::Ok();
  std::string message;
  std::int64_t code = -1;
  if (it->is_string()) {
    message = it->get<std::string>();
    auto c = Int64Field(j, "code");
    if (c) code = *c;
  } else if (it->is_object()) {  // a stream error: {"grpc_code":…, "message":…}
    auto m = it->find("message");
    if (m != it->end() && m->is_string()) message = m->get<std::string>();
    auto c = Int64Field(*it, "grpc_code");
    if (c) code = *c;
  } else {
    return Malformed("error is neither text nor an object");
  }
  if (code < 0 || code > 99) code = 2;  // gRPC Unknown
  // One line: the message comes from the peer.
  for (char& ch : message) {
    if (ch == '\n' || ch == '\r' || ch == '\0') ch = ' ';
  }
  if (message.size() > 300) message.resize(300);
  return MakeError(fmt::format("etcd error {}: {}", code, message));
}

base::Result<std::int64_t> HeaderRevision(const json& j) {
  auto it = j.find("header");
  if (it == j.end()) return Malformed("no header");
  if (!it->is_object()) return Malformed("header is not an object");
  return Int64Field(*it, "revision");
}

base::Result<KeyValue> ParseKeyValue(const json& j) {
  if (!j.is_object()) return Malformed("kv is not an object");
  KeyValue kv;
  auto key = Base64Field(j, "key");
  if (!key) return key.error();
  auto value = Base64Field(j, "value");
  if (!value) return value.error();
  kv.key = std::move(*key);
  kv.value = std::move(*value);
  for (auto [name, field] : {std::pair{"create_revision", &kv.create_revision},
                             std::pair{"mod_revision", &kv.mod_revision},
                             std::pair{"version", &kv.version}, std::pair{"lease", &kv.lease}}) {
    auto n = Int64Field(j, name);
    if (!n) return n.error();
    *field = *n;
  }
  return kv;
}

base::Result<RangeResult> RangeFrom(const json& j) {
  RangeResult r;
  auto revision = HeaderRevision(j);
  if (!revision) return revision.error();
  r.revision = *revision;
  auto kvs = j.find("kvs");
  if (kvs == j.end() || kvs->is_null()) return r;
  if (!kvs->is_array()) return Malformed("kvs is not an array");
  for (const auto& item : *kvs) {
    auto kv = ParseKeyValue(item);
    if (!kv) return kv.error();
    r.kvs.push_back(std::move(*kv));
  }
  return r;
}

// The body checked for an etcd error, then parsed as an object.
base::Result<json> ReplyObject(std::string_view body) {
  auto j = ParseObject(body);
  if (!j) return j.error();
  auto error = ErrorMember(*j);
  if (!error) return error.error();
  return j;
}

const char* CompareTarget(Compare::Target t) {
  switch (t) {
    case Compare::Target::kVersion:
      return "VERSION";
    case Compare::Target::kCreate:
      return "CREATE";
    case Compare::Target::kMod:
      return "MOD";
    case Compare::Target::kValue:
      return "VALUE";
  }
  return "MOD";
}

const char* CompareResult(Compare::Result r) {
  switch (r) {
    case Compare::Result::kEqual:
      return "EQUAL";
    case Compare::Result::kGreater:
      return "GREATER";
    case Compare::Result::kLess:
      return "LESS";
    case Compare::Result::kNotEqual:
      return "NOT_EQUAL";
  }
  return "EQUAL";
}

json RangeJson(std::string_view key, std::string_view range_end, std::int64_t revision) {
  json j = {{"key", B64(key)}};
  if (!range_end.empty()) j["range_end"] = B64(range_end);
  if (revision != 0) j["revision"] = std::to_string(revision);
  return j;
}

json OpJson(const Op& op) {
  switch (op.kind) {
    case Op::Kind::kPut: {
      json put = {{"key", B64(op.key)}, {"value", B64(op.value)}};
      if (op.lease != 0) put["lease"] = std::to_string(op.lease);
      return {{"request_put", std::move(put)}};
    }
    case Op::Kind::kDeleteRange: {
      json del = {{"key", B64(op.key)}};
      if (!op.range_end.empty()) del["range_end"] = B64(op.range_end);
      return {{"request_delete_range", std::move(del)}};
    }
    case Op::Kind::kRange:
      return {{"request_range", RangeJson(op.key, op.range_end, 0)}};
  }
  return json::object();
}

}  // namespace

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd: range_end "\0" = every key >= key
}

std::string RangeRequest(std::string_view key, std::string_view range_end, std::int64_t revision,
                         bool count_only) {
  json j = RangeJson(key, range_end, revision);
  if (count_only) j["count_only"] = true;
  return j.dump();
}

std::string PutRequest(std::string_view key, std::string_view value, std::int64_t lease) {
  json j = {{"key", B64(key)}, {"value", B64(value)}};
  if (lease != 0) j["lease"] = std::to_string(lease);
  return j.dump();
}

std::string TxnRequest(const std::vector<Compare>& compares, const std::vector<Op>& success,
                       const std::vector<Op>& failure) {
  json cmp = json::array();
  for (const auto& c : compares) {
    json one = {{"key", B64(c.key)},
                {"target", CompareTarget(c.target)},
                {"result", CompareResult(c.result)}};
    if (!c.range_end.empty()) one["range_end"] = B64(c.range_end);
    switch (c.target) {
      case Compare::Target::kVersion:
        one["version"] = std::to_string(c.number);
        break;
      case Compare::Target::kCreate:
        one["create_revision"] = std::to_string(c.number);
        break;
      case Compare::Target::kMod:
        one["mod_revision"] = std::to_string(c.number);
        break;
      case Compare::Target::kValue:
        one["value"] = B64(c.value);
        break;
    }
    cmp.push_back(std::move(one));
  }
  json ok = json::array(), fail = json::array();
  for (const auto& op : success) ok.push_back(OpJson(op));
  for (const auto& op : failure) fail.push_back(OpJson(op));
  return json{{"compare", std::move(cmp)}, {"success", std::move(ok)}, {"failure", std::move(fail)}}
      .dump();
}

std::string LeaseGrantRequest(std::int64_t ttl_seconds) {
  return json{{"TTL", std::to_string(ttl_seconds)}}.dump();
}

std::string LeaseKeepAliveRequest(std::int64_t lease) {
  return json{{"ID", std::to_string(lease)}}.dump();
}

std::string AuthenticateRequest(std::string_view name, std::string_view password) {
  // dump() with error_handler::replace: a password that is not UTF-8 must not throw.
  return json{{"name", std::string(name)}, {"password", std::string(password)}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

std::string WatchCreateRequest(std::string_view key, std::string_view range_end,
                               std::int64_t start_revision) {
  json create = {{"key", B64(key)}, {"progress_notify", true}};
  if (!range_end.empty()) create["range_end"] = B64(range_end);
  if (start_revision != 0) create["start_revision"] = std::to_string(start_revision);
  return json{{"create_request", std::move(create)}}.dump();
}

base::Status CheckHttpReply(int http_status, std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    auto error = ErrorMember(j);
    if (!error) return error;
  }
  if (http_status != 200) return MakeError(fmt::format("HTTP status {}", http_status));
  return base::Status::Ok();
}

base::Result<RangeResult> ParseRangeReply(std::string_view body) {
  auto j = ReplyObject(body);
  if (!j) return j.error();
  return RangeFrom(*j);
}

base::Result<std::int64_t> ParsePutReply(std::string_view body) {
  auto j = ReplyObject(body);
  if (!j) return j.error();
  return HeaderRevision(*j);
}

base::Result<TxnResult> ParseTxnReply(std::string_view body) {
  auto j = ReplyObject(body);
  if (!j) return j.error();
  TxnResult r;
  auto revision = HeaderRevision(*j);
  if (!revision) return revision.error();
  r.revision = *revision;
  r.succeeded = BoolField(*j, "succeeded");
  auto responses = j->find("responses");
  if (responses == j->end() || responses->is_null()) return r;
  if (!responses->is_array()) return Malformed("responses is not an array");
  for (const auto& response : *responses) {
    if (!response.is_object()) return Malformed("a response is not an object");
    auto range = response.find("response_range");
    if (range == response.end()) continue;
    if (!range->is_object()) return Malformed("response_range is not an object");
    auto one = RangeFrom(*range);
    if (!one) return one.error();
    r.ranges.push_back(std::move(*one));
  }
  return r;
}

base::Result<std::int64_t> ParseLeaseGrantReply(std::string_view body) {
  auto j = ReplyObject(body);
  if (!j) return j.error();
  auto error = j->find("error");  // LeaseGrantResponse.error: a string, "" when granted
  if (error != j->end() && error->is_string() && !error->get_ref<const std::string&>().empty()) {
    return MakeError("lease not granted: " + error->get<std::string>());
  }
  auto id = Int64Field(*j, "ID");
  if (!id) return id.error();
  if (*id == 0) return Malformed("no lease ID");
  return *id;
}

base::Result<std::int64_t> ParseLeaseKeepAliveReply(std::string_view body) {
  // A stream of one message, framed as the watch stream is: its first line counts.
  auto object = ReplyObject(body.substr(0, body.find('\n')));
  if (!object) return object.error();
  auto result = object->find("result");
  if (result == object->end() || !result->is_object()) return Malformed("no result");
  auto ttl = Int64Field(*result, "TTL");
  if (!ttl) return ttl.error();
  return *ttl < 0 ? 0 : *ttl;
}

base::Result<std::string> ParseAuthenticateReply(std::string_view body) {
  auto j = ReplyObject(body);
  if (!j) return j.error();
  auto token = j->find("token");
  if (token == j->end() || !token->is_string() || token->get_ref<const std::string&>().empty()) {
    return Malformed("no token");
  }
  const auto& text = token->get_ref<const std::string&>();
  for (char c : text) {  // it goes into an HTTP header
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      return Malformed("token is not printable ASCII");
    }
  }
  return text;
}

int EtcdErrorCode(const base::Error& error) {
  std::string_view m = error.message;
  constexpr std::string_view kPrefix = "etcd error ";
  if (m.substr(0, kPrefix.size()) != kPrefix) return -1;
  m.remove_prefix(kPrefix.size());
  int code = -1;
  auto [end, ec] = std::from_chars(m.data(), m.data() + m.size(), code);
  if (ec != std::errc() || end == m.data() || end == m.data() + m.size() || *end != ':') return -1;
  return code;
}

bool IsAuthTokenRefused(const base::Error& error) {
  return EtcdErrorCode(error) == 16 ||  // Unauthenticated
         error.message.find("invalid auth token") != std::string::npos;
}

bool IsMemberUnavailable(const base::Error& error) {
  int code = EtcdErrorCode(error);
  if (code == 14 || code == 4) return true;  // Unavailable, DeadlineExceeded
  return error.message.find("HTTP status 5") == 0;
}

base::Result<WatchMessage> ParseWatchMessage(std::string_view line) {
  auto j = ReplyObject(line);
  if (!j) return j.error();
  auto result = j->find("result");
  if (result == j->end() || !result->is_object()) return Malformed("no result");
  WatchMessage m;
  const json& r = *result;
  auto revision = HeaderRevision(r);
  if (!revision) return revision.error();
  m.batch.revision = *revision;
  m.created = BoolField(r, "created");
  m.canceled = BoolField(r, "canceled");
  auto reason = r.find("cancel_reason");
  if (reason != r.end() && reason->is_string()) m.cancel_reason = reason->get<std::string>();
  auto compact = Int64Field(r, "compact_revision");
  if (!compact) return compact.error();
  m.compact_revision = *compact;
  auto events = r.find("events");
  if (events == r.end() || events->is_null()) return m;
  if (!events->is_array()) return Malformed("events is not an array");
  for (const auto& e : *events) {
    if (!e.is_object()) return Malformed("an event is not an object");
    WatchEvent event;
    auto type = e.find("type");
    if (type != e.end() && !type->is_null()) {
      if (*type == "DELETE" || *type == 1) {
        event.type = WatchEvent::Type::kDelete;
      } else if (!(*type == "PUT" || *type == 0)) {
        return Malformed("unknown event type");
      }
    }
    auto kv = e.find("kv");
    if (kv == e.end()) return Malformed("event without kv");
    auto parsed = ParseKeyValue(*kv);
    if (!parsed) return parsed.error();
    event.kv = std::move(*parsed);
    m.batch.events.push_back(std::move(event));
  }
  return m;
}

base::Result<std::optional<WatchMessage>> WatchStreamDecoder::Next() {
  while (true) {
    std::size_t newline = pending_.find('\n', consumed_);
    if (newline == std::string::npos) {
      // Keep only what is unconsumed; refuse a line that never ends.
      pending_.erase(0, consumed_);
      consumed_ = 0;
      if (pending_.size() > max_line_) return Malformed("stream message too large");
      return std::optional<WatchMessage>();
    }
    std::string_view line(pending_.data() + consumed_, newline - consumed_);
    consumed_ = newline + 1;
    if (line.size() > max_line_) return Malformed("stream message too large");
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    auto m = ParseWatchMessage(line);
    if (!m) return m.error();
    return std::optional<WatchMessage>(std::move(*m));
  }
}

}  // namespace tidegate::cluster
