// test_util.h — helpers shared by the spool unit tests: temp dirs, messages, blocking commits.
// Test-only; header-only. Functions are thread-safe unless noted.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "spool/spool.h"

namespace tidegate::spool::testing {

// A fresh directory under /tmp, removed with its content when the object dies.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tidegate-spool-XXXXXX";
    path_ = ::mkdtemp(tmpl) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A message with `rcpts` pending recipients and a body that names its mid (CRLF lines).
inline NewMessage MakeMessage(std::uint64_t mid, int rcpts = 1, std::size_t body_size = 200) {
  NewMessage m;
  m.meta.mid = mid;
  m.meta.icid = mid * 7;
  m.meta.sender = "sender" + std::to_string(mid) + "@example.org";
  for (int i = 0; i < rcpts; ++i) {
    m.meta.recipients.push_back({static_cast<std::uint32_t>(i),
                                 "user" + std::to_string(i) + "@example.com",
                                 RecipientState::kPending});
  }
  m.meta.policy = "DEFAULT";
  m.meta.destination = "example.com";
  m.meta.attrs["message-id"] = "<" + std::to_string(mid) + "@example.org>";
  m.meta.received = base::SystemTime(std::chrono::seconds(1700000000 + mid));
  std::string head = "Subject: message " + std::to_string(mid) + "\r\n\r\n";
  m.body = head;
  while (m.body.size() + 2 < body_size)
    m.body += static_cast<char>('a' + (mid + m.body.size()) % 26);
  m.body += "\r\n";
  return m;
}

// Commits and waits for the callback (bounded: a hang fails the test instead of blocking ctest).
inline base::Status CommitAndWait(Spool& spool, std::vector<NewMessage> messages,
                                  std::vector<StateUpdate> updates = {}) {
  auto promise = std::make_shared<std::promise<base::Status>>();
  auto future = promise->get_future();
  spool.Commit(std::move(messages), std::move(updates),
               [promise](base::Status s) { promise->set_value(std::move(s)); });
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return base::MakeError("test: commit callback never ran");
  }
  return future.get();
}

inline base::Status FinishAndWait(Spool& spool, std::uint64_t mid) {
  auto promise = std::make_shared<std::promise<base::Status>>();
  auto future = promise->get_future();
  spool.Finish(mid, [promise](base::Status s) { promise->set_value(std::move(s)); });
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return base::MakeError("test: finish callback never ran");
  }
  return future.get();
}

// An empty commit is a barrier: it returns after the maintenance of the batches before it.
inline void Barrier(Spool& spool) { (void)CommitAndWait(spool, {}); }

}  // namespace tidegate::spool::testing

namespace tidegate::spool::testing {

// Polls `done` until it holds or `timeout` passes (maintenance runs asynchronously).
template <typename Pred>
bool Eventually(Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace tidegate::spool::testing
