# Functions of .ci/test-all.sh (sourced; tests/test_reliability.py runs them on a failing part).
# Each part's output is also kept in _build/ci-logs/<part>.log. When a part fails, its name,
# exit status and time, the failing tests with their short tracebacks, and (for the book) the
# jupyter-book execution report of each failed page are printed again at the end, so that a
# red run says what failed without scrolling through the log.
LOGS=_build/ci-logs
mkdir -p "$LOGS"

report_failure() {
  local name=$1 rc=$2 log=$3 secs=$4
  echo
  echo "=================================================================================="
  echo "=== [$name] FAILED (exit $rc) after $secs s; full output: $log"
  if grep -q "short test summary info" "$log"; then
    echo "--- failing tests, short tracebacks:"
    # the FAILURES / ERRORS sections (pytest --tb=short), at most 200 lines, then the summary
    sed -n '/^=\+ \(FAILURES\|ERRORS\) =\+$/,/short test summary info/{/short test summary info/!p}' "$log" | head -n 200
    sed -n '/short test summary info/,$p' "$log" | head -n 60
  fi
  local reports=(_build/html/reports/*.log)
  if [ "$name" = book ] && [ -e "${reports[0]}" ]; then
    for r in "${reports[@]}"; do
      echo "--- jupyter-book execution report: $r (last 80 lines)"
      tail -n 80 "$r"
    done
  fi
  if [ "$name" = book ]; then
    echo "--- warnings and errors of the build:"
    grep -E "WARNING|ERROR|Exception|Error:" "$log" | head -n 60 || true
  fi
  echo "=================================================================================="
}

part() {
  local name=$1; shift
  local t0=$SECONDS log="$LOGS/$name.log" rc
  echo "=== [$name] $*"
  set +e
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    report_failure "$name" "$rc" "$log" "$((SECONDS - t0))"
    exit "$rc"
  fi
  echo "=== [$name] done in $((SECONDS - t0)) s"
}
