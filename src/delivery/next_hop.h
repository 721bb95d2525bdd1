// next_hop.h — ResolveNextHop: where to connect to deliver mail for a domain.
//
// The next hop as an MTA resolves it (RFC 5321 §5.1, RFC 7505):
//  1. a static route (smtp_routes) for the domain wins over DNS; route hosts may be IP literals
//     or names, tried in the order written, port 0 meaning `default_port`;
//  2. else the MX records, by preference (equal preferences in random order, spreading load),
//     each MX host's A then AAAA addresses, duplicates dropped;
//  3. no MX (NoData): the domain's own A/AAAA as the implicit MX, preference 0;
//  4. an address literal domain ("[192.0.2.1]", "[IPv6:2001:db8::1]") is its own next hop.
// Outcomes: kNxDomain when the domain does not exist; kNoData when it exists but has neither MX
// nor address; kTempFail on any lookup failure, and when no MX or route host resolves (even if
// every one of them is NXDOMAIN: a broken MX target is the receiver's problem to fix, not a
// reason to bounce); kOk with `hosts` otherwise. A null MX ("MX 0 .", the only MX records being
// the root) gives kOk with null_mx = true and no hosts: bounce with 5.1.10.
//
// Threads: like DnsResolver, on the resolver's io_context thread only. `routes` is copied (only
// the matching entry) when the call is made, so it need not outlive the awaitable; the resolver
// may be destroyed while the awaitable runs (it then completes with kTempFail).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/dns_resolver.h"

namespace tidegate::delivery {

struct HostCandidate {
  std::string host;  // the MX or route host name (or the literal as written)
  boost::asio::ip::address address;
  std::uint16_t port = 25;
  std::uint16_t preference = 0;  // MX preference; the position in the list for routes
};

struct NextHop {
  DnsStatus status = DnsStatus::kTempFail;
  std::vector<HostCandidate> hosts;  // in the order to try
  bool null_mx = false;              // "MX 0 ." → hard bounce 5.1.10 / 5.4.4
  std::string error;                 // why, when status != kOk or null_mx
};

// Lower-case domain (no trailing dot) → route hosts. A key ".example.org" also matches every
// subdomain of example.org; the exact key wins, then the closest parent.
using Routes = std::map<std::string, std::vector<DnsServer>>;

boost::asio::awaitable<NextHop> ResolveNextHop(DnsResolver& resolver, std::string domain,
                                               const Routes& routes,
                                               std::uint16_t default_port = 25);

// The route for `domain` (any case, trailing dot allowed), or nullptr. Pure.
const std::vector<DnsServer>* FindRoute(const Routes& routes, std::string_view domain);

// True when the records say "this domain accepts no mail" (RFC 7505): every target is the root.
bool IsNullMx(const std::vector<MxRecord>& records);

// Sorted by preference, records of equal preference shuffled with `rng`; root targets dropped.
std::vector<MxRecord> OrderMxRecords(std::vector<MxRecord> records, std::mt19937& rng);

}  // namespace tidegate::delivery
