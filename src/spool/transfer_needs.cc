// transfer_needs.cc — see transfer_needs.h.
#include "spool/transfer_needs.h"

#include <algorithm>
#include <string>

namespace tidegate::spool {
namespace {

constexpr std::string_view kYes = "yes";
constexpr std::string_view kNo = "no";

std::optional<bool> ReadFlag(const MessageMeta& meta, std::string_view key) {
  auto it = meta.attrs.find(std::string(key));
  if (it == meta.attrs.end()) return std::nullopt;
  return it->second == kYes;
}

// Any 8-bit byte in the sender or in a recipient that `wanted` selects.
template <typename Wanted>
bool Envelope8Bit(const MessageMeta& meta, Wanted wanted) {
  return Has8Bit(meta.sender) ||
         std::any_of(meta.recipients.begin(), meta.recipients.end(),
                     [&](const Recipient& r) { return wanted(r) && Has8Bit(r.address); });
}

bool Every(const Recipient&) { return true; }

}  // namespace

bool Has8Bit(std::string_view bytes) {
  return std::any_of(bytes.begin(), bytes.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

void RecordTransferNeeds(MessageMeta& meta, bool body_8bit, DeclaredTransfer declared) {
  meta.attrs[std::string(kAttrBody8bit)] = body_8bit ? kYes : kNo;
  meta.attrs[std::string(kAttrSmtputf8)] = Envelope8Bit(meta, Every) ? kYes : kNo;
  if (declared.body_8bitmime) meta.attrs[std::string(kAttrDeclared8bitmime)] = kYes;
  if (declared.smtputf8) meta.attrs[std::string(kAttrDeclaredSmtputf8)] = kYes;
}

TransferNeeds TransferNeedsOf(const MessageMeta& meta) {
  TransferNeeds needs{.body_8bit = ReadFlag(meta, kAttrBody8bit)};
  needs.smtputf8 = ReadFlag(meta, kAttrSmtputf8).value_or(Envelope8Bit(meta, Every));
  return needs;
}

TransferNeeds TransferNeedsOf(const MessageMeta& meta, std::span<const std::uint32_t> rids) {
  TransferNeeds needs{.body_8bit = ReadFlag(meta, kAttrBody8bit)};
  // "no" for the whole message is "no" for any part of it; otherwise look at this delivery's
  // own envelope (the addresses are in the metadata: no body bytes read).
  if (ReadFlag(meta, kAttrSmtputf8) == false) return needs;
  needs.smtputf8 = Envelope8Bit(meta, [&](const Recipient& r) {
    return std::find(rids.begin(), rids.end(), r.rid) != rids.end();
  });
  return needs;
}

}  // namespace tidegate::spool
