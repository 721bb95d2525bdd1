// unified_diff.cc — see unified_diff.h.
#include "base/unified_diff.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tidegate::base {
namespace {

struct Line {
  std::string_view text;  // without its newline
  bool newline = true;    // false: the text's last line, without a final newline
  bool operator==(const Line&) const = default;
};

std::vector<Line> SplitLines(std::string_view s) {
  std::vector<Line> out;
  std::size_t start = 0;
  while (start < s.size()) {
    const std::size_t nl = s.find('\n', start);
    if (nl == std::string_view::npos) {
      out.push_back({s.substr(start), false});
      break;
    }
    out.push_back({s.substr(start, nl - start), true});
    start = nl + 1;
  }
  return out;
}

// One line of the edit script: ' ' kept, '-' removed (index in a), '+' added (index in b).
struct Op {
  char kind;
  std::size_t a;  // the line's index in `a` (for ' ' and '-'), or where it would go
  std::size_t b;  // the same in `b`
};

std::vector<Op> EditScript(const std::vector<Line>& a, const std::vector<Line>& b) {
  std::size_t pre = 0;
  while (pre < a.size() && pre < b.size() && a[pre] == b[pre]) ++pre;
  std::size_t suf = 0;
  while (suf < a.size() - pre && suf < b.size() - pre &&
         a[a.size() - 1 - suf] == b[b.size() - 1 - suf]) {
    ++suf;
  }
  const std::size_t n = a.size() - pre - suf, m = b.size() - pre - suf;
  std::vector<Op> ops;
  for (std::size_t i = 0; i < pre; ++i) ops.push_back({' ', i, i});
  if (n > 0 && m > 0 && (n + 1) * (m + 1) <= kMaxDiffCells) {
    // lcs[i][j]: the LCS length of a[pre+i..pre+n) and b[pre+j..pre+m).
    std::vector<std::uint32_t> lcs((n + 1) * (m + 1), 0);
    auto at = [&](std::size_t i, std::size_t j) -> std::uint32_t& { return lcs[i * (m + 1) + j]; };
    for (std::size_t i = n; i-- > 0;) {
      for (std::size_t j = m; j-- > 0;) {
        at(i, j) = a[pre + i] == b[pre + j] ? at(i + 1, j + 1) + 1
                                            : std::max(at(i + 1, j), at(i, j + 1));
      }
    }
    std::size_t i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[pre + i] == b[pre + j]) {
        ops.push_back({' ', pre + i, pre + j});
        ++i, ++j;
      } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
        ops.push_back({'-', pre + i, pre + j});  // removals first, as diff prints them
        ++i;
      } else {
        ops.push_back({'+', pre + i, pre + j});
        ++j;
      }
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) ops.push_back({'-', pre + i, pre});
    for (std::size_t j = 0; j < m; ++j) ops.push_back({'+', pre + n, pre + j});
  }
  for (std::size_t k = 0; k < suf; ++k) ops.push_back({' ', pre + n + k, pre + m + k});
  return ops;
}

// "l,s" of a hunk header as diff -u writes it (an empty range names the line before it).
std::string Range(std::size_t first, std::size_t count) {
  if (count == 1) return std::to_string(first + 1);
  return std::to_string(count == 0 ? first : first + 1) + "," + std::to_string(count);
}

}  // namespace

std::string UnifiedDiff(std::string_view from, std::string_view to, std::string_view from_label,
                        std::string_view to_label, std::size_t context) {
  if (from == to) return "";
  const std::vector<Line> a = SplitLines(from), b = SplitLines(to);
  const std::vector<Op> ops = EditScript(a, b);
  std::string out;
  out.append("--- ").append(from_label).append("\n+++ ").append(to_label).append("\n");
  std::size_t k = 0;
  while (k < ops.size()) {
    while (k < ops.size() && ops[k].kind == ' ') ++k;
    if (k == ops.size()) break;
    // A hunk: from `context` lines before this change to `context` lines after the last change
    // that is at most 2 * context kept lines away from the previous one.
    const std::size_t begin = k >= context ? k - context : 0;
    std::size_t end = k;
    while (true) {
      while (end < ops.size() && ops[end].kind != ' ') ++end;
      std::size_t kept = end;
      while (kept < ops.size() && ops[kept].kind == ' ') ++kept;
      if (kept < ops.size() && kept - end <= 2 * context) {
        end = kept;
        continue;
      }
      end = std::min(ops.size(), end + context);
      break;
    }
    std::size_t a_count = 0, b_count = 0;
    for (std::size_t x = begin; x < end; ++x) {
      if (ops[x].kind != '+') ++a_count;
      if (ops[x].kind != '-') ++b_count;
    }
    out += "@@ -" + Range(ops[begin].a, a_count) + " +" + Range(ops[begin].b, b_count) + " @@\n";
    for (std::size_t x = begin; x < end; ++x) {
      const Line& line = ops[x].kind == '+' ? b[ops[x].b] : a[ops[x].a];
      out.push_back(ops[x].kind);
      out.append(line.text).append("\n");
      if (!line.newline) out += "\\ No newline at end of file\n";
    }
    k = end;
  }
  return out;
}

}  // namespace tidegate::base
