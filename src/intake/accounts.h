// accounts.h — AccountDirectory: the intake's accounts, those of the config merged with those
// created in the console (stored in the Store), looked up by intake address and by name.
//
// The config's accounts come first and win: a stored account whose name or address clashes with
// one of them is left out (and reported by Load()). Create() is the console's setup page: it
// generates the Message Intake Address (a random UUID v4 at the intake's hostname), stores the
// account durably, and publishes it to the SMTP side at once.
//
// Ownership: the intake server owns it; the SMTP recipient check, the acceptor and the console
// hold plain pointers. Thread-safety: every method may be called from any thread (one mutex;
// lookups are short). Create() blocks on the Store: call it off the SMTP event loop.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "config/config.h"
#include "intake/store.h"
#include "mail/address.h"

namespace tidegate::intake {

// The answers of the setup page.
struct NewAccount {
  std::string name;
  bool gateway_in_front = true;
  std::string remote_ip_header;  // used when gateway_in_front; must be a valid header name
};

// A random (version 4, RFC 9562) UUID in lower-case hex, from OpenSSL's CSPRNG.
std::string RandomUuidV4();

// RFC 5322 field name: 1–76 printable ASCII characters other than ':' and space.
bool IsValidHeaderName(std::string_view name);

class AccountDirectory {
 public:
  using UuidSource = std::function<std::string()>;

  // Merges config and stored accounts; *dropped (if given) receives one line per stored account
  // left out. Fails if the Store cannot be read or a config account name is not usable as a
  // folder name (see IsSafeAccountName).
  static base::Result<std::unique_ptr<AccountDirectory>> Load(
      const config::IntakeConfig& config, Store* store, const base::Clock* clock,
      std::vector<std::string>* dropped = nullptr, UuidSource uuid = RandomUuidV4);

  // Case-insensitive on the whole address.
  std::optional<AccountRecord> FindByAddress(const mail::Address& address) const;
  std::optional<AccountRecord> FindByName(std::string_view name) const;
  std::vector<AccountRecord> List() const;  // config accounts first, then by creation

  // Validates the answers (name safe and unused, header name valid), generates the address,
  // stores and publishes the account.
  base::Result<AccountRecord> Create(const NewAccount& request);

 private:
  AccountDirectory(Store* store, const base::Clock* clock, std::string domain, UuidSource uuid)
      : store_(store), clock_(clock), domain_(std::move(domain)), uuid_(std::move(uuid)) {}
  bool AddressTakenLocked(std::string_view address) const;

  Store* store_;
  const base::Clock* clock_;
  const std::string domain_;  // of generated addresses: the intake's hostname
  UuidSource uuid_;
  mutable std::mutex mu_;
  std::vector<AccountRecord> accounts_;  // guarded by mu_
};

}  // namespace tidegate::intake
