// tracking_buffer_test.cc — TrackingBuffer without PostgreSQL: numbering, replay after reopen,
// release, the torn tail of a crash, damage, and the max_bytes bound.
#include "telemetry/tracking_buffer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace tidegate::telemetry {
namespace {

namespace fs = std::filesystem;

class TrackingBufferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tracking_buffer_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<TrackingBuffer> Open(std::uint64_t max = 1 << 20, std::uint64_t seg = 4096) {
    TrackingBufferOptions o;
    o.dir = dir_.string();
    o.max_bytes = max;
    o.segment_bytes = seg;
    o.on_drop = [this](const std::string& m) { drops_.push_back(m); };
    auto b = TrackingBuffer::Open(o);
    EXPECT_TRUE(b) << (b ? "" : b.error().message);
    return b ? std::move(*b) : nullptr;
  }
  std::vector<fs::path> Segments() {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::vector<std::string> Payloads(int from, int n) {
    std::vector<std::string> out;
    for (int i = from; i < from + n; ++i) out.push_back("change " + std::to_string(i));
    return out;
  }
  static std::vector<std::uint64_t> Seqs(const std::vector<TrackingBuffer::Record>& recs) {
    std::vector<std::uint64_t> out;
    for (const auto& r : recs) out.push_back(r.seq);
    return out;
  }

  fs::path dir_;
  std::vector<std::string> drops_;
};

TEST_F(TrackingBufferTest, NumbersRecordsAndReadsThemBack) {
  auto b = Open();
  ASSERT_TRUE(b->Append(Payloads(1, 3)));
  ASSERT_TRUE(b->Append(Payloads(4, 2)));
  EXPECT_EQ(b->next_seq(), 6u);
  EXPECT_EQ(b->records(), 5u);
  auto all = b->Read(0, 100);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].seq, 1u);
  EXPECT_EQ((*all)[0].payload, "change 1");
  EXPECT_EQ((*all)[4].payload, "change 5");
  auto tail = b->Read(3, 1);
  ASSERT_TRUE(tail);
  EXPECT_EQ(Seqs(*tail), (std::vector<std::uint64_t>{4}));
}

TEST_F(TrackingBufferTest, ReplaysAfterReopenAndContinuesNumbering) {
  {
    auto b = Open();
    // A call's records share a segment; a new one starts past 4 KiB.
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(b->Append(Payloads(1 + 10 * i, 10)));
    EXPECT_GT(Segments().size(), 1u);
    b->Release(100);
  }
  auto b = Open();
  EXPECT_EQ(b->next_seq(), 301u);
  auto rest = b->Read(100, 1000);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 200u);
  EXPECT_EQ(rest->front().seq, 101u);
  EXPECT_EQ(rest->back().payload, "change 300");
  ASSERT_TRUE(b->Append(Payloads(301, 1)));
  auto last = b->Read(300, 10);
  ASSERT_TRUE(last);
  EXPECT_EQ(Seqs(*last), (std::vector<std::uint64_t>{301}));
}

TEST_F(TrackingBufferTest, ReleaseDeletesWrittenSegments) {
  auto b = Open();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(b->Append(Payloads(1 + 10 * i, 10)));
  const auto before = Segments().size();
  ASSERT_GT(before, 1u);
  b->Release(300);
  EXPECT_EQ(b->records(), 0u);
  EXPECT_EQ(b->bytes(), 0u);
  EXPECT_EQ(Segments().size(), 1u);  // a fresh, empty segment to append to
  ASSERT_TRUE(b->Append(Payloads(301, 1)));
  b.reset();
  auto again = Open();
  EXPECT_EQ(again->next_seq(), 302u);
  auto recs = again->Read(0, 10);
  ASSERT_TRUE(recs);
  EXPECT_EQ(Seqs(*recs), (std::vector<std::uint64_t>{301}));
}

TEST_F(TrackingBufferTest, TornTailIsCutNotFatal) {
  {
    auto b = Open();
    ASSERT_TRUE(b->Append(Payloads(1, 5)));
  }
  const fs::path seg = Segments().back();
  const auto whole = fs::file_size(seg);
  // A crash in the middle of the sixth record's write: half a header and some bytes.
  {
    std::ofstream f(seg, std::ios::binary | std::ios::app);
    f.write("\x20\x00\x00\x00\xde\xad", 6);
  }
  auto b = Open();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->next_seq(), 6u);
  EXPECT_EQ(fs::file_size(seg), whole);
  ASSERT_EQ(b->notes().size(), 1u);
  EXPECT_NE(b->notes()[0].find("unfinished write cut"), std::string::npos);
  ASSERT_TRUE(b->Append(Payloads(6, 1)));
  auto recs = b->Read(0, 10);
  ASSERT_TRUE(recs);
  EXPECT_EQ(recs->size(), 6u);
  EXPECT_EQ(recs->back().payload, "change 6");
}

TEST_F(TrackingBufferTest, CorruptRecordEndsItsSegment) {
  {
    auto b = Open();
    ASSERT_TRUE(b->Append(Payloads(1, 5)));
  }
  const fs::path seg = Segments().back();
  {
    // Flip a byte in the third record's payload: its CRC no longer checks.
    std::fstream f(seg, std::ios::binary | std::ios::in | std::ios::out);
    const std::size_t record = 16 + std::string("change 1").size();
    f.seekp(static_cast<std::streamoff>(2 * record + 16));
    f.put('X');
  }
  auto b = Open();
  ASSERT_NE(b, nullptr);
  auto recs = b->Read(0, 10);
  ASSERT_TRUE(recs);
  EXPECT_EQ(Seqs(*recs), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(b->next_seq(), 3u);
}

TEST_F(TrackingBufferTest, BoundDropsOldestAndSaysSo) {
  auto b = Open(/*max=*/8192, /*seg=*/2048);
  ASSERT_TRUE(b->Append(Payloads(1, 1000)));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(b->Append(Payloads(1001 + i, 1)));
  EXPECT_LE(b->bytes(), 8192u);
  EXPECT_GT(b->dropped(), 0u);
  ASSERT_FALSE(drops_.empty());
  EXPECT_NE(drops_[0].find("oldest changes dropped"), std::string::npos);
  auto recs = b->Read(0, 5000);
  ASSERT_TRUE(recs);
  // What is left is the newest, contiguous up to the last one appended.
  ASSERT_FALSE(recs->empty());
  EXPECT_EQ(recs->back().seq, 1010u);
  EXPECT_EQ(recs->size(), b->records());
  EXPECT_EQ(recs->front().seq + recs->size() - 1, 1010u);
  EXPECT_EQ(b->dropped() + b->records(), 1010u);
}

TEST_F(TrackingBufferTest, SkipToNeverReusesNumbersTheDatabaseHas) {
  auto b = Open();
  ASSERT_TRUE(b->Append(Payloads(1, 2)));
  b->Release(2);
  b->SkipTo(500);
  ASSERT_TRUE(b->Append(Payloads(3, 1)));
  auto recs = b->Read(0, 10);
  ASSERT_TRUE(recs);
  EXPECT_EQ(Seqs(*recs), (std::vector<std::uint64_t>{501}));
  b.reset();
  auto again = Open();
  EXPECT_EQ(again->next_seq(), 502u);
}

}  // namespace
}  // namespace tidegate::telemetry
