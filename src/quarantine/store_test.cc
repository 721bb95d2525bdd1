// store_test.cc — the quarantine store: durable across reopen, one copy per MID, search and
// paging, damaged files set aside, retention and size bounds oldest first.
#include "quarantine/store.h"

#include <gtest/gtest.h>

#include <fstream>

#include "spool/testing/test_util.h"

namespace tidegate::quarantine {
namespace {

spool::MessageMeta Meta(std::uint64_t mid, std::string subject = "hello") {
  spool::MessageMeta m;
  m.mid = mid;
  m.icid = 3;
  m.sender = "spammer@bad.example";
  m.policy = "DEFAULT";
  m.received = base::SystemTime(std::chrono::seconds(1700000000));
  m.recipients.push_back({0, "alice@example.com", spool::RecipientState::kPending});
  m.recipients.push_back({2, "bob@example.com", spool::RecipientState::kPending});
  m.attrs["subject"] = std::move(subject);
  m.attrs["message_id"] = "<" + std::to_string(mid) + "@bad.example>";
  return m;
}

class StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open() {
    auto s = Store::Open(dir_.path(), &base::PosixFilesystem(), &clock_);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }
  spool::testing::TempDir dir_;
  base::FakeClock clock_;
};

TEST_F(StoreTest, PutSurvivesReopenWithMetaAndExactBytes) {
  const std::string body = std::string("Subject: hello\r\n\r\nbinary\0body\r\n", 30);
  {
    auto store = Open();
    ASSERT_TRUE(store->Put(kSpam, Meta(7), body, "spam score 60.00"));
  }
  auto store = Open();
  auto e = store->Get(7);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->quarantine, "Spam");
  EXPECT_EQ(e->meta, Meta(7));
  EXPECT_EQ(e->reason, "spam score 60.00");
  EXPECT_EQ(e->size, body.size());
  EXPECT_EQ(e->stored, clock_.Now());
  std::string out;
  ASSERT_TRUE(store->ReadMessage(7, out));
  EXPECT_EQ(out, body);
  EXPECT_TRUE(store->notes().empty());
}

TEST_F(StoreTest, SameMidTwiceKeepsOneCopyEvenAcrossQuarantines) {
  auto store = Open();
  ASSERT_TRUE(store->Put(kSpam, Meta(7), "a\r\n", "first"));
  ASSERT_TRUE(store->Put(kSpam, Meta(7), "b\r\n", "second"));
  ASSERT_TRUE(store->Put(kVirus, Meta(7), "c\r\n", "third"));
  EXPECT_EQ(store->List({}).total, 1u);
  EXPECT_FALSE(base::PosixFilesystem().Exists(dir_.path() + "/Spam/7.msg"));
  auto reopened = Open();
  EXPECT_EQ(reopened->List({}).total, 1u);
  EXPECT_EQ(reopened->Get(7)->quarantine, "Virus");
  std::string out;
  ASSERT_TRUE(reopened->ReadMessage(7, out));
  EXPECT_EQ(out, "c\r\n");
}

TEST_F(StoreTest, ListFiltersSearchesAndPagesNewestFirst) {
  auto store = Open();
  for (std::uint64_t mid = 1; mid <= 5; ++mid) {
    clock_.Advance(std::chrono::seconds(1));
    ASSERT_TRUE(store->Put(mid % 2 ? kSpam : kVirus, Meta(mid, "offer " + std::to_string(mid)),
                           "x\r\n", "r"));
  }
  Page spam = store->List(Query{.quarantine = "Spam", .search = ""});
  ASSERT_EQ(spam.total, 3u);
  EXPECT_EQ(spam.entries[0].meta.mid, 5u);
  EXPECT_EQ(spam.entries[2].meta.mid, 1u);
  EXPECT_EQ(store->List(Query{.quarantine = "", .search = "OFFER 4"}).entries.at(0).meta.mid, 4u);
  EXPECT_EQ(store->List(Query{.quarantine = "", .search = "BOB@example"}).total, 5u);
  EXPECT_EQ(store->List(Query{.quarantine = "", .search = "nobody"}).total, 0u);
  Page page = store->List(Query{.quarantine = "", .search = "", .offset = 1, .limit = 2});
  EXPECT_EQ(page.total, 5u);
  ASSERT_EQ(page.entries.size(), 2u);
  EXPECT_EQ(page.entries[0].meta.mid, 4u);
  EXPECT_EQ(page.entries[1].meta.mid, 3u);
}

TEST_F(StoreTest, DeleteRemovesForGood) {
  {
    auto store = Open();
    ASSERT_TRUE(store->Put(kSpam, Meta(7), "a\r\n", "r"));
    ASSERT_TRUE(store->Delete(7));
    EXPECT_FALSE(store->Delete(7));
    EXPECT_FALSE(store->Get(7));
  }
  EXPECT_FALSE(Open()->Get(7));
}

TEST_F(StoreTest, DamagedAndUnfinishedFilesAreSetAsideNotFatal) {
  {
    auto store = Open();
    ASSERT_TRUE(store->Put(kSpam, Meta(7), "a\r\n", "r"));
  }
  std::ofstream(dir_.path() + "/Spam/8.msg") << "TGQ1 500\n{\"meta\":";
  std::ofstream(dir_.path() + "/Spam/9.msg") << "garbage";
  std::ofstream(dir_.path() + "/Virus/10.msg.tmp") << "half";
  auto store = Open();
  EXPECT_EQ(store->List({}).total, 1u);
  EXPECT_EQ(store->notes().size(), 2u);
  EXPECT_FALSE(base::PosixFilesystem().Exists(dir_.path() + "/Virus/10.msg.tmp"));
  EXPECT_TRUE(base::PosixFilesystem().Exists(dir_.path() + "/damaged/Spam-9.msg"));
}

TEST_F(StoreTest, ExpiresPastRetentionThenOldestBeyondMaxSize) {
  auto store = Open();
  const std::string kb(1024, 'x');
  for (std::uint64_t mid = 1; mid <= 4; ++mid) {
    ASSERT_TRUE(store->Put(kSpam, Meta(mid), kb, "r"));
    clock_.Advance(std::chrono::hours(1));
  }
  // Retention 3.5 h: MID 1 (4 h old) goes.
  config::QuarantineSettings settings{.retention = std::chrono::minutes(210), .max_size = 1 << 20};
  auto removed = store->Expire(settings);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].meta.mid, 1u);
  // 3 KiB held, 2 KiB allowed: the oldest (MID 2) goes.
  settings.max_size = 2048;
  removed = store->Expire(settings);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].meta.mid, 2u);
  EXPECT_EQ(store->List({}).total, 2u);
  EXPECT_EQ(Open()->List({}).total, 2u);
}

}  // namespace
}  // namespace tidegate::quarantine
