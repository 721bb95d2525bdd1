// scripted_peer.cc — see scripted_peer.h.
#include "delivery/testing/scripted_peer.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tidegate::delivery::testing {

namespace asio = boost::asio;

class ScriptedPeer::Connection final : public Transport {
 public:
  Connection(ScriptedPeer& peer) : peer_(peer), idle_(peer.executor_) { peer_.live_.insert(this); }
  ~Connection() override {
    Close();
    peer_.live_.erase(this);
  }

  asio::awaitable<bool> Connect(const std::vector<HostCandidate>& candidates,
                                std::chrono::milliseconds, Deadline, std::string& error) override {
    // A connection attempt is seen at once; it takes a turn of the event loop to complete, as a
    // real one does, so connections opened together are all attempted before any is through
    // (probing tests count them).
    Journal& j = peer_.journal;
    j.events.push_back("connect");
    co_await asio::post(peer_.executor_, asio::use_awaitable);
    if (peer_.script.refuse_connect) {
      ++j.refused;
      error = "connection refused";
      co_return false;
    }
    host_ = candidates.empty() ? peer_.address : candidates.front();
    ++j.connects;
    j.max_open = std::max(j.max_open, ++j.open);
    connected_ = true;
    if (!peer_.script.silent) Say(peer_.script.greeting);
    co_return true;
  }

  asio::awaitable<IoStatus> Read(std::string& out, Deadline deadline) override {
    peer_.journal.read_budgets.push_back(deadline - std::chrono::steady_clock::now());
    if (!out_.empty()) {
      out += out_;
      out_.clear();
      co_return IoStatus::kOk;
    }
    co_return hung_up_ ? IoStatus::kClosed : IoStatus::kTimeout;
  }

  asio::awaitable<IoStatus> Write(std::string_view data, Deadline) override {
    if (hung_up_) co_return IoStatus::kError;
    in_.append(data);
    std::size_t eol;
    while (!hung_up_ && (eol = in_.find("\r\n")) != std::string::npos) {
      const std::string line = in_.substr(0, eol);
      in_.erase(0, eol + 2);
      Hear(line);
    }
    co_return IoStatus::kOk;
  }

  asio::awaitable<boost::system::error_code> WaitReadable() override {
    if (hung_up_ || !out_.empty()) co_return boost::system::error_code{};
    idle_.expires_at(std::chrono::steady_clock::time_point::max());
    auto [ec] = co_await idle_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (hung_up_) co_return boost::system::error_code{};  // DropIdle(): EOF to read
    co_return ec;
  }

  asio::awaitable<bool> StartTls(asio::ssl::context&, const std::string&, bool, Deadline,
                                 std::string& error) override {
    if (!peer_.script.tls_handshake_ok) {
      error = "certificate verify failed";
      co_return false;
    }
    tls_ = true;
    ++peer_.journal.tls;
    protocol_ = "TLSv1.3";
    cipher_ = "TLS_AES_256_GCM_SHA384";
    co_return true;
  }

  void Close() override {
    if (!connected_ || closed_) return;
    closed_ = true;
    --peer_.journal.open;
    peer_.journal.events.push_back("close");
  }

  const std::string& tls_protocol() const override { return protocol_; }
  const std::string& tls_cipher() const override { return cipher_; }
  const HostCandidate& peer() const override { return host_; }
  std::string local_ip() const override { return "127.0.0.1"; }

  void HangUp(const char* event) {
    if (hung_up_ || closed_) return;
    hung_up_ = true;
    out_.clear();
    peer_.journal.events.push_back(event);
    idle_.cancel();
  }

 private:
  void Say(const std::string& reply) { out_ += reply + "\r\n"; }

  void Hear(const std::string& line) {
    const Script& script = peer_.script;
    Journal& j = peer_.journal;
    if (in_data_) {
      if (line != ".") return;
      in_data_ = false;
      Say(script.data_reply);
      if (!script.data_reply.empty() && script.data_reply[0] == '2') ++j.transactions;
      return;
    }
    std::string verb = line.substr(0, line.find(' '));
    std::transform(verb.begin(), verb.end(), verb.begin(), ::toupper);
    if (verb == "EHLO" || verb == "HELO") {
      std::vector<std::string> caps{"peer.test", "8BITMIME", "SMTPUTF8"};
      if (script.offer_starttls && !tls_) caps.push_back("STARTTLS");
      std::string reply;
      for (std::size_t i = 0; i < caps.size(); ++i) {
        reply += "250" + std::string(i + 1 < caps.size() ? "-" : " ") + caps[i] + "\r\n";
      }
      out_ += reply;
      j.events.push_back("ehlo");
    } else if (verb == "STARTTLS") {
      Say("220 2.0.0 ready for TLS");
    } else if (verb == "MAIL") {
      j.mail_froms.push_back(line);
      Say("250 2.1.0 ok");
    } else if (verb == "RCPT") {
      const auto open = line.find('<');
      const auto close = line.rfind('>');
      const std::string address =
          open != std::string::npos && close > open ? line.substr(open + 1, close - open - 1) : "";
      j.rcpts.push_back(address);
      Say(script.rcpt_reply ? script.rcpt_reply(address) : "250 2.1.5 ok");
    } else if (verb == "DATA") {
      if (script.cut_at_data) {
        HangUp("cut");
        return;
      }
      in_data_ = true;
      Say("354 go ahead");
    } else if (verb == "RSET" || verb == "NOOP") {
      Say("250 2.0.0 ok");
    } else if (verb == "QUIT") {
      Say("221 2.0.0 bye");
    } else {
      Say("500 5.5.1 unknown command");
    }
  }

  ScriptedPeer& peer_;
  asio::steady_timer idle_;
  HostCandidate host_;
  std::string in_, out_, protocol_, cipher_;
  bool connected_ = false, closed_ = false, hung_up_ = false, tls_ = false, in_data_ = false;
};

ScriptedPeer::ScriptedPeer(asio::any_io_executor executor) : executor_(std::move(executor)) {
  address.host = "peer.test";
  address.address = asio::ip::make_address("192.0.2.25");
  address.port = 25;
}

ScriptedPeer::~ScriptedPeer() = default;

TransportFactory ScriptedPeer::Factory() {
  return [this] { return std::make_unique<Connection>(*this); };
}

void ScriptedPeer::DropIdle() {
  for (Connection* c : std::vector<Connection*>(live_.begin(), live_.end())) c->HangUp("drop");
}

}  // namespace tidegate::delivery::testing
