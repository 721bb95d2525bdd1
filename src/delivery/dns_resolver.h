// dns_resolver.h — DnsResolver: asynchronous MX and A/AAAA lookups for outbound delivery.
//
// A thin layer over c-ares driven by Boost.Asio: c-ares' sockets are watched with
// posix::stream_descriptor waits and its retransmission timer with a steady_timer, so lookups are
// plain awaitables on the caller's io_context and never block a thread. Every lookup answers one
// of four states (DnsStatus) so that delivery can tell "does not exist" (bounce) from "could not
// find out now" (retry); a failed lookup never pretends to be an empty answer.
//
// Ownership and threads: a DnsResolver lives on one io_context and is not thread-safe; create it,
// call it and destroy it on that context's thread. Destroy it before the io_context. Destroying it
// while lookups are in flight is safe: they complete with kTempFail ("resolver shut down"), and an
// awaitable obtained from it but started later completes the same way.
//
// Time bound: `timeout` is c-ares' per-attempt timeout and `tries` the attempts per server; c-ares
// doubles the timeout after each round over the servers, so a lookup against servers that never
// answer ends with kTempFail after at most timeout * (2^tries - 1) per configured server. A
// SERVFAIL or REFUSED answer moves on to the next server at once; an ICMP "port unreachable"
// usually does too (c-ares 1.18 sees it only on the socket's next read or send).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace tidegate::delivery {

enum class DnsStatus {
  kOk,
  kNxDomain,  // hard: the name does not exist (or is not a valid domain name)
  kNoData,    // the name exists but has no records of the asked type
  kTempFail,  // SERVFAIL, REFUSED, timeout, network error, malformed answer, resolver shut down
};

// "ok", "nxdomain", "nodata", "tempfail": for logs and test messages.
std::string_view DnsStatusName(DnsStatus status);

struct MxRecord {
  std::uint16_t preference = 0;
  std::string host;  // lower case, no trailing dot; "." for the root (RFC 7505 null MX)
  friend bool operator==(const MxRecord&, const MxRecord&) = default;
};

// A DNS server (dns.servers in the config), or a route target (smtp_routes): host and port.
// For DNS servers `host` must be an IPv4 or IPv6 literal; port 0 means 53.
struct DnsServer {
  std::string host;
  std::uint16_t port = 53;
};

struct ResolverOptions {
  std::vector<DnsServer> servers;           // empty = the system resolver (/etc/resolv.conf)
  std::chrono::milliseconds timeout{5000};  // per attempt (see the time bound above)
  int tries = 2;                            // attempts per server
};

namespace detail {
class ResolverCore;
}  // namespace detail

class DnsResolver {
 public:
  struct MxResult {
    DnsStatus status = DnsStatus::kTempFail;
    std::vector<MxRecord> records;  // kOk only: sorted by preference, ties in answer order
    std::string error;              // why, when status != kOk
  };
  struct AddrResult {
    DnsStatus status = DnsStatus::kTempFail;
    std::vector<boost::asio::ip::address> addresses;  // kOk only: IPv4 first, then IPv6
    std::string error;
  };

  // Fails on a DNS server that is not an IP literal, tries < 1, a timeout below 1 ms, or when
  // c-ares cannot initialise (e.g. no usable /etc/resolv.conf and no servers given).
  static base::Result<std::unique_ptr<DnsResolver>> Create(boost::asio::io_context& io,
                                                           ResolverOptions options);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // MX records of `domain` (exact name, no search list). kNoData when the domain exists without
  // MX (the caller then uses the implicit MX, RFC 5321 §5.1).
  boost::asio::awaitable<MxResult> LookupMx(std::string domain);

  // A and AAAA of `host`, both queried at once. kOk when either family has addresses (a failure
  // of the other family is then ignored); otherwise kTempFail if either query failed temporarily,
  // else kNxDomain if the name does not exist, else kNoData. An IP literal is returned as is.
  boost::asio::awaitable<AddrResult> LookupAddresses(std::string host);

  // Lookups that share this resolver's channel and survive its destruction (they then complete
  // with kTempFail). For composite operations such as ResolveNextHop; not for general use.
  std::shared_ptr<detail::ResolverCore> core() const { return core_; }

 private:
  explicit DnsResolver(std::shared_ptr<detail::ResolverCore> core);
  std::shared_ptr<detail::ResolverCore> core_;
};

namespace detail {

// One question and its raw answer; the parsing below is pure so it can be tested with crafted
// packets (null MX, malformed answers) independently of any server.
struct Question {
  std::string name;
  int type = 0;  // ns_t_a, ns_t_aaaa, ns_t_mx
};
struct RawAnswer {
  int ares_status = 0;                // ARES_SUCCESS, ARES_ENOTFOUND, ...
  std::vector<unsigned char> packet;  // the DNS reply, when ares_status == ARES_SUCCESS
};

// Maps a c-ares status (other than ARES_SUCCESS) to our tri-state view.
DnsStatus StatusFromAres(int ares_status);
DnsResolver::MxResult ParseMxAnswer(const std::string& domain, const RawAnswer& answer);
// Parses an A (ipv6 = false) or AAAA answer.
DnsResolver::AddrResult ParseAddressAnswer(const std::string& host, bool ipv6,
                                           const RawAnswer& answer);
// Combines the A and AAAA results as documented on LookupAddresses.
DnsResolver::AddrResult CombineAddressResults(DnsResolver::AddrResult v4,
                                              DnsResolver::AddrResult v6);

// The channel and its Asio plumbing; shared by DnsResolver and the awaitables it hands out.
boost::asio::awaitable<std::vector<RawAnswer>> QueryAll(std::shared_ptr<ResolverCore> core,
                                                        std::vector<Question> questions);
boost::asio::awaitable<DnsResolver::MxResult> LookupMx(std::shared_ptr<ResolverCore> core,
                                                       std::string domain);
boost::asio::awaitable<DnsResolver::AddrResult> LookupAddresses(std::shared_ptr<ResolverCore> core,
                                                                std::string host);
// Resolves many hosts at once (all A and AAAA questions in flight together); results in order.
boost::asio::awaitable<std::vector<DnsResolver::AddrResult>> LookupManyAddresses(
    std::shared_ptr<ResolverCore> core, std::vector<std::string> hosts);

// Lower case, without a trailing dot: the form used for routes and queries.
std::string NormalizeName(std::string_view name);

}  // namespace detail
}  // namespace tidegate::delivery
