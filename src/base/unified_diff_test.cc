// unified_diff_test.cc — the unified diff: exact output for the usual cases, and on random
// texts that applying the diff to `from` gives `to` with a minimal number of changed lines.
#include "base/unified_diff.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <vector>

namespace tidegate::base {
namespace {

TEST(UnifiedDiff, EqualTextsGiveNothing) { EXPECT_EQ(UnifiedDiff("a\nb\n", "a\nb\n", "x", "y"), ""); }

TEST(UnifiedDiff, OneChangedLineWithContext) {
  const std::string from = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
  const std::string to = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
  EXPECT_EQ(UnifiedDiff(from, to, "1", "3"),
            "--- 1\n+++ 3\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(UnifiedDiff, FarApartChangesAreTwoHunksNearOnesOne) {
  std::string from, to;
  for (int i = 1; i <= 20; ++i) {
    from += std::to_string(i) + "\n";
    to += (i == 2 || i == 18 ? "x" : std::to_string(i)) + "\n";
  }
  EXPECT_EQ(UnifiedDiff(from, to, "a", "b"),
            "--- a\n+++ b\n@@ -1,5 +1,5 @@\n 1\n-2\n+x\n 3\n 4\n 5\n"
            "@@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+x\n 19\n 20\n");
  std::string near = from;
  near.replace(near.find("\n8\n"), 3, "\ny\n");
  // 2 and 8 are 5 kept lines apart (≤ 2 × 3): one hunk.
  std::string to2 = "1\nx\n3\n4\n5\n6\n7\ny\n";
  for (int i = 9; i <= 20; ++i) to2 += std::to_string(i) + "\n";
  EXPECT_EQ(UnifiedDiff(from, to2, "a", "b"),
            "--- a\n+++ b\n@@ -1,11 +1,11 @@\n 1\n-2\n+x\n 3\n 4\n 5\n 6\n 7\n-8\n+y\n 9\n 10\n"
            " 11\n");
}

TEST(UnifiedDiff, AdditionsRemovalsAndEmptyTexts) {
  EXPECT_EQ(UnifiedDiff("", "a\n", "f", "t"), "--- f\n+++ t\n@@ -0,0 +1 @@\n+a\n");
  EXPECT_EQ(UnifiedDiff("a\n", "", "f", "t"), "--- f\n+++ t\n@@ -1 +0,0 @@\n-a\n");
  EXPECT_EQ(UnifiedDiff("a\nb\n", "a\nnew\nb\n", "f", "t"),
            "--- f\n+++ t\n@@ -1,2 +1,3 @@\n a\n+new\n b\n");
}

TEST(UnifiedDiff, MissingFinalNewlineIsMarked) {
  EXPECT_EQ(UnifiedDiff("a\nb", "a\nb\n", "f", "t"),
            "--- f\n+++ t\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
}

// Applies a unified diff to `from`; "" and false when it does not fit.
std::pair<std::string, bool> Apply(const std::string& from, const std::string& diff) {
  std::vector<std::string> a;
  {
    std::istringstream in(from);
    for (std::string l; std::getline(in, l);) a.push_back(l);
  }
  std::vector<std::string> out;
  std::size_t next = 0;  // next unconsumed line of a
  std::istringstream in(diff);
  std::string l;
  std::getline(in, l);
  std::getline(in, l);
  while (std::getline(in, l)) {
    if (l.starts_with("@@ -")) {
      std::size_t start = std::stoul(l.substr(4));
      std::size_t count = 1;
      const auto comma = l.find(',');
      if (comma != std::string::npos && comma < l.find(' ', 4)) count = std::stoul(l.substr(comma + 1));
      const std::size_t first = count == 0 ? start : start - 1;
      if (first < next) return {"", false};
      while (next < first) out.push_back(a[next++]);
      continue;
    }
    if (l.empty()) return {"", false};
    if (l[0] == '+') {
      out.push_back(l.substr(1));
    } else if (next < a.size() && a[next] == l.substr(1) && (l[0] == ' ' || l[0] == '-')) {
      if (l[0] == ' ') out.push_back(a[next]);
      ++next;
    } else {
      return {"", false};
    }
  }
  while (next < a.size()) out.push_back(a[next++]);
  std::string s;
  for (const auto& x : out) s += x + "\n";
  return {s, true};
}

std::size_t Lcs(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<std::vector<std::size_t>> t(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = a.size(); i-- > 0;) {
    for (std::size_t j = b.size(); j-- > 0;) {
      t[i][j] = a[i] == b[j] ? t[i + 1][j + 1] + 1 : std::max(t[i + 1][j], t[i][j + 1]);
    }
  }
  return t[0][0];
}

TEST(UnifiedDiff, RandomTextsApplyBackAndAreMinimal) {
  std::mt19937 rng(19);
  for (int round = 0; round < 2000; ++round) {
    std::vector<int> a(rng() % 15), b;
    for (int& x : a) x = static_cast<int>(rng() % 4);
    b = a;
    for (int e = static_cast<int>(rng() % 5); e > 0; --e) {
      const std::size_t at = b.empty() ? 0 : rng() % (b.size() + 1);
      if (rng() % 2 && at < b.size()) b.erase(b.begin() + static_cast<long>(at));
      else b.insert(b.begin() + static_cast<long>(at), static_cast<int>(rng() % 4));
    }
    std::string from, to;
    for (int x : a) from += "line" + std::to_string(x) + "\n";
    for (int x : b) to += "line" + std::to_string(x) + "\n";
    const std::string d = UnifiedDiff(from, to, "a", "b", rng() % 4);
    const auto [applied, ok] = Apply(from, d);
    ASSERT_TRUE(ok) << from << "→\n" << to << "diff:\n" << d;
    ASSERT_EQ(applied, to) << d;
    std::size_t changed = 0;
    std::istringstream in(d);
    for (std::string l; std::getline(in, l);) {
      if ((l[0] == '+' && !l.starts_with("+++")) || (l[0] == '-' && !l.starts_with("---"))) {
        ++changed;
      }
    }
    ASSERT_EQ(changed, a.size() + b.size() - 2 * Lcs(a, b)) << d;
  }
}

TEST(UnifiedDiff, BeyondTheCellBoundStillCorrect) {
  std::string from, to;
  for (int i = 0; i < 5000; ++i) {
    from += "a" + std::to_string(i) + "\n";
    to += "b" + std::to_string(i) + "\n";
  }
  const std::string d = UnifiedDiff(from, to, "a", "b");
  EXPECT_EQ(Apply(from, d).first, to);
}

}  // namespace
}  // namespace tidegate::base
