"""The side-by-side benchmark's own checks (issue 8): a short tidegate-only run passes, and a run in
which no journal copy can arrive (tidegate trusts the wrong CA) exits non-zero."""
import os
import re
import subprocess
import sys

import pytest

from harness import timing_slack

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "sidebyside.py")
BUILD = os.path.dirname(os.environ.get("TIDEGATE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tidegate"))

# It makes cgroups (v1 cpuacct or v2, bench/sidebyside.py's cgroup_root()) and runs Postfix's tools.
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the benchmark needs root (cgroups)")


def bench(tmp_path, *extra, timeout=120):
    timeout *= timing_slack()
    return subprocess.run(
        [sys.executable, BENCH, "--systems", "tidegate", "--rounds", "1", "-n", "200",
         "--warmup", "10", "--settle", "0", "--out", str(tmp_path), *extra],
        env=dict(os.environ, TIDEGATE_BUILD=BUILD), capture_output=True, text=True,
        timeout=timeout)


def test_a_complete_run_passes_and_reports_every_figure(tmp_path):
    r = bench(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    for label in ("ingest msg/s", "e2e msg/s", "CPU ms/msg (system)", "p99 ms",
                  "peak memory MB (PSS)"):
        assert f"| {label} |" in r.stdout, r.stdout
    assert '"missing": 0' in (tmp_path / "results.jsonl").read_text()


def test_missing_journal_copies_fail_the_benchmark(tmp_path):
    r = bench(tmp_path, "--break-journal", "--warmup", "0", "--timeout", "5")
    assert r.returncode == 1, r.stdout + r.stderr
    # Every one of the 200+ copies is missing; the next hop got its messages.
    assert "FAILED" in r.stderr and re.search(r'"missing": 2\d\d\b', r.stderr), r.stderr
