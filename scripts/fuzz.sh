#!/usr/bin/env bash
# fuzz.sh — runs every libFuzzer target of a TIDEGATE_FUZZ build (`make fuzz`, `make fuzz-ci`).
#
#   scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]
#
# The targets are those the build defines (tidegate_fuzz() in CMake writes them, with their
# binaries, to BUILD_DIR/fuzz-targets.txt), so a new target runs without an edit here.
# For each target (default: all of them): first replays every reproducer kept in
# tests/fuzz/regressions/<target>/ (each must run clean: a finding once fixed stays fixed), then
# fuzzes for SECONDS starting from the committed seed corpus tests/fuzz/corpus/<target>/. New
# inputs go to BUILD_DIR/fuzz-corpus/<target>/ (the committed corpus is never written), crashes
# to BUILD_DIR/fuzz-artifacts/<target>/. Prints one summary line per target (runs, execs/s,
# coverage) and exits non-zero if any target failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:?usage: fuzz.sh BUILD_DIR SECONDS [TARGET...]}
SECONDS_PER_TARGET=${2:?usage: fuzz.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
LIST=$BUILD/fuzz-targets.txt
if [ ! -s "$LIST" ]; then
  echo "fuzz.sh: $LIST is missing or empty: $BUILD is not a TIDEGATE_FUZZ build" >&2
  exit 1
fi
declare -A BINARY
while read -r name path; do BINARY[$name]=$path; done < "$LIST"
# A fuzzer not defined with tidegate_fuzz() (or a stale binary of a renamed one) is not run: say so.
for f in $(find "$BUILD/src" -type f -perm -u+x -name '*_fuzz' 2>/dev/null); do
  [ -n "${BINARY[$(basename "$f")]:-}" ] ||
    echo "fuzz.sh: warning: $f is not in $LIST (not defined with tidegate_fuzz()?): not run" >&2
done
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(cut -d' ' -f1 "$LIST")
fi
echo "fuzz.sh: ${#TARGETS[@]} target(s): ${TARGETS[*]}"

# halt_on_error: any ASan or UBSan report is a crash. detect_leaks stays on (our code only).
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=()
summary=()
for t in "${TARGETS[@]}"; do
  bin=${BINARY[$t]:-}
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "fuzz.sh: $t is not a fuzz target of $BUILD, or not built (${bin:-not in $LIST})" >&2
    failed+=("$t")
    continue
  fi
  corpus="$ROOT/tests/fuzz/corpus/$t"
  regressions="$ROOT/tests/fuzz/regressions/$t"
  work="$BUILD/fuzz-corpus/$t"
  artifacts="$BUILD/fuzz-artifacts/$t/"
  log="$BUILD/fuzz-logs/$t.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"

  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    count=$(ls -A "$regressions" | wc -l)
    if ! "$bin" -timeout=30 "$regressions"/* >"$log.regressions" 2>&1; then
      echo "FAIL $t: a kept reproducer crashes again (see $log.regressions)"
      tail -n 30 "$log.regressions"
      failed+=("$t")
      continue
    fi
    echo "ok   $t: $count reproducer(s) replayed clean"
  fi

  seeds=()
  if [ -d "$corpus" ]; then seeds=("$corpus"); else echo "note $t: no seed corpus $corpus"; fi
  start=$(date +%s)
  "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" \
    "$work" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  line=$(printf '%-26s %4ss %10s runs %8s exec/s  %s' "$t" "$elapsed" "${runs:-?}" "${rate:-?}" \
         "${cov:-}")
  if [ $rc -ne 0 ]; then
    echo "FAIL $line (exit $rc; log $log, inputs in $artifacts)"
    grep -m 5 -E 'ERROR|runtime error|SUMMARY' "$log"
    failed+=("$t")
  else
    echo "ok   $line"
  fi
  summary+=("$line")
done

echo "---- fuzz summary (${SECONDS_PER_TARGET}s per target) ----"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${#TARGETS[@]} targets clean"
