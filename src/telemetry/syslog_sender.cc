// syslog_sender.cc — SyslogSender's queue, thread and sockets (see syslog_sender.h).
#include "telemetry/syslog_sender.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <system_error>
#include <utility>

namespace tidegate::telemetry {
namespace {

using Clock = std::chrono::steady_clock;

// What a queued line costs besides its text, so that a flood of empty lines is bounded too.
constexpr std::uint64_t kEntryOverhead = 64;
// The sender thread looks at stop_ at least this often while it waits for a socket.
constexpr auto kPollSlice = std::chrono::milliseconds(200);
// A datagram never exceeds this (UDP's limit is 65,507 bytes); the MSG is cut to fit.
constexpr std::size_t kMaxDatagram = 65'000;

std::string Errno(int err) { return std::strerror(err); }

}  // namespace

base::Result<std::unique_ptr<SyslogSender>> SyslogSender::Start(SyslogSenderOptions options) {
  std::unique_ptr<SyslogSender> sender(new SyslogSender(std::move(options)));
  try {
    sender->thread_ = std::thread([s = sender.get()] { s->Run(); });
  } catch (const std::system_error& e) {  // no threads left: report, never throw
    return base::MakeError(std::string("syslog: cannot start the sender: ") + e.what());
  }
  return sender;
}

SyslogSender::SyslogSender(SyslogSenderOptions options)
    : opt_(std::move(options)), backoff_(opt_.reconnect_min) {}

SyslogSender::~SyslogSender() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    drain_deadline_ = Clock::now() + opt_.drain_timeout;
  }
  stopping_ = true;
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  dropped_ += queue_.size();
  if (fd_ >= 0) ::close(fd_);
}

void SyslogSender::Submit(base::SystemTime time, Level level, std::string_view line) {
  const std::uint64_t cost = line.size() + kEntryOverhead;
  std::unique_lock lock(mu_);
  if (stop_ || queued_bytes_ + cost > opt_.max_buffer_bytes) {
    lock.unlock();
    ++dropped_;
    return;
  }
  const bool was_empty = queue_.empty();
  queue_.push_back(Entry{time, level, std::string(line)});
  queued_bytes_ += cost;
  lock.unlock();
  if (was_empty) wake_.notify_one();
}

SyslogStats SyslogSender::stats() const {
  SyslogStats s;
  s.target = Describe();
  s.connected = connected_.load();
  s.sent = sent_.load();
  s.dropped = dropped_.load();
  std::lock_guard lock(mu_);
  s.queued = queue_.size();
  s.last_error = last_error_;
  return s;
}

std::string SyslogSender::Describe() const {
  switch (opt_.transport) {
    case SyslogTransport::kUdp:
      return fmt::format("udp {}:{}", opt_.host, opt_.port);
    case SyslogTransport::kTcp:
      return fmt::format("tcp {}:{}", opt_.host, opt_.port);
    case SyslogTransport::kUnix:
      return "unix " + opt_.path;
  }
  return "";
}

void SyslogSender::SetError(std::string error) {
  std::lock_guard lock(mu_);
  last_error_ = std::move(error);
}

void SyslogSender::Disconnect(std::string error) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  connected_ = false;
  next_connect_ = Clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, opt_.reconnect_max);
  SetError(std::move(error));
}

void SyslogSender::Run() {
  std::optional<Entry> current;  // taken from the queue, not yet sent whole
  bool idle = true;              // the queue ran dry since the last send: check a TCP peer
  std::unique_lock lock(mu_);
  for (;;) {
    if (!current) {
      if (queue_.empty()) {
        idle = true;
        if (stop_) break;
        wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        continue;
      }
      current = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= current->line.size() + kEntryOverhead;
    }
    if (stop_ && Clock::now() >= drain_deadline_) break;
    if (fd_ < 0) {
      if (Clock::now() < next_connect_) {
        // While stopping, a receiver that is down is not waited for.
        if (stop_) break;
        wake_.wait_until(lock, next_connect_, [&] { return stop_; });
        continue;
      }
      lock.unlock();
      const bool ok = Connect();
      lock.lock();
      if (!ok) continue;
      idle = false;
    }
    lock.unlock();
    if (idle && opt_.transport == SyslogTransport::kTcp && TcpPeerClosed()) {
      // The receiver closed while we had nothing to say: the next send would vanish into the
      // dead connection's buffer, so reconnect first.
      Disconnect("connection closed by the receiver");
      backoff_ = opt_.reconnect_min;
      next_connect_ = Clock::now();
      lock.lock();
      continue;
    }
    idle = false;
    std::string message = FormatSyslog(opt_.header, current->time, current->level, current->line);
    if (opt_.transport != SyslogTransport::kTcp && message.size() > kMaxDatagram) {
      message.resize(kMaxDatagram);
    }
    const std::string wire =
        opt_.transport == SyslogTransport::kTcp ? OctetCounted(message) : std::move(message);
    const SendResult result = Send(wire);
    lock.lock();
    switch (result) {
      case SendResult::kSent:
        ++sent_;
        current.reset();
        break;
      case SendResult::kDropped:
        ++dropped_;
        current.reset();
        break;
      case SendResult::kBroken:  // sent again, whole, once reconnected
        break;
      case SendResult::kAborted:
        ++dropped_;
        current.reset();
        lock.unlock();
        Disconnect("stopped while the receiver was not reading");
        lock.lock();
        break;
    }
  }
  if (current) ++dropped_;
}

bool SyslogSender::Connect() {
  int fd = -1;
  std::string error;
  if (opt_.transport == SyslogTransport::kUnix) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (opt_.path.size() >= sizeof addr.sun_path) {
      error = "path too long";
    } else {
      std::memcpy(addr.sun_path, opt_.path.c_str(), opt_.path.size() + 1);
      fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        error = Errno(errno);
        if (fd >= 0) ::close(fd);
        fd = -1;
      }
    }
  } else {
    const bool tcp = opt_.transport == SyslogTransport::kTcp;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = tcp ? SOCK_STREAM : SOCK_DGRAM;
    addrinfo* list = nullptr;
    const std::string port = std::to_string(opt_.port);
    if (int rc = ::getaddrinfo(opt_.host.c_str(), port.c_str(), &hints, &list); rc != 0) {
      error = ::gai_strerror(rc);
    }
    for (addrinfo* ai = list; ai != nullptr && fd < 0; ai = ai->ai_next) {
      fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
      if (fd < 0) {
        error = Errno(errno);
        continue;
      }
      int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        // TCP: wait for the handshake, a slice at a time so that a stop is not held up.
        const auto deadline = Clock::now() + opt_.connect_timeout;
        rc = -1;
        errno = ETIMEDOUT;
        while (Clock::now() < deadline && !stopping_) {
          pollfd p{fd, POLLOUT, 0};
          const int n = ::poll(&p, 1, static_cast<int>(kPollSlice.count()));
          if (n < 0 && errno != EINTR) break;
          if (n <= 0) {
            errno = ETIMEDOUT;
            continue;
          }
          int so_error = 0;
          socklen_t len = sizeof so_error;
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
          errno = so_error;
          rc = so_error == 0 ? 0 : -1;
          break;
        }
      }
      if (rc != 0) {
        error = Errno(errno);
        ::close(fd);
        fd = -1;
      }
    }
    if (list != nullptr) ::freeaddrinfo(list);
  }
  if (fd < 0) {
    Disconnect(fmt::format("cannot connect to {}: {}", Describe(), error));
    return false;
  }
  fd_ = fd;
  connected_ = true;
  backoff_ = opt_.reconnect_min;
  return true;
}

bool SyslogSender::TcpPeerClosed() {
  char byte = 0;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

bool SyslogSender::WaitWritable() {
  for (;;) {
    if (stopping_) {
      std::lock_guard lock(mu_);
      if (Clock::now() >= drain_deadline_) return false;
    }
    pollfd p{fd_, POLLOUT, 0};
    const int n = ::poll(&p, 1, static_cast<int>(kPollSlice.count()));
    if (n > 0 || (n < 0 && errno != EINTR)) return true;  // ready, or let send() say why
  }
}

SyslogSender::SendResult SyslogSender::Send(std::string_view wire) {
  const bool stream = opt_.transport == SyslogTransport::kTcp;
  std::size_t done = 0;
  while (done < wire.size()) {
    const ssize_t n =
        ::send(fd_, wire.data() + done, wire.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      if (!stream) break;  // a datagram goes whole or not at all
      continue;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      // The receiver is slow (or stopped reading): wait here, off the mail path; lines pile up
      // in the bounded queue meanwhile.
      if (!WaitWritable()) return SendResult::kAborted;
      continue;
    }
    if (opt_.transport == SyslogTransport::kUdp) {
      SetError(fmt::format("send to {}: {}", Describe(), Errno(err)));
      return SendResult::kDropped;  // refused or too large: the socket stays usable
    }
    if (err == EMSGSIZE) {
      SetError(fmt::format("send to {}: {}", Describe(), Errno(err)));
      return SendResult::kDropped;
    }
    Disconnect(fmt::format("send to {}: {}", Describe(), Errno(err)));
    return SendResult::kBroken;
  }
  return SendResult::kSent;
}

}  // namespace tidegate::telemetry
