#!/usr/bin/env python3
"""paired_ratios.py — issue 16's figure over one or more runs of bench/scanning.py.

    bench/paired_ratios.py bench/results/2026-12-06-scanning-session12-pinned-paired-a.jsonl ...

For every system (tidegate, postfix), each round's paired ratio: its end-to-end msg/s over the
direct "both" run just before it (the row with `before` = that system, same round). Per file:
the median and range; over all files pooled: the median, how many rounds are at or above the
target, the distribution-free 95 % interval of the median (order statistics, from the binomial
distribution with p = 1/2), and a one-sided sign test of "the median is above the target".
Only the standard library; no results are changed.
"""
import argparse
import json
import math
import statistics
import sys


def paired(path, system):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    both = {r["round"]: r for r in rows
            if r["system"] == "both-direct" and r.get("before") == system}
    out = []
    for r in rows:
        if r["system"] == system and r["round"] in both and r.get("e2e_msgs_per_s"):
            out.append(r["e2e_msgs_per_s"] / both[r["round"]]["msgs_per_s"])
    return out


def binom_cdf(k, n):
    """P(X <= k) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n


def median_interval(xs, level=0.95):
    """(lower, upper, j, k): the order statistics x_(j) and x_(k) (1-based) that cover the median
    with at least `level` probability, whatever the distribution; None when n is too small."""
    n = len(xs)
    s = sorted(xs)
    alpha = (1 - level) / 2
    # j: the smallest count with P(X <= j) > alpha, so P(X <= j - 1) <= alpha: the interval
    # x_(j) .. x_(n-j+1) misses the median with probability 2 P(X <= j - 1) <= 1 - level.
    j = 0
    while j < n and binom_cdf(j, n) <= alpha:
        j += 1
    if j == 0 or j > n - j + 1:
        return None
    return s[j - 1], s[n - j], j, n - j + 1


def sign_test_above(xs, target):
    """One-sided p-value of "the median is above `target`" (ties dropped)."""
    above = sum(1 for x in xs if x > target)
    below = sum(1 for x in xs if x < target)
    n = above + below
    return 1 - binom_cdf(above - 1, n) if n else 1.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", help="results.jsonl files of bench/scanning.py")
    ap.add_argument("--system", default="tidegate")
    ap.add_argument("--target", type=float, default=0.90)
    args = ap.parse_args()
    pooled = []
    for path in args.files:
        xs = paired(path, args.system)
        if not xs:
            print(f"{path}: no paired {args.system} rounds", file=sys.stderr)
            return 1
        pooled += xs
        print(f"{path}: {len(xs)} rounds, median {100 * statistics.median(xs):.1f} % "
              f"({100 * min(xs):.0f}–{100 * max(xs):.0f}): "
              + " ".join(f"{100 * x:.0f}" for x in xs))
    n = len(pooled)
    at = sum(1 for x in pooled if x >= args.target)
    print(f"pooled: {n} rounds, median {100 * statistics.median(pooled):.1f} %, "
          f"{at} of {n} at or above {100 * args.target:.0f} %")
    ci = median_interval(pooled)
    if ci:
        lo, hi, j, k = ci
        cover = 1 - 2 * binom_cdf(j - 1, n)
        print(f"distribution-free interval of the median: {100 * lo:.1f}–{100 * hi:.1f} % "
              f"(order statistics {j} and {k}, coverage {100 * cover:.1f} %)")
        print(f"its lower end is {'at or above' if lo >= args.target else 'below'} the target")
    p = sign_test_above(pooled, args.target)
    shown = f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
    print(f"one-sided sign test, median above {100 * args.target:.0f} %: p = {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
