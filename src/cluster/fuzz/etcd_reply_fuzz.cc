// etcd_reply_fuzz.cc — libFuzzer target for the etcd JSON gateway's reply and stream parsers
// (cluster/etcd_protocol.h).
//
// The input's first byte picks the parser, the rest is a reply body as a hostile or broken
// etcd (or something else on its port) could send it. Properties checked on every input:
//  - deterministic: two parses give the same outcome;
//  - an error is "malformed reply: …", "etcd error <code>: …" (one line) or "HTTP status N";
//  - the stream decoder, fed the same bytes in two pieces, yields the same messages as fed
//    whole; it never yields more messages than there are lines.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/etcd_protocol.h"

namespace {

using namespace tidegate::cluster;
using tidegate::base::Error;

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckError(const Error& e) {
  const std::string& m = e.message;
  Check(m.rfind("malformed reply: ", 0) == 0 || m.rfind("HTTP status ", 0) == 0 ||
        EtcdErrorCode(e) >= 0);
  Check(m.find('\n') == std::string::npos && m.find('\r') == std::string::npos);
}

template <typename T>
void Same(const tidegate::base::Result<T>& a, const tidegate::base::Result<T>& b) {
  Check(a.ok() == b.ok());
  if (!a.ok()) {
    CheckError(a.error());
    Check(a.error().message == b.error().message);
  }
}

// Every message the decoder yields from `pieces`, as (revision, events) or the error text.
std::vector<std::string> Decode(const std::vector<std::string_view>& pieces) {
  std::vector<std::string> out;
  WatchStreamDecoder decoder(4096);
  for (auto piece : pieces) {
    decoder.Feed(piece);
    while (true) {
      auto next = decoder.Next();
      if (!next) {
        CheckError(next.error());
        out.push_back("error");
        return out;
      }
      if (!*next) break;
      const WatchMessage& m = **next;
      std::string text = std::to_string(m.batch.revision) + "/" +
                         std::to_string(m.batch.events.size()) + (m.canceled ? "c" : "") +
                         (m.created ? "C" : "");
      for (const auto& e : m.batch.events) text += "|" + e.kv.key + "=" + e.kv.value;
      out.push_back(std::move(text));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t which = data[0];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (which % 8) {
    case 0:
      Same(ParseRangeReply(body), ParseRangeReply(body));
      break;
    case 1:
      Same(ParsePutReply(body), ParsePutReply(body));
      break;
    case 2: {
      auto a = ParseTxnReply(body);
      Same(a, ParseTxnReply(body));
      break;
    }
    case 3:
      Same(ParseLeaseGrantReply(body), ParseLeaseGrantReply(body));
      break;
    case 4: {
      auto a = ParseLeaseKeepAliveReply(body);
      Same(a, ParseLeaseKeepAliveReply(body));
      if (a) Check(*a >= 0);
      break;
    }
    case 5: {
      auto a = ParseAuthenticateReply(body);
      Same(a, ParseAuthenticateReply(body));
      if (a) {
        Check(!a->empty());
        for (char c : *a) Check(c > 0x20 && c < 0x7f);
      }
      break;
    }
    case 6: {
      auto s = CheckHttpReply(which >> 3 ? 200 : 503, body);
      if (!s) CheckError(s.error());
      break;
    }
    case 7: {
      auto whole = Decode({body});
      std::size_t cut = body.empty() ? 0 : (which >> 3) % body.size();
      auto split = Decode({body.substr(0, cut), body.substr(cut)});
      Check(whole == split);
      std::size_t lines = 0;
      for (char c : body) lines += c == '\n';
      Check(whole.size() <= lines + 1);
      break;
    }
  }
  return 0;
}
