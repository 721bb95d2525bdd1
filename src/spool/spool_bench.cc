// spool_bench — measures group commit on this disk: N threads each commit a 4 KiB message and
// wait for its acknowledgement (as an SMTP session waits before its 250), for a few seconds.
// Usage: spool_bench [--threads N] [--seconds S] [--size BYTES] [--dir PATH]
// Prints one key=value line (the format bench/series.sh summarises). Not run by ctest.
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "spool/spool.h"

using namespace tidegate;

int main(int argc, char** argv) {
  int threads = 8;
  double seconds = 5;
  std::size_t size = 4096;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds"))
      seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--size"))
      size = std::strtoul(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--dir"))
      dir = argv[i + 1];
  }
  if (argc % 2 == 0 || threads < 1 || seconds <= 0) {
    std::fprintf(stderr, "usage: %s [--threads N] [--seconds S] [--size BYTES] [--dir PATH]\n",
                 argv[0]);
    return 2;
  }
  std::string made;
  if (dir.empty()) {
    char tmpl[] = "/tmp/spool-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 1;
    dir = made = tmpl;
  }
  spool::Options o;
  o.dir = dir;
  auto opened = spool::Spool::Open(o);
  if (!opened) {
    std::fprintf(stderr, "open: %s\n", opened.error().message.c_str());
    return 1;
  }
  auto& sp = **opened;
  const std::string body(size, 'x');
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> acked{0}, failed{0};
  const auto before = sp.stats();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (!stop) {
        spool::NewMessage m;
        m.meta.mid = sp.NextMid();
        m.meta.sender = "bench@bench.local";
        m.meta.recipients.push_back({0, "user@example.com", spool::RecipientState::kPending});
        m.body = body;
        std::promise<bool> p;
        sp.Commit({std::move(m)}, {}, [&p](base::Status s) { p.set_value(s.ok()); });
        (p.get_future().get() ? acked : failed)++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto after = sp.stats();
  const double fsyncs = static_cast<double>(after.fsyncs - before.fsyncs);
  std::printf(
      "spool_bench threads=%d size=%zu seconds=%.2f commits=%llu failed=%llu commits_per_s=%.0f "
      "fsyncs_per_s=%.0f commits_per_fsync=%.1f MiB_per_s=%.1f segments=%zu\n",
      threads, size, wall, static_cast<unsigned long long>(acked.load()),
      static_cast<unsigned long long>(failed.load()), static_cast<double>(acked) / wall,
      fsyncs / wall, fsyncs > 0 ? static_cast<double>(acked) / fsyncs : 0.0,
      static_cast<double>(acked) * static_cast<double>(size) / wall / (1 << 20), after.segments);
  opened->reset();
  if (!made.empty()) std::system(("rm -rf '" + made + "'").c_str());
  return failed == 0 ? 0 : 1;
}
