#!/usr/bin/env bash
# ctest.sh — every ctest run of the suite (`make test`, scripts/sanitize.sh) goes through here.
#
#   scripts/ctest.sh BUILD_DIR [CTEST_ARGS...]
#
# Runs ctest in BUILD_DIR with --no-tests=error (a build that registers no test, or a -R/-L that
# selects none, fails instead of passing empty) and --output-on-failure. ctest reports a skipped
# test (an e2e file that exits 77, a GoogleTest GTEST_SKIP) as "Skipped" and still exits 0;
# under CI=true, where everything the tests need is installed, any test that did not run fails
# the run here, named with its reason (docs/RELIABILITY.md, "Skips").
set -uo pipefail

BUILD=${1:?usage: ctest.sh BUILD_DIR [CTEST_ARGS...]}
shift
LOG=$BUILD/ctest.log
(cd "$BUILD" && ctest --no-tests=error --output-on-failure "$@") 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}

# ctest's summary: "The following tests did not run:" then one "<n> - <name> (Skipped)" a line.
not_run=$(sed -n '/^The following tests did not run:/,/^$/p' "$LOG" | grep -E '^\s+[0-9]+ - ')
if [ -n "$not_run" ]; then
  # Their reasons (--output-on-failure shows none for a skip): pytest's -rs summary lines and
  # GoogleTest's, from ctest's log of this run.
  grep -hE '^SKIPPED \[|\[  SKIPPED \] [^0-9]' "$BUILD"/Testing/Temporary/LastTest*.log >&2 || true
  if [ "${CI:-}" = true ]; then
    echo "ctest.sh: CI=true and these tests did not run (a skip is a failure in CI):" >&2
    echo "$not_run" >&2
    [ "$rc" -ne 0 ] || rc=1
  else
    echo "ctest.sh: $(echo "$not_run" | wc -l) test(s) skipped:" >&2
    echo "$not_run" >&2
  fi
fi
exit "$rc"
