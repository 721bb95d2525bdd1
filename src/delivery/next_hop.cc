// next_hop.cc — routes, MX and implicit MX resolution (see next_hop.h).
#include "delivery/next_hop.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <utility>

namespace tidegate::delivery {

namespace asio = boost::asio;

namespace {

std::mt19937& ThreadRng() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return rng;
}

// "[192.0.2.1]" / "[IPv6:2001:db8::1]" → the address; nullopt when `domain` is not a literal.
// `valid` tells a malformed literal from a plain domain.
std::optional<asio::ip::address> AddressLiteral(std::string_view domain, bool* valid) {
  *valid = true;
  if (domain.size() < 2 || domain.front() != '[' || domain.back() != ']') return std::nullopt;
  std::string_view inner = domain.substr(1, domain.size() - 2);
  bool v6 = false;
  if (inner.size() > 5 && (inner.substr(0, 5) == "IPv6:" || inner.substr(0, 5) == "ipv6:")) {
    inner = inner.substr(5);
    v6 = true;
  }
  boost::system::error_code ec;
  auto address = asio::ip::make_address(std::string(inner), ec);
  if (ec || address.is_v6() != v6) {
    *valid = false;
    return std::nullopt;
  }
  return address;
}

// Appends the addresses of `host` as candidates, skipping (address, port) pairs already listed:
// the same server reached through two MX names is tried once.
void AddCandidates(const std::string& host, const std::vector<asio::ip::address>& addresses,
                   std::uint16_t port, std::uint16_t preference, NextHop& hop,
                   std::set<std::pair<asio::ip::address, std::uint16_t>>& seen) {
  for (const auto& address : addresses) {
    if (!seen.emplace(address, port).second) continue;
    hop.hosts.push_back(HostCandidate{host, address, port, preference});
  }
}

std::string JoinErrors(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += e;
  }
  return out;
}

asio::awaitable<NextHop> ResolveRoute(std::shared_ptr<detail::ResolverCore> core,
                                      std::string domain, std::vector<DnsServer> route,
                                      std::uint16_t default_port) {
  std::vector<std::string> hosts;
  for (const auto& entry : route) hosts.push_back(entry.host);
  // All route hosts at once: IP literals come back without a query.
  auto results = co_await detail::LookupManyAddresses(std::move(core), hosts);
  NextHop hop;
  std::set<std::pair<asio::ip::address, std::uint16_t>> seen;
  std::vector<std::string> errors;
  for (std::size_t i = 0; i < route.size(); ++i) {
    const std::uint16_t port = route[i].port == 0 ? default_port : route[i].port;
    if (results[i].status == DnsStatus::kOk) {
      AddCandidates(route[i].host, results[i].addresses, port, static_cast<std::uint16_t>(i), hop,
                    seen);
    } else {
      errors.push_back(results[i].error);
    }
  }
  if (hop.hosts.empty()) {
    // A route is the operator's decision: an unresolvable route host never bounces mail.
    hop.status = DnsStatus::kTempFail;
    hop.error = "no route host for " + domain + " resolves: " + JoinErrors(errors);
  } else {
    hop.status = DnsStatus::kOk;
  }
  co_return hop;
}

asio::awaitable<NextHop> ResolveByDns(std::shared_ptr<detail::ResolverCore> core,
                                      std::string domain, std::uint16_t default_port) {
  NextHop hop;
  auto mx = co_await detail::LookupMx(core, domain);
  if (mx.status == DnsStatus::kNoData) {
    // RFC 5321 §5.1: no MX → the domain itself is the implicit MX, preference 0.
    auto addresses = co_await detail::LookupAddresses(core, domain);
    if (addresses.status != DnsStatus::kOk) {
      hop.status = addresses.status;
      hop.error = "no MX for " + domain + " and no address: " + addresses.error;
      co_return hop;
    }
    std::set<std::pair<asio::ip::address, std::uint16_t>> seen;
    AddCandidates(domain, addresses.addresses, default_port, 0, hop, seen);
    hop.status = DnsStatus::kOk;
    co_return hop;
  }
  if (mx.status != DnsStatus::kOk) {
    hop.status = mx.status;  // kNxDomain or kTempFail
    hop.error = mx.error;
    co_return hop;
  }
  if (IsNullMx(mx.records)) {
    hop.status = DnsStatus::kOk;
    hop.null_mx = true;
    hop.error = "domain " + domain + " does not accept mail (null MX)";
    co_return hop;
  }
  std::vector<MxRecord> records = OrderMxRecords(std::move(mx.records), ThreadRng());
  std::vector<std::string> names;
  for (const auto& r : records) names.push_back(r.host);
  auto results = co_await detail::LookupManyAddresses(std::move(core), names);
  std::set<std::pair<asio::ip::address, std::uint16_t>> seen;
  std::vector<std::string> errors;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (results[i].status == DnsStatus::kOk) {
      AddCandidates(records[i].host, results[i].addresses, default_port, records[i].preference, hop,
                    seen);
    } else {
      errors.push_back(results[i].error);
    }
  }
  if (hop.hosts.empty()) {
    // Conservative: even all-NXDOMAIN MX targets may be a transient misconfiguration.
    hop.status = DnsStatus::kTempFail;
    hop.error = "no MX host of " + domain + " resolves: " + JoinErrors(errors);
  } else {
    hop.status = DnsStatus::kOk;
  }
  co_return hop;
}

asio::awaitable<NextHop> Ready(NextHop hop) { co_return hop; }

}  // namespace

const std::vector<DnsServer>* FindRoute(const Routes& routes, std::string_view domain) {
  std::string name = detail::NormalizeName(domain);
  if (auto it = routes.find(name); it != routes.end()) return &it->second;
  // Parents, closest first: a.b.example.org tries .b.example.org, then .example.org, then .org.
  for (std::size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
    if (auto it = routes.find(name.substr(dot)); it != routes.end()) return &it->second;
  }
  return nullptr;
}

bool IsNullMx(const std::vector<MxRecord>& records) {
  return !records.empty() && std::all_of(records.begin(), records.end(),
                                         [](const MxRecord& r) { return r.host == "."; });
}

std::vector<MxRecord> OrderMxRecords(std::vector<MxRecord> records, std::mt19937& rng) {
  std::erase_if(records, [](const MxRecord& r) { return r.host == "." || r.host.empty(); });
  std::stable_sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference < b.preference;
  });
  for (auto first = records.begin(); first != records.end();) {
    auto last = std::find_if(first, records.end(),
                             [&](const MxRecord& r) { return r.preference != first->preference; });
    std::shuffle(first, last, rng);
    first = last;
  }
  return records;
}

// Not a coroutine itself: everything borrowed (resolver, routes) is read and copied here, at the
// call, and the coroutines below own what they use.
asio::awaitable<NextHop> ResolveNextHop(DnsResolver& resolver, std::string domain,
                                        const Routes& routes, std::uint16_t default_port) {
  std::string name = detail::NormalizeName(domain);
  if (const auto* route = FindRoute(routes, name)) {
    return ResolveRoute(resolver.core(), std::move(name), *route, default_port);
  }
  bool valid = true;
  if (auto literal = AddressLiteral(domain, &valid)) {
    NextHop hop;
    hop.status = DnsStatus::kOk;
    hop.hosts.push_back(HostCandidate{domain, *literal, default_port, 0});
    return Ready(std::move(hop));
  }
  if (!valid || name.empty()) {
    NextHop hop;
    hop.status = DnsStatus::kNxDomain;
    hop.error = "invalid domain '" + domain + "'";
    return Ready(std::move(hop));
  }
  return ResolveByDns(resolver.core(), std::move(name), default_port);
}

}  // namespace tidegate::delivery
