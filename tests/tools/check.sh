# tests/tools/check.sh: sourced by the real-process tests (test_crash.sh, test_sweep.sh,
# test_plot_run.sh, tests/dist/test_mpi_train.sh), which set fail=0 and exit 1 when it is not 0.
# check NAME CONDITION...: runs CONDITION and prints "ok   NAME", or "FAIL NAME" and sets fail=1.
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
