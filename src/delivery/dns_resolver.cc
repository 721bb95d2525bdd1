// dns_resolver.cc — c-ares on Boost.Asio (see dns_resolver.h for the contract).
//
// How the pieces fit:
//  * ResolverCore owns the ares_channel. c-ares tells us which sockets it wants watched through
//    the socket-state callback; each such socket gets a SocketWatch whose stream_descriptor waits
//    for readability/writability (never owning the fd: c-ares closes it, we release() first).
//  * After every query submission and every processing step the steady_timer is re-armed from
//    ares_timeout(), and on expiry ares_process_fd(BAD, BAD) lets c-ares retransmit or time out.
//  * A lookup is one PendingQueries object holding the awaiting coroutine's handler and one slot
//    per question; c-ares' callbacks fill the slots and the last one posts the handler. The
//    object is owned by c-ares until then, which is what makes destruction safe: ares_destroy()
//    calls every outstanding callback with ARES_EDESTRUCTION, the slots fill with that status and
//    the handler is posted, without touching the (dying) core.
#include "delivery/dns_resolver.h"

#include <ares.h>

#include <algorithm>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cassert>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

namespace tidegate::delivery {

namespace asio = boost::asio;

std::string_view DnsStatusName(DnsStatus status) {
  switch (status) {
    case DnsStatus::kOk:
      return "ok";
    case DnsStatus::kNxDomain:
      return "nxdomain";
    case DnsStatus::kNoData:
      return "nodata";
    case DnsStatus::kTempFail:
      return "tempfail";
  }
  return "unknown";
}

namespace detail {
namespace {

// RFC 1035 / RFC 3596 numbers; spelled out so we need not pull in <arpa/nameser.h>.
constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr int kTypeMx = 15;
constexpr int kTypeAaaa = 28;

std::string AresError(int status) { return ares_strerror(status); }

// A name c-ares could mis-handle (embedded NUL silently truncates through c_str()) or that can
// never be a domain. c-ares itself rejects over-long labels.
bool PlausibleName(const std::string& name) {
  return !name.empty() && name.size() <= 253 && name.find('\0') == std::string::npos;
}

// Parses "1.2.3.4", "::1", "[::1]" or "[IPv6:::1]" (the RFC 5321 address literal forms).
std::optional<asio::ip::address> ParseIpLiteral(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
    if (text.size() > 5 && (text.substr(0, 5) == "IPv6:" || text.substr(0, 5) == "ipv6:")) {
      text = text.substr(5);
    }
  }
  boost::system::error_code ec;
  auto address = asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return address;
}

}  // namespace

std::string NormalizeName(std::string_view name) {
  std::string out(name);
  while (!out.empty() && out.back() == '.') out.pop_back();
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

DnsStatus StatusFromAres(int ares_status) {
  switch (ares_status) {
    case ARES_SUCCESS:
      return DnsStatus::kOk;
    case ARES_ENODATA:
      return DnsStatus::kNoData;
    case ARES_ENOTFOUND:  // RCODE NXDOMAIN
    case ARES_EBADNAME:   // not a domain name at all: it cannot exist either
      return DnsStatus::kNxDomain;
    default:
      // ESERVFAIL, EREFUSED, ETIMEOUT, ECONNREFUSED, EFORMERR, ENOTIMP, EBADRESP, ENOMEM,
      // ECANCELLED, EDESTRUCTION, ...: we do not know the answer, so the caller must retry.
      return DnsStatus::kTempFail;
  }
}

DnsResolver::MxResult ParseMxAnswer(const std::string& domain, const RawAnswer& answer) {
  DnsResolver::MxResult result;
  if (answer.ares_status != ARES_SUCCESS) {
    result.status = StatusFromAres(answer.ares_status);
    result.error = "MX lookup for " + domain + ": " + AresError(answer.ares_status);
    return result;
  }
  ares_mx_reply* replies = nullptr;
  int rc =
      ares_parse_mx_reply(answer.packet.data(), static_cast<int>(answer.packet.size()), &replies);
  if (rc != ARES_SUCCESS) {
    // ENODATA: the answer section held no MX (e.g. only a CNAME to a name without MX).
    result.status = rc == ARES_ENODATA ? DnsStatus::kNoData : DnsStatus::kTempFail;
    result.error = "MX lookup for " + domain + ": " + AresError(rc);
    return result;
  }
  for (const ares_mx_reply* r = replies; r != nullptr; r = r->next) {
    std::string host = NormalizeName(r->host != nullptr ? r->host : "");
    result.records.push_back(MxRecord{r->priority, host.empty() ? std::string(".") : host});
  }
  ares_free_data(replies);
  std::stable_sort(
      result.records.begin(), result.records.end(),
      [](const MxRecord& a, const MxRecord& b) { return a.preference < b.preference; });
  result.status = DnsStatus::kOk;
  return result;
}

DnsResolver::AddrResult ParseAddressAnswer(const std::string& host, bool ipv6,
                                           const RawAnswer& answer) {
  DnsResolver::AddrResult result;
  const char* type = ipv6 ? "AAAA" : "A";
  if (answer.ares_status != ARES_SUCCESS) {
    result.status = StatusFromAres(answer.ares_status);
    result.error = std::string(type) + " lookup for " + host + ": " + AresError(answer.ares_status);
    return result;
  }
  hostent* he = nullptr;
  const int len = static_cast<int>(answer.packet.size());
  int rc = ipv6 ? ares_parse_aaaa_reply(answer.packet.data(), len, &he, nullptr, nullptr)
                : ares_parse_a_reply(answer.packet.data(), len, &he, nullptr, nullptr);
  if (rc != ARES_SUCCESS) {
    result.status = rc == ARES_ENODATA ? DnsStatus::kNoData : DnsStatus::kTempFail;
    result.error = std::string(type) + " lookup for " + host + ": " + AresError(rc);
    if (he != nullptr) ares_free_hostent(he);
    return result;
  }
  for (char** p = he->h_addr_list; p != nullptr && *p != nullptr; ++p) {
    if (he->h_addrtype == AF_INET && he->h_length == 4) {
      asio::ip::address_v4::bytes_type bytes;
      std::copy_n(reinterpret_cast<const unsigned char*>(*p), 4, bytes.begin());
      result.addresses.emplace_back(asio::ip::address_v4(bytes));
    } else if (he->h_addrtype == AF_INET6 && he->h_length == 16) {
      asio::ip::address_v6::bytes_type bytes;
      std::copy_n(reinterpret_cast<const unsigned char*>(*p), 16, bytes.begin());
      result.addresses.emplace_back(asio::ip::address_v6(bytes));
    }
  }
  ares_free_hostent(he);
  if (result.addresses.empty()) {
    result.status = DnsStatus::kNoData;
    result.error = std::string(type) + " lookup for " + host + ": no addresses in the answer";
  } else {
    result.status = DnsStatus::kOk;
  }
  return result;
}

DnsResolver::AddrResult CombineAddressResults(DnsResolver::AddrResult v4,
                                              DnsResolver::AddrResult v6) {
  DnsResolver::AddrResult out;
  out.addresses = std::move(v4.addresses);
  out.addresses.insert(out.addresses.end(), v6.addresses.begin(), v6.addresses.end());
  if (!out.addresses.empty()) {
    // One family is enough to deliver; the other's failure does not make the host unusable.
    out.status = DnsStatus::kOk;
    return out;
  }
  auto either = [&](DnsStatus s) { return v4.status == s || v6.status == s; };
  // Conservative order: an unknown answer beats a definite "no" from the other family.
  if (either(DnsStatus::kTempFail)) {
    out.status = DnsStatus::kTempFail;
  } else if (either(DnsStatus::kNxDomain)) {
    out.status = DnsStatus::kNxDomain;
  } else {
    out.status = DnsStatus::kNoData;
  }
  out.error = v4.error.empty()   ? v6.error
              : v6.error.empty() ? v4.error
                                 : v4.error + "; " + v6.error;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The c-ares channel on Asio.

namespace {

// Questions asked together and the awaiting handler; owned by c-ares' callbacks until the last
// one arrives.
class PendingBase {
 public:
  struct Slot {
    PendingBase* op;
    std::size_t index;
  };
  explicit PendingBase(std::size_t n) : answers_(n), slots_(n), remaining_(n) {
    for (std::size_t i = 0; i < n; ++i) slots_[i] = Slot{this, i};
  }
  virtual ~PendingBase() = default;
  PendingBase(const PendingBase&) = delete;
  PendingBase& operator=(const PendingBase&) = delete;

  Slot* slot(std::size_t i) { return &slots_[i]; }
  std::size_t size() const { return slots_.size(); }

  // Records one answer; the last one completes the operation and deletes `this`.
  void Deliver(std::size_t index, int status, const unsigned char* packet, int len) {
    RawAnswer& a = answers_[index];
    a.ares_status = status;
    if (status == ARES_SUCCESS && packet != nullptr && len > 0)
      a.packet.assign(packet, packet + len);
    assert(remaining_ > 0);
    if (--remaining_ == 0) Complete();
  }
  // Completes at once (used for zero questions).
  void CompleteEmpty() {
    assert(remaining_ == 0);
    Complete();
  }

 protected:
  virtual void Complete() = 0;  // posts the handler, then `delete this`
  std::vector<RawAnswer> answers_;

 private:
  std::vector<Slot> slots_;
  std::size_t remaining_;
};

template <typename Handler>
class PendingQueries final : public PendingBase {
 public:
  PendingQueries(Handler handler, std::size_t n, const asio::any_io_executor& fallback)
      : PendingBase(n),
        handler_(std::move(handler)),
        // Keeps the handler's executor from running out of work while we wait on c-ares.
        work_(asio::prefer(asio::get_associated_executor(handler_, fallback),
                           asio::execution::outstanding_work.tracked)) {}

 private:
  void Complete() override {
    // Always posted, never invoked inline: c-ares calls us from inside ares_process_fd() or
    // ares_destroy(), and resuming the coroutine there could re-enter or destroy the channel.
    auto executor = work_;
    asio::post(executor, asio::append(std::move(handler_), std::move(answers_)));
    delete this;
  }

  Handler handler_;
  std::decay_t<decltype(asio::prefer(
      std::declval<asio::associated_executor_t<Handler, asio::any_io_executor>>(),
      asio::execution::outstanding_work.tracked))>
      work_;
};

struct SocketWatch {
  SocketWatch(asio::io_context& io, ares_socket_t s) : descriptor(io), fd(s) {}
  asio::posix::stream_descriptor descriptor;
  ares_socket_t fd;
  bool registered = false;  // descriptor.assign() succeeded
  bool want_read = false;
  bool want_write = false;
  bool read_pending = false;
  bool write_pending = false;
  bool closed = false;  // c-ares closed the socket or the channel is gone: never touch again
};

void CloseWatch(SocketWatch& watch) {
  watch.closed = true;
  if (watch.registered) {
    // release() deregisters from the reactor and aborts the waits, leaving the fd to c-ares.
    (void)watch.descriptor.release();
    watch.registered = false;
  }
}

void OnAnswer(void* arg, int status, int /*timeouts*/, unsigned char* packet, int len) {
  auto* slot = static_cast<PendingBase::Slot*>(arg);
  slot->op->Deliver(slot->index, status, packet, len);
}

}  // namespace

class ResolverCore : public std::enable_shared_from_this<ResolverCore> {
 public:
  explicit ResolverCore(asio::io_context& io) : io_(io), timer_(std::in_place, io) {}
  ~ResolverCore() { Shutdown(); }
  ResolverCore(const ResolverCore&) = delete;
  ResolverCore& operator=(const ResolverCore&) = delete;

  base::Status Init(const ResolverOptions& options) {
    ares_options opts{};
    opts.sock_state_cb = &ResolverCore::OnSocketState;
    opts.sock_state_cb_data = this;
    opts.timeout = static_cast<int>(options.timeout.count());
    opts.tries = options.tries;
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    int rc = ares_init_options(&channel_, &opts, mask);
    if (rc != ARES_SUCCESS) {
      channel_ = nullptr;
      return base::MakeError("DNS resolver initialisation failed: " + AresError(rc));
    }
    if (!options.servers.empty()) {
      std::vector<ares_addr_port_node> nodes(options.servers.size());
      for (std::size_t i = 0; i < options.servers.size(); ++i) {
        const DnsServer& server = options.servers[i];
        auto address = ParseIpLiteral(server.host);
        if (!address) {
          Shutdown();
          return base::MakeError("DNS server '" + server.host + "' is not an IP address");
        }
        ares_addr_port_node& node = nodes[i];
        node.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
        if (address->is_v4()) {
          node.family = AF_INET;
          auto bytes = address->to_v4().to_bytes();
          std::memcpy(&node.addr.addr4, bytes.data(), bytes.size());
        } else {
          node.family = AF_INET6;
          auto bytes = address->to_v6().to_bytes();
          std::memcpy(&node.addr.addr6, bytes.data(), bytes.size());
        }
        const int port = server.port == 0 ? 53 : server.port;
        node.udp_port = port;
        node.tcp_port = port;
      }
      rc = ares_set_servers_ports(channel_, nodes.data());
      if (rc != ARES_SUCCESS) {
        Shutdown();
        return base::MakeError("DNS resolver: cannot set servers: " + AresError(rc));
      }
    }
    return base::Status::Ok();
  }

  // Completes every lookup in flight with ARES_EDESTRUCTION and lets go of all Asio objects.
  // Idempotent.
  void Shutdown() {
    if (channel_ != nullptr) {
      ares_channel channel = channel_;
      channel_ = nullptr;     // from here on, handlers that still run see a dead core
      ares_destroy(channel);  // closes sockets (OnSocketState(fd, 0, 0)) and runs callbacks
    }
    for (auto& [fd, watch] : watches_) CloseWatch(*watch);
    watches_.clear();
    timer_.reset();
  }

  bool alive() const { return channel_ != nullptr; }
  asio::any_io_executor executor() { return io_.get_executor(); }

  // Sends every question of `op`; answers arrive through OnAnswer.
  void Submit(const std::vector<Question>& questions, PendingBase* op) {
    if (questions.empty()) {
      op->CompleteEmpty();
      return;
    }
    const std::size_t n = questions.size();
    for (std::size_t i = 0; i < n; ++i) {
      // `op` may be deleted by the last Deliver(), which can only happen in the last iteration.
      if (channel_ == nullptr) {
        op->Deliver(i, ARES_EDESTRUCTION, nullptr, 0);
      } else if (!PlausibleName(questions[i].name)) {
        op->Deliver(i, ARES_EBADNAME, nullptr, 0);
      } else {
        ares_query(channel_, questions[i].name.c_str(), kClassIn, questions[i].type, &OnAnswer,
                   op->slot(i));
      }
    }
    ArmTimer();
  }

 private:
  static void OnSocketState(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<ResolverCore*>(data)->UpdateWatch(fd, readable != 0, writable != 0);
  }

  void UpdateWatch(ares_socket_t fd, bool readable, bool writable) {
    auto it = watches_.find(fd);
    if (!readable && !writable) {
      // c-ares is about to close fd; a new socket may soon reuse the number, so forget it now.
      if (it != watches_.end()) {
        CloseWatch(*it->second);
        watches_.erase(it);
      }
      return;
    }
    if (it == watches_.end()) {
      auto watch = std::make_shared<SocketWatch>(io_, fd);
      boost::system::error_code ec;
      watch->descriptor.assign(fd, ec);
      // If the reactor refuses the fd, the query still ends through the timer (as a timeout).
      watch->registered = !ec;
      it = watches_.emplace(fd, std::move(watch)).first;
    }
    it->second->want_read = readable;
    it->second->want_write = writable;
    Arm(it->second);
  }

  void Arm(const std::shared_ptr<SocketWatch>& watch) {
    if (watch->closed || !watch->registered) return;
    if (watch->want_read && !watch->read_pending) {
      watch->read_pending = true;
      watch->descriptor.async_wait(
          asio::posix::descriptor_base::wait_read,
          [weak = weak_from_this(), watch](const boost::system::error_code& ec) {
            watch->read_pending = false;
            OnReady(weak, watch, ec, /*read=*/true);
          });
    }
    if (watch->want_write && !watch->write_pending) {
      watch->write_pending = true;
      watch->descriptor.async_wait(
          asio::posix::descriptor_base::wait_write,
          [weak = weak_from_this(), watch](const boost::system::error_code& ec) {
            watch->write_pending = false;
            OnReady(weak, watch, ec, /*read=*/false);
          });
    }
  }

  static void OnReady(const std::weak_ptr<ResolverCore>& weak,
                      const std::shared_ptr<SocketWatch>& watch,
                      const boost::system::error_code& ec, bool read) {
    // `closed` first: it is set before the core or the fd goes away, so this is the only state
    // that is safe to read in every case.
    if (watch->closed || ec == asio::error::operation_aborted) return;
    auto self = weak.lock();
    if (!self || !self->alive()) return;
    if (read ? watch->want_read : watch->want_write) {
      ares_process_fd(self->channel_, read ? watch->fd : ARES_SOCKET_BAD,
                      read ? ARES_SOCKET_BAD : watch->fd);
    }
    // A persistent wait error would spin if re-armed; c-ares' timer still bounds the query.
    if (!ec && self->alive()) self->Arm(watch);
    self->ArmTimer();
  }

  void ArmTimer() {
    if (channel_ == nullptr || !timer_) return;
    timeval tv{};
    timeval* next = ares_timeout(channel_, nullptr, &tv);
    if (next == nullptr) {
      timer_->cancel();  // nothing in flight
      return;
    }
    timer_->expires_after(std::chrono::seconds(next->tv_sec) +
                          std::chrono::microseconds(next->tv_usec));
    timer_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      auto self = weak.lock();
      if (!self || !self->alive()) return;
      ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts only
      self->ArmTimer();
    });
  }

  asio::io_context& io_;
  ares_channel channel_ = nullptr;
  std::optional<asio::steady_timer> timer_;
  std::unordered_map<ares_socket_t, std::shared_ptr<SocketWatch>> watches_;
};

asio::awaitable<std::vector<RawAnswer>> QueryAll(std::shared_ptr<ResolverCore> core,
                                                 std::vector<Question> questions) {
  auto initiation = [core, questions = std::move(questions)](auto handler) {
    using Handler = decltype(handler);
    auto* op = new PendingQueries<Handler>(std::move(handler), questions.size(), core->executor());
    core->Submit(questions, op);
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable),
                                          void(std::vector<RawAnswer>)>(std::move(initiation),
                                                                        asio::use_awaitable);
}

asio::awaitable<DnsResolver::MxResult> LookupMx(std::shared_ptr<ResolverCore> core,
                                                std::string domain) {
  domain = NormalizeName(domain);
  // Built outside the co_await: g++ 12 miscompiles braced temporaries in coroutine frames.
  std::vector<Question> questions;
  questions.push_back(Question{domain, kTypeMx});
  auto answers = co_await QueryAll(std::move(core), std::move(questions));
  co_return ParseMxAnswer(domain, answers.at(0));
}

asio::awaitable<std::vector<DnsResolver::AddrResult>> LookupManyAddresses(
    std::shared_ptr<ResolverCore> core, std::vector<std::string> hosts) {
  std::vector<DnsResolver::AddrResult> results(hosts.size());
  std::vector<Question> questions;
  std::vector<std::size_t> asked;  // index into hosts of each A/AAAA question pair
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (auto literal = ParseIpLiteral(hosts[i])) {
      results[i].status = DnsStatus::kOk;
      results[i].addresses.push_back(*literal);
      continue;
    }
    hosts[i] = NormalizeName(hosts[i]);
    questions.push_back(Question{hosts[i], kTypeA});
    questions.push_back(Question{hosts[i], kTypeAaaa});
    asked.push_back(i);
  }
  if (questions.empty()) co_return results;
  auto answers = co_await QueryAll(std::move(core), std::move(questions));
  for (std::size_t k = 0; k < asked.size(); ++k) {
    const std::string& host = hosts[asked[k]];
    results[asked[k]] = CombineAddressResults(ParseAddressAnswer(host, false, answers[2 * k]),
                                              ParseAddressAnswer(host, true, answers[2 * k + 1]));
  }
  co_return results;
}

asio::awaitable<DnsResolver::AddrResult> LookupAddresses(std::shared_ptr<ResolverCore> core,
                                                         std::string host) {
  std::vector<std::string> hosts;
  hosts.push_back(std::move(host));
  auto results = co_await LookupManyAddresses(std::move(core), std::move(hosts));
  co_return std::move(results.at(0));
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------

DnsResolver::DnsResolver(std::shared_ptr<detail::ResolverCore> core) : core_(std::move(core)) {}

DnsResolver::~DnsResolver() { core_->Shutdown(); }

base::Result<std::unique_ptr<DnsResolver>> DnsResolver::Create(asio::io_context& io,
                                                               ResolverOptions options) {
  static std::once_flag once;
  static int library_status = ARES_SUCCESS;
  std::call_once(once, [] { library_status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (library_status != ARES_SUCCESS) {
    return base::MakeError("c-ares library initialisation failed: " +
                           std::string(ares_strerror(library_status)));
  }
  if (options.tries < 1) return base::MakeError("DNS tries must be at least 1");
  if (options.timeout < std::chrono::milliseconds(1)) {
    return base::MakeError("DNS timeout must be at least 1ms");
  }
  auto core = std::make_shared<detail::ResolverCore>(io);
  if (base::Status status = core->Init(options); !status) return status.error();
  return std::unique_ptr<DnsResolver>(new DnsResolver(std::move(core)));
}

asio::awaitable<DnsResolver::MxResult> DnsResolver::LookupMx(std::string domain) {
  return detail::LookupMx(core_, std::move(domain));
}

asio::awaitable<DnsResolver::AddrResult> DnsResolver::LookupAddresses(std::string host) {
  return detail::LookupAddresses(core_, std::move(host));
}

}  // namespace tidegate::delivery
