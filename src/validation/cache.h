// cache.h — Cache: recent found / not-found answers of recipient validation (CONTRACT §13,
// `cache_ttl`). Failures are never stored (the caller does not offer them).
//
// Keyed by the address as the method sees it: the local part as received (case kept: a
// directory decides whether it is case-sensitive) and the domain lower-cased. Bounded: beyond
// `max_entries` the least recently used entry goes. Expired entries are dropped when met.
// Thread-safe (a mutex; every call is short).
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/clock.h"
#include "mail/address.h"
#include "validation/lookup.h"

namespace tidegate::validation {

class Cache {
 public:
  struct Entry {
    Outcome outcome = Outcome::kUnknown;  // kKnown or kUnknown
    Method method = Method::kNone;
    std::string reason;
  };

  Cache(const base::Clock* clock, base::Duration ttl, std::size_t max_entries = 100000);

  std::optional<Entry> Find(const mail::Address& address);
  // Stores a kKnown / kUnknown answer (anything else is ignored); ttl 0 stores nothing.
  void Store(const mail::Address& address, Entry entry);
  std::size_t size() const;

  static std::string Key(const mail::Address& address);

 private:
  struct Slot {
    Entry entry;
    base::SystemTime expires;
    std::list<std::string>::iterator lru;
  };
  const base::Clock* clock_;
  base::Duration ttl_;
  std::size_t max_entries_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Slot> slots_;
  std::list<std::string> lru_;  // front: most recently used
};

}  // namespace tidegate::validation
