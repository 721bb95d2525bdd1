// record.cc — spool record encoding and decoding (see record.h).
#include "spool/record.h"

#include <zlib.h>

#include <cassert>
#include <chrono>
#include <cstring>

namespace tidegate::spool::record {
namespace {

void PutU8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }

void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

std::uint32_t Crc(std::uint32_t crc, std::string_view bytes) {
  // zlib treats a null buffer as "give me the initial value" and returns 0: never pass one.
  if (bytes.empty()) return crc;
  // zlib takes uInt lengths; payloads are below 4 GiB (kMaxPayload), so one call suffices.
  return static_cast<std::uint32_t>(
      ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

std::uint32_t RecordCrc(std::uint32_t salt, std::string_view type_and_length,
                        std::string_view payload_a, std::string_view payload_b) {
  std::string salt_bytes;
  PutU32(salt_bytes, salt);
  std::uint32_t crc = Crc(0, salt_bytes);
  crc = Crc(crc, type_and_length);
  crc = Crc(crc, payload_a);
  return Crc(crc, payload_b);
}

// Writes the header in front of `payload_head` (already in out after kRecordHeaderSize bytes of
// room) once the whole payload is known.
EncodedRecord Finish(RecordType type, std::string payload_head, std::string_view body,
                     std::uint32_t salt) {
  const std::uint64_t length = payload_head.size() + body.size();
  assert(length <= kMaxPayload);
  std::string tl;
  PutU8(tl, static_cast<std::uint8_t>(type));
  PutU32(tl, static_cast<std::uint32_t>(length));
  EncodedRecord rec;
  rec.head.reserve(kRecordHeaderSize + payload_head.size());
  PutU32(rec.head, kRecordMagic);
  rec.head.append(tl);
  PutU32(rec.head, RecordCrc(salt, tl, payload_head, body));
  rec.head.append(payload_head);
  rec.body = body;
  return rec;
}

// Bounds-checked reader over an untrusted payload.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool U8(std::uint8_t& v) {
    if (left() < 1) return false;
    v = static_cast<std::uint8_t>(data_[pos_++]);
    return true;
  }
  bool U32(std::uint32_t& v) {
    if (left() < 4) return false;
    v = GetU32(data_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool U64(std::uint64_t& v) {
    if (left() < 8) return false;
    v = GetU64(data_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool String(std::string& s) {
    std::uint32_t n;
    if (!U32(n) || left() < n) return false;
    s.assign(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  std::size_t left() const { return data_.size() - pos_; }
  std::size_t pos() const { return pos_; }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

base::Error Bad(const char* what) { return base::MakeError(std::string("bad record: ") + what); }

std::uint64_t Nanos(base::SystemTime t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}
base::SystemTime FromNanos(std::uint64_t ns) {
  return base::SystemTime(std::chrono::duration_cast<base::SystemTime::duration>(
      std::chrono::nanoseconds(static_cast<std::int64_t>(ns))));
}

bool HasSchedule(const MessageMeta& meta) {
  for (const Recipient& r : meta.recipients) {
    if (r.attempts != 0 || r.next_attempt != base::SystemTime{}) return true;
  }
  return false;
}

}  // namespace

void PutU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
std::uint32_t GetU32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}
std::uint64_t GetU64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

std::uint64_t MessagePayloadSize(const MessageMeta& meta, std::uint64_t body_size) {
  // version, mid, icid, parent, kind, received, 3 strings, 2 counts, body size, body.
  std::uint64_t n = 1 + 8 + 8 + 8 + 1 + 8 + 12 + meta.sender.size() + meta.policy.size() +
                    meta.destination.size() + 4 + 4 + 8 + body_size;
  const std::uint64_t schedule = HasSchedule(meta) ? 4 + 8 : 0;
  for (const Recipient& r : meta.recipients) n += 4 + 1 + 4 + r.address.size() + schedule;
  for (const auto& [k, v] : meta.attrs) n += 8 + k.size() + v.size();
  return n;
}

EncodedRecord EncodeMessage(RecordType type, const MessageMeta& meta, std::string_view body,
                            std::uint32_t salt) {
  assert(type == RecordType::kMessage || type == RecordType::kRelocated);
  std::string p;
  p.reserve(128 + meta.sender.size() + meta.recipients.size() * 48);
  const bool schedule = HasSchedule(meta);
  PutU8(p, schedule ? kScheduleVersion : kPayloadVersion);
  PutU64(p, meta.mid);
  PutU64(p, meta.icid);
  PutU64(p, meta.parent_mid);
  PutU8(p, static_cast<std::uint8_t>(meta.kind));
  PutU64(p, Nanos(meta.received));
  PutString(p, meta.sender);
  PutString(p, meta.policy);
  PutString(p, meta.destination);
  PutU32(p, static_cast<std::uint32_t>(meta.recipients.size()));
  for (const Recipient& r : meta.recipients) {
    PutU32(p, r.rid);
    PutU8(p, static_cast<std::uint8_t>(r.state));
    PutString(p, r.address);
    if (schedule) {
      PutU32(p, r.attempts);
      PutU64(p, Nanos(r.next_attempt));
    }
  }
  PutU32(p, static_cast<std::uint32_t>(meta.attrs.size()));
  for (const auto& [k, v] : meta.attrs) {
    PutString(p, k);
    PutString(p, v);
  }
  PutU64(p, body.size());
  return Finish(type, std::move(p), body, salt);
}

EncodedRecord EncodeState(const StateUpdate& update, std::uint32_t salt) {
  std::string p;
  const bool schedule = update.state == RecipientState::kPending;
  PutU8(p, schedule ? kScheduleVersion : kPayloadVersion);
  PutU64(p, update.mid);
  PutU8(p, static_cast<std::uint8_t>(update.state));
  if (schedule) {
    PutU32(p, update.attempts);
    PutU64(p, Nanos(update.next_attempt));
  }
  PutU32(p, static_cast<std::uint32_t>(update.rids.size()));
  for (std::uint32_t rid : update.rids) PutU32(p, rid);
  return Finish(RecordType::kState, std::move(p), {}, salt);
}

EncodedRecord EncodeFinish(std::uint64_t mid, std::uint32_t salt) {
  std::string p;
  PutU8(p, kPayloadVersion);
  PutU64(p, mid);
  return Finish(RecordType::kFinish, std::move(p), {}, salt);
}

std::optional<RawRecord> ParseRecordAt(std::string_view data, std::size_t pos, std::uint32_t salt) {
  if (pos > data.size() || data.size() - pos < kRecordHeaderSize) return std::nullopt;
  const char* h = data.data() + pos;
  if (GetU32(h) != kRecordMagic) return std::nullopt;
  const std::uint32_t length = GetU32(h + 5);
  if (data.size() - pos - kRecordHeaderSize < length) return std::nullopt;
  std::string_view payload = data.substr(pos + kRecordHeaderSize, length);
  if (RecordCrc(salt, std::string_view(h + 4, 5), payload, {}) != GetU32(h + 9)) {
    return std::nullopt;
  }
  return RawRecord{static_cast<RecordType>(static_cast<std::uint8_t>(h[4])), payload,
                   kRecordHeaderSize + length};
}

base::Result<DecodedMessage> DecodeMessage(std::string_view payload) {
  Reader r(payload);
  DecodedMessage out;
  MessageMeta& m = out.meta;
  std::uint8_t version, kind;
  std::uint64_t received;
  if (!r.U8(version)) return Bad("empty message");
  if (version != kPayloadVersion && version != kScheduleVersion) {
    return Bad("unknown message version");
  }
  const bool schedule = version == kScheduleVersion;
  if (!r.U64(m.mid) || !r.U64(m.icid) || !r.U64(m.parent_mid) || !r.U8(kind) || !r.U64(received) ||
      !r.String(m.sender) || !r.String(m.policy) || !r.String(m.destination)) {
    return Bad("short message header");
  }
  if (kind > static_cast<std::uint8_t>(MessageKind::kDsn)) return Bad("unknown message kind");
  m.kind = static_cast<MessageKind>(kind);
  m.received = FromNanos(received);
  std::uint32_t n;
  // Each recipient takes at least 9 bytes (21 with a schedule): a larger count cannot be honest.
  if (!r.U32(n) || n > r.left() / (schedule ? 21 : 9)) return Bad("bad recipient count");
  m.recipients.resize(n);
  for (Recipient& rc : m.recipients) {
    std::uint8_t st;
    if (!r.U32(rc.rid) || !r.U8(st) || !r.String(rc.address)) return Bad("short recipient");
    if (st > static_cast<std::uint8_t>(RecipientState::kRemoved)) return Bad("bad state");
    rc.state = static_cast<RecipientState>(st);
    if (schedule) {
      std::uint64_t next;
      if (!r.U32(rc.attempts) || !r.U64(next)) return Bad("short recipient schedule");
      rc.next_attempt = FromNanos(next);
    }
  }
  if (!r.U32(n) || n > r.left() / 8) return Bad("bad attribute count");
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!r.String(k) || !r.String(v)) return Bad("short attribute");
    m.attrs[std::move(k)] = std::move(v);
  }
  if (!r.U64(m.body_size) || m.body_size != r.left()) return Bad("body size mismatch");
  out.body_offset_in_payload = r.pos();
  return out;
}

base::Result<StateUpdate> DecodeState(std::string_view payload) {
  Reader r(payload);
  StateUpdate u;
  std::uint8_t version, st;
  std::uint32_t n;
  if (!r.U8(version) || (version != kPayloadVersion && version != kScheduleVersion)) {
    return Bad("unknown state version");
  }
  if (!r.U64(u.mid) || !r.U8(st)) return Bad("short state");
  if (st > static_cast<std::uint8_t>(RecipientState::kRemoved)) return Bad("bad state");
  // Version 2 is exactly a retry schedule (state pending); a final state never carries one.
  if ((version == kScheduleVersion) != (st == static_cast<std::uint8_t>(RecipientState::kPending))) {
    return Bad("state and version disagree");
  }
  if (version == kScheduleVersion) {
    std::uint64_t next;
    if (!r.U32(u.attempts) || !r.U64(next)) return Bad("short schedule");
    u.next_attempt = FromNanos(next);
  }
  if (!r.U32(n)) return Bad("short state");
  if (r.left() != std::uint64_t{n} * 4) return Bad("bad rid count");
  u.state = static_cast<RecipientState>(st);
  u.rids.resize(n);
  for (std::uint32_t& rid : u.rids) (void)r.U32(rid);
  return u;
}

base::Result<std::uint64_t> DecodeFinish(std::string_view payload) {
  Reader r(payload);
  std::uint8_t version;
  std::uint64_t mid;
  if (!r.U8(version) || version != kPayloadVersion) return Bad("unknown finish version");
  if (!r.U64(mid) || r.left() != 0) return Bad("bad finish");
  return mid;
}

}  // namespace tidegate::spool::record
