#include "spool/transfer_needs.h"

#include <gtest/gtest.h>

#include "base/clock.h"
#include "spool/testing/test_util.h"

namespace tidegate::spool {
namespace {

using testing::CommitAndWait;
using testing::MakeMessage;

TEST(TransferNeeds, Has8BitLooksForAnyByteFrom0x80) {
  EXPECT_FALSE(Has8Bit(""));
  EXPECT_FALSE(Has8Bit(std::string("plain\r\n\x7f", 8)));
  EXPECT_TRUE(Has8Bit("caf\xc3\xa9"));
  EXPECT_TRUE(Has8Bit("\x80"));
}

TEST(TransferNeeds, RecordedAttrsAreReadBack) {
  NewMessage m = MakeMessage(1, 2);
  RecordTransferNeeds(m.meta, /*body_8bit=*/true, {.body_8bitmime = true});
  EXPECT_EQ(m.meta.attrs.at("body_8bit"), "yes");
  EXPECT_EQ(m.meta.attrs.at("smtputf8"), "no");
  EXPECT_EQ(m.meta.attrs.at("declared_8bitmime"), "yes");
  EXPECT_EQ(m.meta.attrs.count("declared_smtputf8"), 0u);
  const TransferNeeds needs = TransferNeedsOf(m.meta);
  EXPECT_EQ(needs.body_8bit, std::optional<bool>(true));
  EXPECT_FALSE(needs.smtputf8);

  NewMessage plain = MakeMessage(2);
  RecordTransferNeeds(plain.meta, false);
  EXPECT_EQ(plain.meta.attrs.at("body_8bit"), "no");
  EXPECT_EQ(plain.meta.attrs.count("declared_8bitmime"), 0u);
  EXPECT_EQ(TransferNeedsOf(plain.meta).body_8bit, std::optional<bool>(false));
}

TEST(TransferNeeds, Smtputf8FollowsTheSenderAndTheRecipientsOfThisDelivery) {
  NewMessage m = MakeMessage(1, 3);
  m.meta.recipients[1].address = "j\xc3\xbcrgen@example.com";
  RecordTransferNeeds(m.meta, false, {.smtputf8 = true});
  EXPECT_EQ(m.meta.attrs.at("smtputf8"), "yes");
  EXPECT_EQ(m.meta.attrs.at("declared_smtputf8"), "yes");
  EXPECT_TRUE(TransferNeedsOf(m.meta).smtputf8);
  const std::vector<std::uint32_t> ascii{0, 2};
  const std::vector<std::uint32_t> utf8{1};
  EXPECT_FALSE(TransferNeedsOf(m.meta, ascii).smtputf8);
  EXPECT_TRUE(TransferNeedsOf(m.meta, utf8).smtputf8);

  NewMessage from_utf8 = MakeMessage(2, 1);
  from_utf8.meta.sender = "s\xc3\xa9@example.org";
  RecordTransferNeeds(from_utf8.meta, false);
  EXPECT_TRUE(TransferNeedsOf(from_utf8.meta, std::vector<std::uint32_t>{0}).smtputf8);
}

TEST(TransferNeeds, AMessageFromAnOlderSpoolSaysTheBodyIsUnknown) {
  NewMessage m = MakeMessage(1, 2);
  m.meta.recipients[0].address = "\xc3\xa9@example.com";
  const TransferNeeds needs = TransferNeedsOf(m.meta);
  EXPECT_FALSE(needs.body_8bit.has_value());
  // The envelope is in the metadata: computed as delivery always did.
  EXPECT_TRUE(needs.smtputf8);
  EXPECT_FALSE(TransferNeedsOf(m.meta, std::vector<std::uint32_t>{1}).smtputf8);
  EXPECT_TRUE(TransferNeedsOf(m.meta, std::vector<std::uint32_t>{0, 1}).smtputf8);
}

TEST(TransferNeeds, AttrsSurviveACommitAndAReopen) {
  testing::TempDir tmp;
  base::FakeClock clock;
  Options options;
  options.dir = base::JoinPath(tmp.path(), "spool");
  options.fs = &base::PosixFilesystem();
  options.clock = &clock;
  NewMessage eight = MakeMessage(1, 2);
  eight.body += "caf\xc3\xa9\r\n";
  eight.meta.recipients[1].address = "\xc3\xa9@example.com";
  RecordTransferNeeds(eight.meta, Has8Bit(eight.body), {.body_8bitmime = true, .smtputf8 = true});
  NewMessage seven = MakeMessage(2, 1);
  RecordTransferNeeds(seven.meta, Has8Bit(seven.body));
  {
    auto spool = Spool::Open(options);
    ASSERT_TRUE(spool) << spool.error().message;
    ASSERT_TRUE(CommitAndWait(**spool, {eight, seven}));
  }
  auto spool = Spool::Open(options);
  ASSERT_TRUE(spool) << spool.error().message;
  auto recovered = (*spool)->TakeRecovered();
  ASSERT_EQ(recovered.size(), 2u);
  EXPECT_EQ(recovered[0].attrs, eight.meta.attrs);
  EXPECT_EQ(recovered[1].attrs, seven.meta.attrs);
  const TransferNeeds a = TransferNeedsOf(recovered[0]);
  EXPECT_EQ(a.body_8bit, std::optional<bool>(true));
  EXPECT_TRUE(a.smtputf8);
  EXPECT_FALSE(TransferNeedsOf(recovered[0], std::vector<std::uint32_t>{0}).smtputf8);
  const TransferNeeds b = TransferNeedsOf(recovered[1]);
  EXPECT_EQ(b.body_8bit, std::optional<bool>(false));
  EXPECT_FALSE(b.smtputf8);
}

}  // namespace
}  // namespace tidegate::spool
