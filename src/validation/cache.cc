// cache.cc — see cache.h.
#include "validation/cache.h"

namespace tidegate::validation {

Cache::Cache(const base::Clock* clock, base::Duration ttl, std::size_t max_entries)
    : clock_(clock), ttl_(ttl), max_entries_(max_entries == 0 ? 1 : max_entries) {}

std::string Cache::Key(const mail::Address& address) {
  return address.local_unquoted() + "@" + address.domain_lower();
}

std::optional<Cache::Entry> Cache::Find(const mail::Address& address) {
  std::string key = Key(address);
  std::lock_guard lock(mu_);
  auto it = slots_.find(key);
  if (it == slots_.end()) return std::nullopt;
  if (clock_->Now() >= it->second.expires) {
    lru_.erase(it->second.lru);
    slots_.erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.entry;
}

void Cache::Store(const mail::Address& address, Entry entry) {
  if (ttl_.count() <= 0) return;
  if (entry.outcome != Outcome::kKnown && entry.outcome != Outcome::kUnknown) return;
  std::string key = Key(address);
  std::lock_guard lock(mu_);
  base::SystemTime expires = clock_->Now() + ttl_;
  auto it = slots_.find(key);
  if (it != slots_.end()) {
    it->second.entry = std::move(entry);
    it->second.expires = expires;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  while (slots_.size() >= max_entries_ && !lru_.empty()) {
    slots_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(key);
  slots_.emplace(std::move(key), Slot{std::move(entry), expires, lru_.begin()});
}

std::size_t Cache::size() const {
  std::lock_guard lock(mu_);
  return slots_.size();
}

}  // namespace tidegate::validation
