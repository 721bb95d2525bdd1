// accounts.cc — see accounts.h.
#include "intake/accounts.h"

#include <openssl/rand.h>

#include <cassert>
#include <cstdio>

namespace tidegate::intake {

std::string RandomUuidV4() {
  unsigned char b[16];
  // RAND_bytes only fails when the CSPRNG cannot be seeded; an address guessable by others
  // would let them inject mail into the account, so there is no fallback.
  const int rc = RAND_bytes(b, sizeof b);
  assert(rc == 1);
  (void)rc;
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                b[14], b[15]);
  return out;
}

bool IsValidHeaderName(std::string_view name) {
  if (name.empty() || name.size() > 76) return false;
  for (char c : name) {
    if (c <= ' ' || c > '~' || c == ':') return false;
  }
  return true;
}

base::Result<std::unique_ptr<AccountDirectory>> AccountDirectory::Load(
    const config::IntakeConfig& config, Store* store, const base::Clock* clock,
    std::vector<std::string>* dropped, UuidSource uuid) {
  std::unique_ptr<AccountDirectory> dir(
      new AccountDirectory(store, clock, config.hostname, std::move(uuid)));
  for (const config::IntakeAccount& a : config.accounts) {
    if (!IsSafeAccountName(a.name)) {
      return base::MakeError(config.path + ": account name '" + a.name +
                             "' cannot start with '.' (it names a folder under data_dir)");
    }
    AccountRecord r;
    r.name = a.name;
    r.intake_address = a.intake_address.str();
    r.source = "config";
    r.gateway_in_front = true;
    r.remote_ip_header = config.remote_ip_header;
    dir->accounts_.push_back(std::move(r));
  }
  auto stored = store->ListAccounts();
  if (!stored) return stored.error();
  for (AccountRecord& a : *stored) {
    if (dir->FindByName(a.name) || dir->AddressTakenLocked(a.intake_address)) {
      if (dropped) {
        dropped->push_back("account '" + a.name + "' (" + a.intake_address +
                           ") created in the console clashes with a configured account; "
                           "the configured one is used");
      }
      continue;
    }
    dir->accounts_.push_back(std::move(a));
  }
  return dir;
}

bool AccountDirectory::AddressTakenLocked(std::string_view address) const {
  const std::string wanted = mail::AsciiLower(address);
  for (const AccountRecord& a : accounts_) {
    if (mail::AsciiLower(a.intake_address) == wanted) return true;
  }
  return false;
}

std::optional<AccountRecord> AccountDirectory::FindByAddress(const mail::Address& address) const {
  const std::string wanted = mail::AsciiLower(address.str());
  std::lock_guard lock(mu_);
  for (const AccountRecord& a : accounts_) {
    if (mail::AsciiLower(a.intake_address) == wanted) return a;
  }
  return std::nullopt;
}

std::optional<AccountRecord> AccountDirectory::FindByName(std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const AccountRecord& a : accounts_) {
    if (a.name == name) return a;
  }
  return std::nullopt;
}

std::vector<AccountRecord> AccountDirectory::List() const {
  std::lock_guard lock(mu_);
  return accounts_;
}

base::Result<AccountRecord> AccountDirectory::Create(const NewAccount& request) {
  if (!IsSafeAccountName(request.name)) {
    return base::MakeError(
        "The account name must be 1 to 64 letters, digits, '_', '-' or '.', not starting "
        "with '.'.");
  }
  if (request.gateway_in_front && !IsValidHeaderName(request.remote_ip_header)) {
    return base::MakeError("The header name must be printable ASCII without ':' or spaces.");
  }
  AccountRecord record;
  record.name = request.name;
  record.source = "console";
  record.gateway_in_front = request.gateway_in_front;
  record.remote_ip_header = request.gateway_in_front ? request.remote_ip_header : "";
  record.created = clock_->Now();
  // One creation at a time: the uniqueness checks and the insert must not interleave.
  std::lock_guard lock(mu_);
  for (const AccountRecord& a : accounts_) {
    if (a.name == request.name) {
      return base::MakeError("An account named '" + request.name + "' already exists.");
    }
  }
  // A v4 UUID repeats with negligible probability; a bounded retry still never loops forever.
  for (int attempt = 0;; ++attempt) {
    record.intake_address = uuid_() + "@" + domain_;
    if (!AddressTakenLocked(record.intake_address)) break;
    if (attempt == 8) return base::MakeError("Could not generate an unused intake address.");
  }
  if (base::Status s = store_->InsertAccount(record); !s) return s.error();
  accounts_.push_back(record);
  return record;
}

}  // namespace tidegate::intake
