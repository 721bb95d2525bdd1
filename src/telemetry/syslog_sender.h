// syslog_sender.h — SyslogSender: sends the mail log's lines to a syslog receiver (CONTRACT §12
// "syslog") over UDP, TCP (RFC 6587 octet counting) or a Unix datagram socket, from a thread of
// its own, so that a slow, absent or refusing receiver never delays mail.
//
// Ownership: the server wiring owns it; the MailLog's writer thread calls Submit() through
// MailLogOptions::mirror, so the sender must outlive the MailLog. It owns one thread and one
// socket.
//
// Threads: Submit() and stats() may be called from any thread. Submit() formats nothing and
// touches no socket: it appends to a bounded queue under a short mutex (or, when the queue holds
// max_buffer_bytes already, drops the line and counts it) and returns. The sender thread formats
// (syslog.h), frames and sends.
//
// Failure: a TCP or Unix socket that cannot connect, or breaks, is reconnected with exponential
// backoff (reconnect_min doubling up to reconnect_max); lines wait in the queue meanwhile, and
// once it is full new lines are dropped and counted. A message whose send broke the connection is
// sent again, whole, on the next one. UDP datagrams refused (ICMP port unreachable) or too large
// are dropped and counted. At destruction the queue gets up to drain_timeout to go out; what is
// left is counted as dropped.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "base/clock.h"
#include "base/result.h"
#include "telemetry/mail_log.h"
#include "telemetry/syslog.h"

namespace tidegate::telemetry {

enum class SyslogTransport { kUdp, kTcp, kUnix };

struct SyslogSenderOptions {
  SyslogTransport transport = SyslogTransport::kUdp;
  std::string host;          // udp, tcp: a name or an IP address
  std::uint16_t port = 514;  // udp, tcp
  std::string path;          // unix: the receiver's datagram socket
  SyslogHeader header;
  // Bound on queued line text (plus a small per-line overhead); the message being sent is held
  // besides.
  std::uint64_t max_buffer_bytes = std::uint64_t{1} << 20;
  std::chrono::milliseconds reconnect_min{200};
  std::chrono::milliseconds reconnect_max{30'000};
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds drain_timeout{2'000};
};

struct SyslogStats {
  std::string target;  // "udp 127.0.0.1:514", "tcp logs.example.com:601", "unix /dev/log"
  bool connected = false;
  std::uint64_t sent = 0;     // messages handed to the socket whole
  std::uint64_t dropped = 0;  // lines lost: buffer full, refused, or left at shutdown
  std::uint64_t queued = 0;   // lines waiting now
  std::string last_error;     // the last connect or send failure, empty if none yet
};

class SyslogSender {
 public:
  // Starts the sender thread (connecting happens there). Fails only when no thread can start.
  static base::Result<std::unique_ptr<SyslogSender>> Start(SyslogSenderOptions options);
  ~SyslogSender();
  SyslogSender(const SyslogSender&) = delete;
  SyslogSender& operator=(const SyslogSender&) = delete;

  // Queues one mail-log line (the text after the timestamp, e.g. "Info: Start MID 1 ICID 2") with
  // its time and level. Never blocks on I/O.
  void Submit(base::SystemTime time, Level level, std::string_view line);

  SyslogStats stats() const;
  // Lines lost so far (the figure behind the metric tidegate_syslog_dropped_total).
  std::uint64_t dropped() const { return dropped_.load(); }

 private:
  struct Entry {
    base::SystemTime time;
    Level level;
    std::string line;
  };
  enum class SendResult { kSent, kDropped, kBroken, kAborted };

  explicit SyslogSender(SyslogSenderOptions options);
  void Run();
  bool Connect();
  bool TcpPeerClosed();
  SendResult Send(std::string_view wire);
  bool WaitWritable();
  void Disconnect(std::string error);
  void SetError(std::string error);
  std::string Describe() const;

  const SyslogSenderOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Entry> queue_;
  std::uint64_t queued_bytes_ = 0;
  bool stop_ = false;
  std::chrono::steady_clock::time_point drain_deadline_{};
  std::string last_error_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> dropped_{0};

  // Sender thread only.
  int fd_ = -1;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point next_connect_{};
  std::thread thread_;
};

}  // namespace tidegate::telemetry
