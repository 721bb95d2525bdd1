#include "queue/connection_budget.h"

namespace tidegate::queue {

std::uint32_t ConnectionBudget::Get(const std::map<Key, std::uint32_t>& m, const Key& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

void ConnectionBudget::Drop(std::map<Key, std::uint32_t>& m, const Key& k) {
  auto it = m.find(k);
  if (it == m.end()) return;
  if (--it->second == 0) m.erase(it);  // no entry for every host ever seen
}

bool ConnectionBudget::CanStart(const std::string& pool, const Caps& caps) const {
  return started(pool) < caps.total;
}

void ConnectionBudget::Started(const std::string& pool) { ++started_[pool]; }

void ConnectionBudget::Stopped(const std::string& pool) {
  auto it = started_.find(pool);
  if (it != started_.end() && --it->second == 0) started_.erase(it);
}

bool ConnectionBudget::Acquire(const std::string& pool, const std::string& host,
                               const std::string& ip, const Caps& caps) {
  const Key h{pool, host}, a{pool, ip};
  if (Get(hosts_, h) >= caps.per_host || Get(ips_, a) >= caps.per_ip) return false;
  ++hosts_[h];
  ++ips_[a];
  return true;
}

void ConnectionBudget::Release(const std::string& pool, const std::string& host,
                               const std::string& ip) {
  Drop(hosts_, {pool, host});
  Drop(ips_, {pool, ip});
}

std::uint32_t ConnectionBudget::started(const std::string& pool) const {
  auto it = started_.find(pool);
  return it == started_.end() ? 0 : it->second;
}

std::uint32_t ConnectionBudget::to_host(const std::string& pool, const std::string& host) const {
  return Get(hosts_, {pool, host});
}

std::uint32_t ConnectionBudget::to_ip(const std::string& pool, const std::string& ip) const {
  return Get(ips_, {pool, ip});
}

}  // namespace tidegate::queue
