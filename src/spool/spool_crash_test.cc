// Power-cut test: random crashes during concurrent commits, with a control that must fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "spool/spool.h"
#include "spool/testing/fault_filesystem.h"
#include "spool/testing/test_util.h"

namespace tidegate::spool {
namespace {

struct CrashOutcome {
  std::size_t acked = 0;        // messages whose Commit reported ok
  std::size_t lost = 0;         // acknowledged, then missing or different after a crash
  std::size_t resurrected = 0;  // acknowledged as finished, then live again
  std::size_t crashes = 0;
  std::uint64_t relocated = 0;  // compaction ran under the crashes too
  std::uint64_t max_segments = 0;
};

// What the disk under the spool does with a sync. Every mode but kHonest is a CONTROL: the same
// test must then see acknowledged messages lost, or it could not detect a missing sync.
enum class Disk {
  kHonest,     // fsync/fdatasync make data durable; unsynced bytes vanish at a crash
  kNoSync,     // fsync disabled: every sync (data and directory) is a no-op
  kNoDirSync,  // data syncs work, but new files' directory entries never become durable
};

// Runs `iterations` rounds of: open (recover and check), 4 writer threads committing and
// delivering, a crash at a random moment. Everything acknowledged must come back exactly.
CrashOutcome RunCrashes(Disk disk, int iterations, std::uint32_t seed) {
  testing::TempDir tmp;
  testing::FaultFilesystem fs(base::PosixFilesystem());
  fs.SetSyncLies(disk == Disk::kNoSync);
  fs.SetDirSyncLies(disk == Disk::kNoDirSync);
  base::FakeClock clock;
  Options o;
  o.dir = base::JoinPath(tmp.path(), "spool");
  o.fs = &fs;
  o.clock = &clock;
  o.segment_size = 8192;  // rolls, deletions and compaction all happen under the crashes
  o.max_segments_before_compaction = 4;

  std::mutex mu;
  std::map<std::uint64_t, NewMessage> live;  // what the spool must give back (guarded by mu)
  std::set<std::uint64_t> done;              // finished with an acknowledgement (or observed)
  std::set<std::uint64_t> finishing;         // a finish was attempted, result unknown
  CrashOutcome out;
  std::mt19937 rng(seed);

  for (int iter = 0; iter <= iterations; ++iter) {
    auto opened = Spool::Open(o);
    if (!opened) {
      ADD_FAILURE() << "open failed: " << opened.error().message;
      return out;
    }
    std::unique_ptr<Spool> spool = std::move(*opened);
    auto recovered = spool->TakeRecovered();
    std::map<std::uint64_t, MessageMeta> got;
    for (MessageMeta& m : recovered) got[m.mid] = std::move(m);
    std::map<std::uint64_t, NewMessage> next_live;
    for (auto& [mid, msg] : live) {
      auto it = got.find(mid);
      if (it == got.end()) {
        // Gone is fine only if its finish was at least attempted (the record may have landed).
        if (finishing.count(mid)) {
          done.insert(mid);
        } else {
          ++out.lost;
        }
        continue;
      }
      std::string body;
      if (it->second != msg.meta || !spool->ReadBody(mid, body) || body != msg.body) {
        ++out.lost;
      }
    }
    for (auto& [mid, meta] : got) {
      if (done.count(mid)) ++out.resurrected;
      // What recovery shows is stored now (acknowledged or not) and must survive from here on.
      NewMessage m;
      m.meta = meta;
      if (!spool->ReadBody(mid, m.body)) ++out.lost;
      next_live[mid] = std::move(m);
    }
    live = std::move(next_live);
    finishing.clear();
    if (iter == iterations) break;

    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&, t] {
        std::mt19937 r(seed * 31 + static_cast<std::uint32_t>(iter * 4 + t));
        while (!stop) {
          if (r() % 10 < 7) {
            const std::uint64_t mid = spool->NextMid();
            if (mid == 0) continue;
            NewMessage m =
                testing::MakeMessage(mid, 1 + static_cast<int>(r() % 3), 100 + r() % 3000);
            m.meta.body_size = m.body.size();
            if (testing::CommitAndWait(*spool, {m})) {
              std::lock_guard lock(mu);
              live[mid] = std::move(m);
              ++out.acked;
            }
          } else {
            std::uint64_t mid = 0;
            std::size_t rcpts = 0;
            {
              std::lock_guard lock(mu);
              if (live.empty()) continue;
              auto it = live.begin();
              std::advance(it, r() % live.size());
              if (finishing.count(it->first)) continue;
              mid = it->first;
              rcpts = it->second.meta.recipients.size();
              finishing.insert(mid);
            }
            base::Status s;
            if (r() % 2 == 0) {
              s = testing::FinishAndWait(*spool, mid);
            } else {
              StateUpdate u{mid, {}, RecipientState::kDelivered};
              for (std::uint32_t rid = 0; rid < rcpts; ++rid) u.rids.push_back(rid);
              s = testing::CommitAndWait(*spool, {}, {u});
            }
            std::lock_guard lock(mu);
            if (s) {
              live.erase(mid);
              done.insert(mid);
            }
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::microseconds(2000 + rng() % 38000));
    const Spool::Stats stats = spool->stats();
    fs.Crash();
    ++out.crashes;
    out.relocated += stats.relocated;
    out.max_segments = std::max<std::uint64_t>(out.max_segments, stats.segments);
    stop = true;
    for (auto& w : writers) w.join();
    spool.reset();  // the dead process: its queued work fails against the crashed filesystem
    fs.Revive();
  }
  return out;
}

TEST(SpoolCrashTest, AcknowledgedMessagesSurviveRandomCrashesAndLyingSyncLosesThem) {
  const CrashOutcome real = RunCrashes(Disk::kHonest, 50, 1234);
  EXPECT_GT(real.acked, 200u) << "the workload must acknowledge enough to mean something";
  EXPECT_EQ(real.lost, 0u);
  EXPECT_EQ(real.resurrected, 0u);
  EXPECT_EQ(real.crashes, 50u);
  EXPECT_GT(real.relocated, 0u);
  EXPECT_GT(real.max_segments, 2u);
  std::printf("real: acked=%zu lost=%zu resurrected=%zu relocated=%llu max_segments=%llu\n",
              real.acked, real.lost, real.resurrected,
              static_cast<unsigned long long>(real.relocated),
              static_cast<unsigned long long>(real.max_segments));

  // CONTROL: the same test with fsync disabled (syncs return ok, nothing becomes durable) must
  // notice lost messages.
  const CrashOutcome control = RunCrashes(Disk::kNoSync, 10, 1234);
  EXPECT_GT(control.acked, 20u);
  EXPECT_GT(control.lost, 0u) << "the crash test cannot detect a missing fsync";
  std::printf("control (no fsync): acked=%zu lost=%zu\n", control.acked, control.lost);
}

// CONTROL for the directory sync alone: data is fdatasynced, but a segment created since the last
// directory fsync vanishes at a crash, with the acknowledged messages in it. The test must see
// that, or it could not tell that the spool syncs the directory of a new segment.
TEST(SpoolCrashTest, WithoutDirectorySyncNewSegmentsAndTheirMessagesAreLost) {
  const CrashOutcome control = RunCrashes(Disk::kNoDirSync, 10, 4321);
  EXPECT_GT(control.acked, 20u);
  EXPECT_GT(control.lost, 0u) << "the crash test cannot detect a missing directory fsync";
  std::printf("control (no directory fsync): acked=%zu lost=%zu\n", control.acked,
              control.lost);
}

}  // namespace
}  // namespace tidegate::spool
