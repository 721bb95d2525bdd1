// scan_attr.h — the message attribute that routes a message through the scan stage (CONTRACT
// §10). Header-only, so the pure acceptance step can set it without linking the stage.
//
// Set to kScanPending at reception for a policy with anti-spam or anti-virus on; removed when the
// verdict's delivered form replaces the message in the spool; kScanReleased on a message released
// from a quarantine (delivered without a new scan).
#pragma once

#include <string>
#include <string_view>

#include "spool/spool.h"

namespace tidegate::scan {

inline constexpr std::string_view kScanAttr = "scan";
inline constexpr std::string_view kScanPending = "pending";
inline constexpr std::string_view kScanReleased = "released";

inline bool NeedsScan(const spool::MessageMeta& meta) {
  auto it = meta.attrs.find(std::string(kScanAttr));
  return it != meta.attrs.end() && it->second == kScanPending;
}

}  // namespace tidegate::scan
