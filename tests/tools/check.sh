# tests/tools/check.sh: sourced by the real-process tests (test_crash.sh, test_sweep.sh,
# test_plot_run.sh, tests/dist/test_mpi_train.sh), which set fail=0 and exit 1 when it is not 0.
# check NAME CONDITION...: runs CONDITION and prints "ok   NAME", or "FAIL NAME" and sets fail=1.
# wait_for CONDITION: polls it every 0.05 s; after 120 s prints FAIL and sets fail=1, so that a
# hang fails instead of blocking.
check() {
  local name=$1
  shift
  if "$@"; then
    echo "ok   $name"
  else
    echo "FAIL $name"
    fail=1
  fi
}

wait_for() {
  for _ in $(seq 2400); do
    if eval "$1"; then return 0; fi
    sleep 0.05
  done
  echo "FAIL timed out waiting for: $1"
  fail=1
  return 1
}
