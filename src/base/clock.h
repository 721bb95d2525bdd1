// clock.h — Clock: the one source of time for scheduling, expiry and log stamps.
//
// Injected everywhere time matters so that retries, expiry and timeouts are tested in
// milliseconds with a FakeClock. Implementations must be safe to call from any thread.
#pragma once

#include <atomic>
#include <chrono>

namespace tidegate::base {

using SystemTime = std::chrono::system_clock::time_point;
using Duration = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time: log stamps, Received: headers, message ages stored in the spool.
  virtual SystemTime Now() const = 0;
};

// The real clock.
class SystemClock final : public Clock {
 public:
  SystemTime Now() const override { return std::chrono::system_clock::now(); }
  static SystemClock& Instance() {
    static SystemClock clock;
    return clock;
  }
};

// A clock for tests: starts at a fixed point, moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(SystemTime start = SystemTime(std::chrono::seconds(1700000000)))
      : now_(start.time_since_epoch().count()) {}
  SystemTime Now() const override { return SystemTime(SystemTime::duration(now_.load())); }
  void Advance(SystemTime::duration d) { now_ += d.count(); }

 private:
  std::atomic<SystemTime::duration::rep> now_;
};

}  // namespace tidegate::base
