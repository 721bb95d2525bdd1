// record.h — encoding and decoding of spool records (byte layout: docs/spool-format.md).
//
// A record is `magic u32 | type u8 | length u32 | crc32 u32 | payload`, little-endian. The crc
// covers the segment's salt (4 bytes), type, length and payload: the salt is a random number from
// the segment header, so bytes that arrive inside a message body (attacker-controlled) can never
// pass as a record when recovery scans forward over damaged bytes. Message bodies are not copied
// by the encoder: EncodedRecord keeps a view of the body to hand to writev.
// Pure functions on plain values; thread-safe. Decoders treat their input as untrusted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "spool/spool.h"

namespace tidegate::spool::record {

inline constexpr std::uint32_t kRecordMagic = 0x1A524754;  // "TGR\x1a" on disk
inline constexpr std::size_t kRecordHeaderSize = 13;
inline constexpr std::uint8_t kPayloadVersion = 1;
// MESSAGE/RELOCATED payloads whose recipients carry a retry schedule, and STATE payloads that
// record one (state pending), use version 2 (docs/spool-format.md); everything else stays at 1,
// so a message as received costs no extra bytes.
inline constexpr std::uint8_t kScheduleVersion = 2;
// A payload must fit the u32 length field; keep a margin for the meta part.
inline constexpr std::uint64_t kMaxPayload = 0xFFFF0000u;

enum class RecordType : std::uint8_t { kMessage = 1, kState = 2, kFinish = 3, kRelocated = 4 };

// One encoded record: `head` is the header plus the payload up to the body; `body` (possibly
// empty) is the rest of the payload, still owned by the caller.
struct EncodedRecord {
  std::string head;
  std::string_view body;
  std::uint64_t size() const { return head.size() + body.size(); }
};

// The payload size EncodeMessage() would produce (to reject oversized messages up front).
std::uint64_t MessagePayloadSize(const MessageMeta& meta, std::uint64_t body_size);

// Preconditions: the payload fits kMaxPayload (callers check body sizes first).
EncodedRecord EncodeMessage(RecordType type, const MessageMeta& meta, std::string_view body,
                            std::uint32_t salt);
EncodedRecord EncodeState(const StateUpdate& update, std::uint32_t salt);
EncodedRecord EncodeFinish(std::uint64_t mid, std::uint32_t salt);

// A structurally valid record found in a buffer.
struct RawRecord {
  RecordType type;  // may be an unknown value: decoders reject it
  std::string_view payload;
  std::uint64_t size = 0;  // header + payload
};

// The record starting at data[pos] if magic, length and crc are right; nullopt otherwise.
std::optional<RawRecord> ParseRecordAt(std::string_view data, std::size_t pos, std::uint32_t salt);

struct DecodedMessage {
  MessageMeta meta;  // body_size set
  std::uint64_t body_offset_in_payload = 0;
};
base::Result<DecodedMessage> DecodeMessage(std::string_view payload);
base::Result<StateUpdate> DecodeState(std::string_view payload);
base::Result<std::uint64_t> DecodeFinish(std::string_view payload);

// Little-endian helpers shared with segment.cc.
void PutU32(std::string& out, std::uint32_t v);
void PutU64(std::string& out, std::uint64_t v);
std::uint32_t GetU32(const char* p);
std::uint64_t GetU64(const char* p);

}  // namespace tidegate::spool::record
