// dns_resolver_testing.cc — dnsmasq fixture and silent UDP peer (see dns_resolver_testing.h).
#include "delivery/dns_resolver_testing.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

extern char** environ;

namespace tidegate::delivery::testing {

namespace {

constexpr const char* kReadyName = "fixture-ready.test";

// Binds a socket of `type` to 127.0.0.1:0 and returns it with its port (-1 on failure).
int BindLoopback(int type, std::uint16_t* port) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// One A query for kReadyName over UDP; true when any well-formed reply with our id comes back.
bool Answers(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  std::vector<unsigned char> q = {0x7a, 0x11, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  std::string name = kReadyName;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<unsigned char>(dot - start));
    q.insert(q.end(), name.begin() + start, name.begin() + dot);
    start = dot + 1;
  }
  q.insert(q.end(), {0, 0, 1, 0, 1});  // root, type A, class IN
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = false;
  if (::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) > 0) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) == 1) {
      unsigned char reply[512];
      ssize_t n = ::recv(fd, reply, sizeof(reply), 0);
      ok = n >= 12 && reply[0] == 0x7a && reply[1] == 0x11;
    }
  }
  ::close(fd);
  return ok;
}

void KillAndReap(pid_t pid) {
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 200; ++i) {  // up to 2 s for a clean exit
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace

bool DnsmasqAvailable() { return ::access(kDnsmasqPath, X_OK) == 0; }

base::Result<std::unique_ptr<DnsmasqServer>> DnsmasqServer::Start(
    std::vector<std::string> records) {
  if (!DnsmasqAvailable()) return base::MakeError(std::string(kDnsmasqPath) + " not found");
  std::string last_error;
  // The port is free when we probe it but another process may take it before dnsmasq binds:
  // retry with a new port if dnsmasq exits.
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::uint16_t port = 0;
    int probe = BindLoopback(SOCK_DGRAM, &port);
    if (probe < 0) return base::MakeError("cannot bind a loopback UDP socket");
    ::close(probe);

    std::vector<std::string> args = {kDnsmasqPath,
                                     "--keep-in-foreground",
                                     "--conf-file=/dev/null",
                                     "--pid-file=",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--no-negcache",
                                     "--port=" + std::to_string(port),
                                     "--listen-address=127.0.0.1",
                                     "--bind-interfaces",
                                     "--local=/test/",
                                     std::string("--host-record=") + kReadyName + ",127.0.0.254"};
    args.insert(args.end(), records.begin(), records.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, kDnsmasqPath, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return base::MakeError(std::string("posix_spawn dnsmasq: ") + std::strerror(rc));

    for (int i = 0; i < 50; ++i) {  // up to ~5 s until it answers
      if (Answers(port)) return std::unique_ptr<DnsmasqServer>(new DnsmasqServer(pid, port));
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        last_error = "dnsmasq exited with status " + std::to_string(status);
        break;
      }
    }
    if (pid > 0) {
      KillAndReap(pid);
      last_error = "dnsmasq did not answer within 5 s";
    }
  }
  return base::MakeError(last_error);
}

DnsmasqServer::~DnsmasqServer() { KillAndReap(pid_); }

SilentUdpServer::SilentUdpServer() { fd_ = BindLoopback(SOCK_DGRAM, &port_); }

SilentUdpServer::~SilentUdpServer() {
  if (fd_ >= 0) ::close(fd_);
}

RcodeUdpServer::RcodeUdpServer(int rcode) {
  fd_ = BindLoopback(SOCK_DGRAM, &port_);
  if (fd_ < 0) return;
  thread_ = std::thread([this, rcode] {
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) != 1) continue;
      unsigned char packet[512];
      sockaddr_in peer{};
      socklen_t peer_len = sizeof(peer);
      ssize_t n =
          ::recvfrom(fd_, packet, sizeof(packet), 0, reinterpret_cast<sockaddr*>(&peer), &peer_len);
      if (n < 12) continue;
      ++queries_;
      packet[2] = static_cast<unsigned char>(0x80 | (packet[2] & 0x79));  // QR, keep OPCODE/RD
      packet[3] = static_cast<unsigned char>(0x80 | (rcode & 0x0f));      // RA, RCODE
      for (int i = 6; i < 12; ++i) packet[i] = 0;  // no answer, authority or additional records
      ::sendto(fd_, packet, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&peer),
               peer_len);
    }
  });
}

RcodeUdpServer::~RcodeUdpServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

std::uint16_t UnusedUdpPort() {
  std::uint16_t port = 0;
  int fd = BindLoopback(SOCK_DGRAM, &port);
  if (fd >= 0) ::close(fd);
  return port;
}

}  // namespace tidegate::delivery::testing
