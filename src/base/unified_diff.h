// unified_diff.h — a line-based unified diff (`diff -u` format) of two texts, pure and
// allocation-bounded, for `tidegate configs diff` and the Web UI's configuration history.
//
// Why our own rather than shelling out to `diff -u`: diffutils is Essential in Debian, but the
// admin API runs on the gateway's io thread and must not fork; and the texts are already in
// memory. The algorithm: the common prefix and suffix are trimmed, then the longest common
// subsequence of the remaining lines is found by dynamic programming. Configuration changes are
// small, so the middle is small; when it is larger than kMaxCells (rows × columns), the middle is
// shown as removed then added — still a correct diff, only not a minimal one.
//
// Output: "--- <from_label>\n+++ <to_label>\n" then hunks "@@ -l,s +l,s @@" with 3 lines of
// context, like GNU diff -u (a missing final newline is marked "\ No newline at end of file").
// Equal texts give "". Nothing throws; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tidegate::base {

inline constexpr std::size_t kMaxDiffCells = std::size_t{1} << 24;  // 16 Mi cells (64 MiB)

std::string UnifiedDiff(std::string_view from, std::string_view to, std::string_view from_label,
                        std::string_view to_label, std::size_t context = 3);

}  // namespace tidegate::base
