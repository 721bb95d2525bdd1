#include "intake/store.h"

#include <gtest/gtest.h>

#include "spool/testing/fault_filesystem.h"
#include "spool/testing/test_util.h"

namespace tidegate::intake {
namespace {

using spool::testing::TempDir;

MessageRecord Sample(std::uint64_t id, std::string account = "demo") {
  MessageRecord m;
  m.id = id;
  m.account = std::move(account);
  m.received_at = base::SystemTime(std::chrono::milliseconds(1708118362123));
  m.remote_ip = "192.0.2.7";
  m.sender = "alice@example.org";
  m.recipients = {"bob@example.com", "carol@example.com"};
  m.subject = "quarterly numbers";
  m.message_id = "<q1@example.org>";
  m.journal = true;
  return m;
}

TEST(Store, SavesFileAndIndexRowThatReadBackExactly) {
  TempDir dir;
  auto store = Store::Open(dir.path(), &base::PosixFilesystem());
  ASSERT_TRUE(store) << store.error().message;
  MessageRecord m = Sample(42);
  using namespace std::string_literals;
  const std::string raw = "Subject: x\r\n\r\nbody\r\n.dotted\r\n\x00\xff end"s;
  ASSERT_TRUE((*store)->SaveMessage(m, raw));
  EXPECT_EQ(m.path, "messages/demo/42.eml");
  EXPECT_EQ(m.size, raw.size());

  auto file = base::PosixFilesystem().ReadWholeFile(dir.path() + "/messages/demo/42.eml");
  ASSERT_TRUE(file);
  EXPECT_EQ(*file, raw);

  auto found = (*store)->FindMessage(42);
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  const MessageRecord& r = **found;
  EXPECT_EQ(r.account, "demo");
  EXPECT_EQ(r.received_at, m.received_at);
  EXPECT_EQ(r.remote_ip, "192.0.2.7");
  EXPECT_EQ(r.sender, "alice@example.org");
  EXPECT_EQ(r.recipients, m.recipients);
  EXPECT_EQ(r.subject, "quarterly numbers");
  EXPECT_EQ(r.message_id, "<q1@example.org>");
  EXPECT_TRUE(r.journal);
  EXPECT_EQ(r.size, raw.size());
  auto bytes = (*store)->ReadRaw(r);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, raw);

  auto missing = (*store)->FindMessage(43);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST(Store, ListsPerAccountInArrivalOrderAndLimitsToTheNewest) {
  TempDir dir;
  auto store = Store::Open(dir.path(), &base::PosixFilesystem());
  ASSERT_TRUE(store);
  for (std::uint64_t id : {5, 7, 9, 11}) {
    MessageRecord m = Sample(id, id == 7 ? "sales" : "demo");
    ASSERT_TRUE((*store)->SaveMessage(m, "x"));
  }
  auto all = (*store)->ListMessages("demo");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, 5u);
  EXPECT_EQ((*all)[2].id, 11u);
  auto newest = (*store)->ListMessages("demo", 2);
  ASSERT_TRUE(newest);
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].id, 9u);
  EXPECT_EQ((*newest)[1].id, 11u);
  auto counts = (*store)->CountByAccount();
  ASSERT_TRUE(counts);
  EXPECT_EQ((*counts)["demo"], 3u);
  EXPECT_EQ((*counts)["sales"], 1u);
  EXPECT_EQ(*(*store)->MaxMessageId(), 11u);
}

TEST(Store, RefusesDuplicateIdsAndUnsafeAccountNames) {
  TempDir dir;
  auto store = Store::Open(dir.path(), &base::PosixFilesystem());
  ASSERT_TRUE(store);
  MessageRecord a = Sample(1);
  ASSERT_TRUE((*store)->SaveMessage(a, "first"));
  MessageRecord b = Sample(1);
  EXPECT_FALSE((*store)->SaveMessage(b, "second"));
  for (const char* name : {"..", ".hidden", "a/b", ""}) {
    MessageRecord m = Sample(2, name);
    EXPECT_FALSE((*store)->SaveMessage(m, "x")) << name;
  }
  EXPECT_FALSE(base::PosixFilesystem().Exists(dir.path() + "/2.eml"));
  EXPECT_TRUE(IsSafeAccountName("sales.eu-1_x"));
  EXPECT_FALSE(IsSafeAccountName(std::string(65, 'a')));
}

TEST(Store, SurvivesReopeningWithMessagesAndAccounts) {
  TempDir dir;
  {
    auto store = Store::Open(dir.path(), &base::PosixFilesystem());
    ASSERT_TRUE(store);
    MessageRecord m = Sample(3);
    ASSERT_TRUE((*store)->SaveMessage(m, "raw"));
    AccountRecord a;
    a.name = "acme";
    a.intake_address = "0d9e-x@intake.example.net";
    a.gateway_in_front = false;
    a.created = base::SystemTime(std::chrono::seconds(1700000000));
    ASSERT_TRUE((*store)->InsertAccount(a));
    // Names and addresses (case-insensitively) are unique.
    AccountRecord same_name = a;
    same_name.intake_address = "other@intake.example.net";
    EXPECT_FALSE((*store)->InsertAccount(same_name));
    AccountRecord same_address = a;
    same_address.name = "acme2";
    same_address.intake_address = "0D9E-X@INTAKE.example.net";
    EXPECT_FALSE((*store)->InsertAccount(same_address));
  }
  auto store = Store::Open(dir.path(), &base::PosixFilesystem());
  ASSERT_TRUE(store);
  EXPECT_EQ(*(*store)->MaxMessageId(), 3u);
  auto accounts = (*store)->ListAccounts();
  ASSERT_TRUE(accounts);
  ASSERT_EQ(accounts->size(), 1u);
  EXPECT_EQ((*accounts)[0].name, "acme");
  EXPECT_EQ((*accounts)[0].source, "console");
  EXPECT_FALSE((*accounts)[0].gateway_in_front);
  EXPECT_EQ((*accounts)[0].created, base::SystemTime(std::chrono::seconds(1700000000)));
}

TEST(Store, AFailedFileWriteIndexesNothing) {
  TempDir dir;
  spool::testing::FaultFilesystem fs(base::PosixFilesystem());
  auto store = Store::Open(dir.path(), &fs);
  ASSERT_TRUE(store);
  fs.SetSpaceLeft(0);
  MessageRecord m = Sample(8);
  EXPECT_FALSE((*store)->SaveMessage(m, "does not fit"));
  auto found = (*store)->FindMessage(8);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->has_value());
}

TEST(Store, MessageFilesAreDurableBeforeTheIndexRow) {
  // After a power cut right after SaveMessage returned, the file it indexed is still there.
  TempDir dir;
  spool::testing::FaultFilesystem fs(base::PosixFilesystem());
  auto store = Store::Open(dir.path(), &fs);
  ASSERT_TRUE(store);
  MessageRecord m = Sample(9, "newaccount");
  ASSERT_TRUE((*store)->SaveMessage(m, "must survive"));
  fs.Crash();
  fs.Revive();
  auto bytes = fs.ReadWholeFile(dir.path() + "/messages/newaccount/9.eml");
  ASSERT_TRUE(bytes) << bytes.error().message;
  EXPECT_EQ(*bytes, "must survive");
}

}  // namespace
}  // namespace tidegate::intake
