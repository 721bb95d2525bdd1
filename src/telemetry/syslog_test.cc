// syslog_test.cc — syslog message building (PRI, RFC 5424 / 3164 headers, octet counting) and
// SyslogSender against real loopback sockets: UDP and TCP receivers, a refused TCP port, a
// receiver that stops reading.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "telemetry/syslog.h"
#include "telemetry/syslog_sender.h"

namespace tidegate::telemetry {
namespace {

using namespace std::chrono_literals;

// Fri Feb 16 21:19:22.123 2024 UTC; 15:19:22 in America/Chicago (UTC-6 in February).
const base::SystemTime kStamp =
    base::SystemTime(std::chrono::milliseconds(int64_t{1708118362} * 1000 + 123));
// Sat Mar  2 09:05:03 2024 UTC: a single-digit day.
const base::SystemTime kMar2 = base::SystemTime(std::chrono::seconds(1709370303));

void SetTimeZone(const char* tz) {
  ::setenv("TZ", tz, 1);
  ::tzset();
}

TEST(SyslogTest, SeveritiesAndPri) {
  EXPECT_EQ(SyslogSeverity(Level::kDebug), 7);
  EXPECT_EQ(SyslogSeverity(Level::kInfo), 6);
  EXPECT_EQ(SyslogSeverity(Level::kWarning), 4);
  EXPECT_EQ(SyslogSeverity(Level::kCritical), 2);
  EXPECT_EQ(SyslogPri(2, Level::kInfo), 22);      // mail.info
  EXPECT_EQ(SyslogPri(2, Level::kCritical), 18);  // mail.crit
  EXPECT_EQ(SyslogPri(23, Level::kDebug), 191);   // local7.debug
  EXPECT_EQ(SyslogPri(0, Level::kWarning), 4);    // kern.warning
}

TEST(SyslogTest, Rfc5424LocalTimeWithOffset) {
  SetTimeZone("America/Chicago");
  const SyslogHeader h{SyslogFormat::kRfc5424, 2, "gw.example.com", 4242};
  EXPECT_EQ(FormatSyslog(h, kStamp, Level::kInfo, "Info: Start MID 1 ICID 2"),
            "<22>1 2024-02-16T15:19:22.123-06:00 gw.example.com mail_logs 4242 - - "
            "Info: Start MID 1 ICID 2");
  SetTimeZone("UTC");
  EXPECT_EQ(FormatSyslog(h, kStamp, Level::kWarning, "Warning: w"),
            "<20>1 2024-02-16T21:19:22.123+00:00 gw.example.com mail_logs 4242 - - Warning: w");
  SetTimeZone("Asia/Kolkata");  // +05:30: the minutes of the offset
  EXPECT_EQ(FormatSyslog(h, kStamp, Level::kCritical, "Critical: c"),
            "<18>1 2024-02-17T02:49:22.123+05:30 gw.example.com mail_logs 4242 - - Critical: c");
}

TEST(SyslogTest, Rfc3164SpacePaddedDay) {
  SetTimeZone("UTC");
  const SyslogHeader h{SyslogFormat::kRfc3164, 16, "gw.example.com", 7};
  EXPECT_EQ(FormatSyslog(h, kStamp, Level::kInfo, "Info: x"),
            "<134>Feb 16 21:19:22 gw.example.com mail_logs[7]: Info: x");
  EXPECT_EQ(FormatSyslog(h, kMar2, Level::kDebug, "Debug: y"),
            "<135>Mar  2 09:05:03 gw.example.com mail_logs[7]: Debug: y");
}

TEST(SyslogTest, OctetCountingCountsBytesNotCharacters) {
  EXPECT_EQ(OctetCounted("<22>1 x"), "7 <22>1 x");
  EXPECT_EQ(OctetCounted(""), "0 ");
  EXPECT_EQ(OctetCounted("K\xc3\xb6ln"), "5 K\xc3\xb6ln");  // ö is two octets
}

// ---- SyslogSender against loopback sockets ----

int Bound(int type, std::uint16_t* port) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// Reads until `want` bytes or the timeout.
std::string ReadAtLeast(int fd, std::size_t want, std::chrono::milliseconds timeout = 10s) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[65536];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

SyslogSenderOptions Options(SyslogTransport transport, std::uint16_t port) {
  SyslogSenderOptions o;
  o.transport = transport;
  o.host = "127.0.0.1";
  o.port = port;
  o.header = SyslogHeader{SyslogFormat::kRfc5424, 2, "gw.test", 99};
  o.reconnect_min = 50ms;
  o.reconnect_max = 200ms;
  return o;
}

TEST(SyslogSenderTest, UdpOneDatagramPerLine) {
  SetTimeZone("UTC");
  std::uint16_t port = 0;
  const int rx = Bound(SOCK_DGRAM, &port);
  auto sender = SyslogSender::Start(Options(SyslogTransport::kUdp, port));
  ASSERT_TRUE(sender);
  (*sender)->Submit(kStamp, Level::kInfo, "Info: one");
  (*sender)->Submit(kStamp, Level::kWarning, "Warning: two");
  EXPECT_EQ(ReadAtLeast(rx, 1),
            "<22>1 2024-02-16T21:19:22.123+00:00 gw.test mail_logs 99 - - Info: one");
  EXPECT_EQ(ReadAtLeast(rx, 1),
            "<20>1 2024-02-16T21:19:22.123+00:00 gw.test mail_logs 99 - - Warning: two");
  sender->reset();
  ::close(rx);
}

TEST(SyslogSenderTest, TcpOctetCountedAndReconnectsAfterTheReceiverCloses) {
  SetTimeZone("UTC");
  std::uint16_t port = 0;
  const int listener = Bound(SOCK_STREAM, &port);
  ASSERT_EQ(::listen(listener, 4), 0);
  auto sender = SyslogSender::Start(Options(SyslogTransport::kTcp, port));
  ASSERT_TRUE(sender);
  const std::string m1 = "<22>1 2024-02-16T21:19:22.123+00:00 gw.test mail_logs 99 - - Info: a";
  (*sender)->Submit(kStamp, Level::kInfo, "Info: a");
  int conn = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  EXPECT_EQ(ReadAtLeast(conn, m1.size() + 3), std::to_string(m1.size()) + " " + m1);
  ::close(conn);  // the receiver goes away while the sender is idle
  std::this_thread::sleep_for(100ms);
  (*sender)->Submit(kStamp, Level::kInfo, "Info: b");
  conn = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  const std::string m2 = "<22>1 2024-02-16T21:19:22.123+00:00 gw.test mail_logs 99 - - Info: b";
  EXPECT_EQ(ReadAtLeast(conn, m2.size() + 3), std::to_string(m2.size()) + " " + m2);
  // The count follows the send: the receiver may have the bytes a moment before.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((*sender)->stats().sent < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ((*sender)->stats().sent, 2u);
  EXPECT_EQ((*sender)->stats().dropped, 0u);
  sender->reset();
  ::close(conn);
  ::close(listener);
}

TEST(SyslogSenderTest, RefusedTcpPortNeverBlocksSubmitAndCountsDrops) {
  std::uint16_t port = 0;
  const int closed = Bound(SOCK_STREAM, &port);  // bound, never listening: connect is refused
  SyslogSenderOptions o = Options(SyslogTransport::kTcp, port);
  o.max_buffer_bytes = 64 * 1024;
  auto sender = SyslogSender::Start(o);
  ASSERT_TRUE(sender);
  const std::string line = "Info: " + std::string(200, 'x');
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10'000; ++i) (*sender)->Submit(kStamp, Level::kInfo, line);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 1s);  // about 10 ms: Submit only queues
  const SyslogStats s = (*sender)->stats();
  EXPECT_FALSE(s.connected);
  EXPECT_GT(s.dropped, 9'000u);  // 64 KiB holds about 240 such lines
  EXPECT_LE(s.queued, 250u);
  const auto stop = std::chrono::steady_clock::now();
  sender->reset();  // a receiver that is down is not waited for
  EXPECT_LT(std::chrono::steady_clock::now() - stop, 1s);
  ::close(closed);
}

TEST(SyslogSenderTest, ReceiverThatStopsReadingFillsTheBufferThenDrops) {
  std::uint16_t port = 0;
  const int listener = Bound(SOCK_STREAM, &port);
  ASSERT_EQ(::listen(listener, 4), 0);
  SyslogSenderOptions o = Options(SyslogTransport::kTcp, port);
  o.max_buffer_bytes = 64 * 1024;
  o.drain_timeout = 300ms;
  auto sender = SyslogSender::Start(o);
  ASSERT_TRUE(sender);
  (*sender)->Submit(kStamp, Level::kInfo, "Info: hello");
  const int conn = ::accept(listener, nullptr, nullptr);  // accepted, then never read
  ASSERT_GE(conn, 0);
  const std::string line = "Info: " + std::string(1000, 'y');
  const auto start = std::chrono::steady_clock::now();
  // Far more than the kernel's socket buffers and our 64 KiB hold.
  for (int i = 0; i < 40'000; ++i) (*sender)->Submit(kStamp, Level::kInfo, line);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_GT((*sender)->stats().dropped, 0u);
  const auto stop = std::chrono::steady_clock::now();
  sender->reset();  // gives up after drain_timeout
  EXPECT_LT(std::chrono::steady_clock::now() - stop, 2s);
  ::close(conn);
  ::close(listener);
}

}  // namespace
}  // namespace tidegate::telemetry
