// scripted_peer.h — an in-process SMTP peer behind the Transport interface, for unit tests of
// the delivery connection and the QueueManager without sockets.
//
// One ScriptedPeer stands for a next hop; every transport made by its Factory() is one
// connection to it. The peer answers SMTP commands at once from its Script (refuse the connect,
// a greeting, STARTTLS offered and succeeding or not, a reply per RCPT, the final dot's reply,
// cutting the connection at DATA), and keeps a Journal of what happened: connects, sessions that
// became ready, transactions, recipients, and the deadlines the client gave each read. A read
// with nothing to answer (a peer that never speaks) reports a timeout at once; a test checks the
// deadline the client gave it instead of waiting for it. Idle connections hear nothing until
// DropIdle() makes the peer close them.
//
// Single-threaded, on the io_context of the code under test.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "delivery/transport.h"

namespace tidegate::delivery::testing {

struct Script {
  bool refuse_connect = false;
  bool silent = false;  // accepts TCP and never sends a greeting
  std::string greeting = "220 peer.test ESMTP";
  bool offer_starttls = true;
  bool tls_handshake_ok = true;
  // The reply to RCPT TO:<address>; default "250 2.1.5 ok".
  std::function<std::string(const std::string& address)> rcpt_reply;
  std::string data_reply = "250 2.0.0 queued";
  bool cut_at_data = false;  // closes the connection instead of answering DATA
};

struct Journal {
  int connects = 0;  // TCP connections accepted (refused ones not counted)
  int refused = 0;
  int open = 0;                    // connections open now
  int max_open = 0;                // the most open at once
  int ready = 0;                   // sessions that got through EHLO (and STARTTLS)
  int tls = 0;                     // successful STARTTLS handshakes
  int transactions = 0;            // final dots answered with 2xx
  std::vector<std::string> rcpts;  // every RCPT TO address, in order
  std::vector<std::string> mail_froms;
  // "connect" (an attempt, refused or not), "ehlo", "cut", "drop", "close", in the order they
  // happened (probing tests read it).
  std::vector<std::string> events;
  // Deadlines the client gave reads, relative to the moment of the read.
  std::vector<std::chrono::steady_clock::duration> read_budgets;
};

class ScriptedPeer {
 public:
  explicit ScriptedPeer(boost::asio::any_io_executor executor);
  ~ScriptedPeer();

  Script script;
  Journal journal;
  HostCandidate address;  // what peer() reports

  TransportFactory Factory();
  // Every idle connection now hears the peer close it.
  void DropIdle();

  class Connection;  // one transport (scripted_peer.cc)

 private:
  friend class Connection;
  boost::asio::any_io_executor executor_;
  std::set<Connection*> live_;
};

}  // namespace tidegate::delivery::testing
