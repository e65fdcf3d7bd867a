#!/usr/bin/env bash
# tools/fuzz.sh: the long fuzzing run. Builds the fuzz preset (clang 14, libFuzzer, ASan + UBSan),
# then runs the fuzz targets one after another, each as one process for SECONDS (default 600), on
# build/fuzz/fuzz/work/<target>/corpus seeded from fuzz/corpus/<target>, with the limits CI uses
# (an input that allocates over 512 MB, grows the process past 1 GB or runs 10 s is a finding).
# Prints the executions and coverage of each target; the full logs are
# build/fuzz/fuzz/work/<target>/long.log, any crashing input is saved next to them in artifacts/.
#   tools/fuzz.sh [SECONDS] [TARGET...]     targets: npy checkpoint train_config cifar_bin
#                                            cifar_tar idx image dataset_spec (default: all)
# Exit status 1 if any target found something.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=${1:-600}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(npy checkpoint train_config cifar_bin cifar_tar idx image dataset_spec)
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

status=0
printf '%-13s %12s %8s %8s  %s\n' target executions cov ft result
for t in "${targets[@]}"; do
  work=build/fuzz/fuzz/work/$t
  mkdir -p "$work/corpus" "$work/artifacts"
  result=ok
  if ! "build/fuzz/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
    -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "fuzz/corpus/$t" >"$work/long.log" 2>&1; then
    result="FOUND SOMETHING: see $work/long.log and $work/artifacts/"
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/long.log" || true)
  last=$(grep -E '^#[0-9]+[[:space:]]' "$work/long.log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  printf '%-13s %12s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit "$status"
