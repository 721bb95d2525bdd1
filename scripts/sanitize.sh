#!/usr/bin/env bash
# sanitize.sh — runs ctest (unit + end-to-end) in an ASan+UBSan build dir (`make sanitize`).
#
#   scripts/sanitize.sh BUILD_DIR [CTEST_ARGS...]     (e.g. -L timing: those tests only)
#
# Every sanitizer report, from a test binary or from a tidegate process an end-to-end test started
# (those inherit the options below), is written to BUILD_DIR/sanitizer-reports/ instead of stderr:
# a gateway's stderr goes to a test's temp dir and is deleted with it, so without this a report in
# a child process that did not break the test would go unseen. Any report fails the run, even when
# every test passed. Leak reports come from processes that exit normally (a graceful SIGTERM stop).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: sanitize.sh BUILD_DIR [CTEST_ARGS...]}" && pwd)
shift
REPORTS="$BUILD/sanitizer-reports"
rm -rf "$REPORTS"
mkdir -p "$REPORTS"

# detect_stack_use_after_return=0: Asio's coroutine frames confuse ASan's fake stacks.
# LeakSanitizer suppressions: third-party libraries only (tests/sanitizer/lsan.supp).
export ASAN_OPTIONS="detect_stack_use_after_return=0:halt_on_error=1:log_path=$REPORTS/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$REPORTS/ubsan"
export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizer/lsan.supp:print_suppressions=0"

# Every test runs here, the `timing`-labelled ones too (tests/CMakeLists.txt): the soak's
# throughput/p99 comparison, the event-loop stall bound and the benchmark's own run measure the
# instrumented binary's slowness as well, so TIDEGATE_TIMING_SLACK relaxes their time bounds (and
# only those, tests/e2e/harness.py); their correctness checks run unchanged.
export TIDEGATE_TIMING_SLACK=${TIDEGATE_TIMING_SLACK:-4}
# Not a time bound, but meaningless here as well: ASan keeps freed memory in its quarantine (256 MiB
# by default) before reusing it, so the soak's RSS growth bound (32 MiB over the first healthy
# block's peak, tests/e2e/soak.py) gets that allowance on top. Leaks are LeakSanitizer's job here.
export SOAK_RSS_BOUND_MIB=${SOAK_RSS_BOUND_MIB:-288}
"$ROOT/scripts/ctest.sh" "$BUILD" -j 2 --timeout 900 "$@"
rc=$?

reports=$(find "$REPORTS" -type f | sort)
if [ -n "$reports" ]; then
  echo "sanitize.sh: $(echo "$reports" | wc -l) sanitizer report(s):"
  for f in $reports; do
    echo "==== $f"
    head -n 80 "$f"
  done
  exit 1
fi
echo "sanitize.sh: no sanitizer report"
exit $rc
