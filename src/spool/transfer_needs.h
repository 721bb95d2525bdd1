// transfer_needs.h — what a stored message needs of the next hop (RFC 6152 8BITMIME, RFC 6531
// SMTPUTF8), recorded once at reception in MessageMeta::attrs so that delivery need not scan the
// body on every attempt.
//
// Attr keys (values "yes"/"no"; docs/spool-format.md):
//   body_8bit          any byte >= 0x80 in the stored body
//   smtputf8           any byte >= 0x80 in the envelope sender or any of the message's recipients
//   declared_8bitmime  "yes" when the client's MAIL FROM said BODY=8BITMIME (absent otherwise)
//   declared_smtputf8  "yes" when the client's MAIL FROM said SMTPUTF8 (absent otherwise)
// RecordTransferNeeds() writes them (the acceptance step, for originals, splits and journal
// copies); TransferNeedsOf() reads them. A message recovered from a spool written before these
// attrs existed has no body_8bit: TransferNeedsOf() then says body_8bit is unknown and the caller
// scans the body (Has8Bit) as before.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "spool/spool.h"

namespace tidegate::spool {

inline constexpr std::string_view kAttrBody8bit = "body_8bit";
inline constexpr std::string_view kAttrSmtputf8 = "smtputf8";
inline constexpr std::string_view kAttrDeclared8bitmime = "declared_8bitmime";
inline constexpr std::string_view kAttrDeclaredSmtputf8 = "declared_smtputf8";

// Any byte >= 0x80 (in a body: what BODY=8BITMIME is for).
bool Has8Bit(std::string_view bytes);

// What the client declared on MAIL FROM.
struct DeclaredTransfer {
  bool body_8bitmime = false;  // BODY=8BITMIME
  bool smtputf8 = false;       // SMTPUTF8
};

// Records the four attrs on `meta`, whose sender and recipients are already set. `body_8bit` is
// Has8Bit() of the body stored with it (computed once when splits share a body).
void RecordTransferNeeds(MessageMeta& meta, bool body_8bit, DeclaredTransfer declared = {});

struct TransferNeeds {
  std::optional<bool> body_8bit;  // nullopt: not recorded (an older spool): scan the body
  bool smtputf8 = false;          // the envelope needs SMTPUTF8
};

// The whole message: smtputf8 covers the sender and every recipient.
TransferNeeds TransferNeedsOf(const MessageMeta& meta);
// One delivery of it to `rids`: smtputf8 covers the sender and those recipients only (a recipient
// of another destination never forces SMTPUTF8 on this one). A rid the message lacks is ignored.
TransferNeeds TransferNeedsOf(const MessageMeta& meta, std::span<const std::uint32_t> rids);

}  // namespace tidegate::spool
