#!/usr/bin/env bash
# Data-parallel training on 2 real MPI ranks (docs/distributed.md), against the single process.
#   1. GroupNorm and SyncBatchNorm, in float64: 24 steps on 2 ranks end with the single process's
#      weights, momentum and running statistics to float64 round-off (relative 1e-10). GroupNorm
#      in float32 too, for 4 steps, to float32 round-off (1e-5).
#   2. Per-worker BatchNorm ends elsewhere (each rank normalizes its own half; the float64 check
#      that it equals a single process normalizing each half is tests/tools/test_data_parallel.cpp).
#   3. A run of 2 ranks stopped and resumed on 2 ranks ends with the uninterrupted run's
#      checkpoint byte for byte; resumed in 1 process (float64), it ends there to round-off.
#   4. Killing one rank ends the job non-zero with a message naming it, and the last checkpoint
#      loads and resumes.
# Why float64: float32 training amplifies round-off. A ReLU or max-pool input within rounding of a
# tie sends the gradient elsewhere in one run than in the other, and a few dozen steps later the
# weights differ by percents. SyncBatchNorm meets this in float32, because 2 ranks sum its
# statistics in another order than 1 process: after 24 steps the runs ended 0.35 apart at lr 0.02
# and 8e-7 apart at lr 0.005, or the other way round after the convolution changed its blocking of
# the GEMMs. In float64 the same runs stay within 2e-14 (lr 0.02 and 0.05). GroupNorm's statistics
# do not mix samples, so its runs part only through sums such as the gradient's (dW sums the
# images in another order on 2 ranks), and they meet a tie later: with the direct convolution of
# 16×16 and smaller maps they stay within 1.3e-7 for 4 steps and end 3e-4 apart after 6 and 7e-4
# after 24, so the float32 check runs 4 steps.
# Usage: test_mpi_train.sh NORMLAB MPIRUN compare|resume|kill (parts 1–2, 3, 4)
set -u
normlab=$1
mpirun=$2
part=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
job=
trap '[ -n "$job" ] && kill -9 "$job" 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
ranks=("$mpirun" -np 2 --oversubscribe)
common=(--model tiny --data fashion-mnist --test-subset 100 --batch-size 32 --threads 1
  --no-progress --lr 0.02 --log-every 100)

source "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

compare() {  # compare A B RTOL [flags]: the script's own line, then its verdict as the status
  /usr/bin/python3 "$here/compare_checkpoints.py" "$@"
}

compare_part() {
  local runs=("group float64" "sync_batch float64" "batch float64" "group float32")
  for run in "${runs[@]}"; do
    read -r norm dtype <<<"$run"
    local steps=768  # images: 24 steps of 32
    [ "$dtype" = float32 ] && steps=128  # 4 steps
    local flags=("${common[@]}" --train-subset "$steps" --norm "$norm" --dtype "$dtype" --epochs 1)
    "$normlab" train "${flags[@]}" --out "$tmp/one-$norm-$dtype" >"$tmp/log" 2>&1
    check "$norm $dtype: single process" [ $? -eq 0 ]
    "${ranks[@]}" "$normlab" train "${flags[@]}" --out "$tmp/two-$norm-$dtype" >"$tmp/log" 2>&1
    check "$norm $dtype: 2 ranks" [ $? -eq 0 ]
    check "$norm $dtype: 2 ranks print the per-rank batch" \
      grep -q "2 ranks, 16 images per rank" "$tmp/log"
  done
  local one=$tmp/one two=$tmp/two
  for norm in group sync_batch; do
    check "$norm float64: 2 ranks end with the single process's state" \
      compare "$two-$norm-float64/last.safetensors" "$one-$norm-float64/last.safetensors" 1e-10
  done
  check "sync_batch float64: running statistics included" \
    compare "$two-sync_batch-float64/last.safetensors" "$one-sync_batch-float64/last.safetensors" \
    1e-10 --only running_
  check "group float32: 2 ranks end with the single process's state" \
    compare "$two-group-float32/last.safetensors" "$one-group-float32/last.safetensors" 1e-5
  check "batch (per worker): 2 ranks end elsewhere" \
    compare "$two-batch-float64/last.safetensors" "$one-batch-float64/last.safetensors" 1e-3 \
    --skip optim --differ
}

# 3. 12 steps per epoch, 2 epochs, a checkpoint every 6 steps; stopped after step 18. The runs
# share one directory name, as checkpoints store it (in their config).
resume_part() {
  local run=$tmp/run resumed=(--model tiny --data fashion-mnist --train-subset 384 --test-subset 50
    --batch-size 32 --threads 1 --no-progress --lr 0.02 --norm sync_batch --dtype float64 --epochs 2
    --checkpoint-every 6)
  "${ranks[@]}" "$normlab" train "${resumed[@]}" --out "$run" >"$tmp/log" 2>&1
  check "2 ranks, uninterrupted" [ $? -eq 0 ]
  mv "$run" "$tmp/whole"
  "${ranks[@]}" "$normlab" train "${resumed[@]}" --stop-after-steps 18 --out "$run" >"$tmp/log" 2>&1
  check "2 ranks stop after step 18" [ $? -eq 0 ]
  cp -r "$run" "$tmp/moved"
  "${ranks[@]}" "$normlab" train --resume "$run" --no-progress >"$tmp/log" 2>&1
  check "2 ranks resume" [ $? -eq 0 ]
  check "resumed on 2 ranks: the uninterrupted checkpoint byte for byte" \
    cmp "$run/last.safetensors" "$tmp/whole/last.safetensors"
  "$normlab" train --resume "$tmp/moved" --no-progress >"$tmp/log" 2>&1
  check "1 process resumes the checkpoint of 2 ranks" [ $? -eq 0 ]
  check "resumed in 1 process: the 6 remaining steps end there to round-off" \
    compare "$tmp/moved/last.safetensors" "$tmp/whole/last.safetensors" 1e-10
}

# 4. SIGKILL to rank 1 after the checkpoint of step 3.
kill_part() {
  NORMLAB_TEST_STEP_DELAY_MS=150 "${ranks[@]}" "$normlab" train "${common[@]}" --train-subset 768 \
    --norm group --epochs 2 --checkpoint-every 3 --out "$tmp/killed" >"$tmp/out" 2>"$tmp/err" </dev/null &
  job=$!
  rank1=
  for _ in $(seq 1200); do  # up to 60 s
    for p in $(pgrep -P "$job"); do
      tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && rank1=$p
    done
    [ -n "$rank1" ] && [ -f "$tmp/killed/last.safetensors" ] && break
    sleep 0.05
  done
  check "rank 1 found and a checkpoint written" [ -n "$rank1" ] && [ -f "$tmp/killed/last.safetensors" ]
  [ -n "$rank1" ] && kill -9 "$rank1"
  wait "$job"
  rc=$?
  job=
  check "killing rank 1 fails the job (status $rc)" [ "$rc" -ne 0 ]
  check "the job says which rank died" grep -qi "rank 1" "$tmp/err"
  "$normlab" train --resume "$tmp/killed" --epochs 1 --no-progress >"$tmp/log" 2>&1
  check "the last checkpoint loads and resumes" [ $? -eq 0 ]
  [ "$fail" -eq 0 ] || cat "$tmp/err"
}

case "$part" in
  compare) compare_part ;;
  resume) resume_part ;;
  kill) kill_part ;;
  *) echo "usage: test_mpi_train.sh NORMLAB MPIRUN compare|resume|kill" >&2; exit 2 ;;
esac
exit "$fail"
