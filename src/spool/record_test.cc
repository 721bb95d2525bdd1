#include "spool/record.h"

#include <gtest/gtest.h>

#include "spool/segment.h"
#include "spool/testing/test_util.h"

namespace tidegate::spool {
namespace {

using record::RecordType;

std::string Flatten(const record::EncodedRecord& r) { return r.head + std::string(r.body); }

TEST(RecordTest, MessageRoundTrip) {
  NewMessage m = testing::MakeMessage(42, 3, 500);
  m.meta.kind = MessageKind::kJournal;
  m.meta.parent_mid = 41;
  m.meta.sender = "";
  m.meta.recipients[1].state = RecipientState::kBounced;
  m.meta.attrs["client-ip"] = "192.0.2.1";
  m.meta.body_size = m.body.size();
  const std::string bytes = Flatten(record::EncodeMessage(RecordType::kMessage, m.meta, m.body, 7));
  EXPECT_EQ(bytes.size() - record::kRecordHeaderSize,
            record::MessagePayloadSize(m.meta, m.body.size()));
  auto raw = record::ParseRecordAt(bytes, 0, 7);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->type, RecordType::kMessage);
  EXPECT_EQ(raw->size, bytes.size());
  auto decoded = record::DecodeMessage(raw->payload);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->meta, m.meta);
  EXPECT_EQ(raw->payload.substr(decoded->body_offset_in_payload), m.body);
}

TEST(RecordTest, StateAndFinishRoundTrip) {
  StateUpdate u{9, {0, 2, 5}, RecipientState::kExpired};
  const std::string s = Flatten(record::EncodeState(u, 1));
  auto raw = record::ParseRecordAt(s, 0, 1);
  ASSERT_TRUE(raw);
  auto d = record::DecodeState(raw->payload);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->mid, 9u);
  EXPECT_EQ(d->rids, u.rids);
  EXPECT_EQ(d->state, RecipientState::kExpired);
  const std::string f = Flatten(record::EncodeFinish(12, 1));
  auto rawf = record::ParseRecordAt(f, 0, 1);
  ASSERT_TRUE(rawf);
  EXPECT_EQ(*record::DecodeFinish(rawf->payload), 12u);
  EXPECT_FALSE(record::DecodeState(rawf->payload));  // wrong shape is rejected, not misread
}

TEST(RecordTest, RetryScheduleRoundTripsInStateAndMessageRecords) {
  const base::SystemTime next = base::SystemTime(std::chrono::seconds(1'700'000'123));
  StateUpdate u{9, {1, 3}, RecipientState::kPending, 2, next};
  const std::string s = Flatten(record::EncodeState(u, 1));
  auto raw = record::ParseRecordAt(s, 0, 1);
  ASSERT_TRUE(raw);
  EXPECT_EQ(static_cast<std::uint8_t>(raw->payload[0]), record::kScheduleVersion);
  auto d = record::DecodeState(raw->payload);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->rids, u.rids);
  EXPECT_EQ(d->state, RecipientState::kPending);
  EXPECT_EQ(d->attempts, 2u);
  EXPECT_EQ(d->next_attempt, next);

  // A final state keeps the old, shorter layout (version 1).
  const std::string f = Flatten(record::EncodeState({9, {1}, RecipientState::kDelivered}, 1));
  EXPECT_EQ(static_cast<std::uint8_t>(record::ParseRecordAt(f, 0, 1)->payload[0]),
            record::kPayloadVersion);

  // A relocated message carries its recipients' schedules.
  NewMessage m = testing::MakeMessage(42, 3, 50);
  m.meta.recipients[1].attempts = 3;
  m.meta.recipients[1].next_attempt = next;
  m.meta.body_size = m.body.size();
  const std::string bytes =
      Flatten(record::EncodeMessage(RecordType::kRelocated, m.meta, m.body, 7));
  EXPECT_EQ(bytes.size() - record::kRecordHeaderSize,
            record::MessagePayloadSize(m.meta, m.body.size()));
  auto rawm = record::ParseRecordAt(bytes, 0, 7);
  ASSERT_TRUE(rawm);
  auto decoded = record::DecodeMessage(rawm->payload);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->meta, m.meta);
  EXPECT_EQ(rawm->payload.substr(decoded->body_offset_in_payload), m.body);
}

TEST(RecordTest, AStateWhoseVersionAndStateDisagreeIsRejected) {
  // Version 1 with state pending would have revived recipients; version 2 with a final state
  // has no meaning. Both are damage, not data.
  std::string p1;
  p1.push_back(static_cast<char>(record::kPayloadVersion));
  record::PutU64(p1, 9);
  p1.push_back(static_cast<char>(RecipientState::kPending));
  record::PutU32(p1, 1);
  record::PutU32(p1, 0);
  EXPECT_FALSE(record::DecodeState(p1));
  std::string p2;
  p2.push_back(static_cast<char>(record::kScheduleVersion));
  record::PutU64(p2, 9);
  p2.push_back(static_cast<char>(RecipientState::kDelivered));
  record::PutU32(p2, 1);
  record::PutU64(p2, 0);
  record::PutU32(p2, 1);
  record::PutU32(p2, 0);
  EXPECT_FALSE(record::DecodeState(p2));
}

TEST(RecordTest, AnyFlippedByteOrWrongSaltIsRejected) {
  NewMessage m = testing::MakeMessage(5, 2, 100);
  const std::string bytes =
      Flatten(record::EncodeMessage(RecordType::kMessage, m.meta, m.body, 99));
  ASSERT_TRUE(record::ParseRecordAt(bytes, 0, 99));
  // The salt is secret per segment: a record built for another segment never validates.
  EXPECT_FALSE(record::ParseRecordAt(bytes, 0, 98));
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] ^= 0x10;
    EXPECT_FALSE(record::ParseRecordAt(bad, 0, 99)) << "flip at " << i;
  }
  EXPECT_FALSE(record::ParseRecordAt(bytes.substr(0, bytes.size() - 1), 0, 99));
}

TEST(RecordTest, DecoderRejectsHostileCounts) {
  std::string p;
  p.push_back(1);  // version
  for (int i = 0; i < 3; ++i) record::PutU64(p, 1);
  p.push_back(0);
  record::PutU64(p, 0);
  for (int i = 0; i < 3; ++i) record::PutU32(p, 0);  // three empty strings
  record::PutU32(p, 0xFFFFFFFF);                     // recipient count far beyond the data
  EXPECT_FALSE(record::DecodeMessage(p));
  EXPECT_FALSE(record::DecodeMessage(""));
  EXPECT_FALSE(record::DecodeFinish(std::string("\x02", 1) + std::string(8, '\0')));
}

TEST(SegmentTest, NamesAndHeader) {
  EXPECT_EQ(SegmentFileName(0xab), "seg-00000000000000ab.log");
  EXPECT_EQ(ParseSegmentFileName("seg-00000000000000ab.log"), 0xabu);
  EXPECT_FALSE(ParseSegmentFileName("seg-00000000000000AB.log"));
  EXPECT_FALSE(ParseSegmentFileName("seg-00000000000000ab.log.tmp"));
  EXPECT_FALSE(ParseSegmentFileName("ids"));
  const std::string h = EncodeSegmentHeader({77, 0xdeadbeef});
  ASSERT_EQ(h.size(), kSegmentHeaderSize);
  auto d = DecodeSegmentHeader(h);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->header.seq, 77u);
  EXPECT_EQ(d->header.salt, 0xdeadbeefu);
  EXPECT_EQ(d->version, kSegmentVersion);
  std::string bad = h;
  bad[10] ^= 1;
  EXPECT_FALSE(DecodeSegmentHeader(bad));
}

}  // namespace
}  // namespace tidegate::spool
