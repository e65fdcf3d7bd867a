#!/usr/bin/env bash
# tools/dist_sweep.sh: the per-worker batch sweep of docs/distributed.md. Trains the tiny CNN on
# Fashion-MNIST on 2 MPI ranks with per-worker BatchNorm, SyncBatchNorm and GroupNorm at each
# per-worker batch (global batch = 2 × per-worker), with the linear learning-rate scaling rule,
# then writes OUT/summary.csv in `normlab sweep`'s format (batch-size = images per worker), so
# `python3 tools/plot_run.py OUT` draws OUT/error_vs_batch.png. A finished run is skipped, so an
# interrupted sweep continues where it stopped.
#   bash tools/dist_sweep.sh NORMLAB OUT [extra normlab train flags...]
# The environment changes the fixed flags: MODEL (default "--model tiny"), TRAIN_SUBSET (10000),
# EPOCHS (2), LR (0.05, for a global batch of 32). The extra flags must not repeat them.
# MPIRUN_FLAGS adds flags of mpirun (e.g. "--oversubscribe"). A failed run is listed as failed
# in the summary (its output: OUT/<norm>-b<batch>.log) and the sweep goes on.
set -euo pipefail
normlab=$1
out=$2
shift 2
norms=(batch sync_batch group)
per_worker=(32 16 8 4 2)
read -r -a model <<<"${MODEL:---model tiny}"
read -r -a extra_mpirun <<<"${MPIRUN_FLAGS:-}"
mpirun=(mpirun -np 2 "${extra_mpirun[@]}")
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
mkdir -p "$out"
csv="norm,batch-size,final_test_error,best_test_error,epochs,command"
for norm in "${norms[@]}"; do
  for b in "${per_worker[@]}"; do
    run=$out/$norm-b$b
    cmd=("${mpirun[@]}" "$normlab" train "${model[@]}" --norm "$norm" --data fashion-mnist
      --batch-size $((2 * b)) --train-subset "${TRAIN_SUBSET:-10000}" --epochs "${EPOCHS:-2}"
      --lr "${LR:-0.05}" --lr-base-batch 32
      --threads 1 --stats-every 0 --no-progress --out "$run" "$@")
    if [ ! -f "$run/metrics_epochs.csv" ] ||
      [ "$(wc -l <"$run/metrics_epochs.csv")" -lt $((${EPOCHS:-2} + 1)) ]; then
      rm -rf "$run"
      echo "${cmd[*]}"
      if "${cmd[@]}" >"$run.log" 2>&1; then
        tail -1 "$run.log"
      else
        echo "failed (see $run.log)"
      fi
    fi
    row=$(awk -F, 'NR > 1 { n++; a = $6; if (a > best) best = a }
      END { if (n) printf "%.2f%%,%.2f%%,%d", 100 * (1 - a), 100 * (1 - best), n;
            else printf "failed,failed,0" }' "$run/metrics_epochs.csv" 2>/dev/null || echo "failed,failed,0")
    csv+=$'\n'"$norm,$b,$row,\"${cmd[*]}\""
  done
done
printf '%s\n' "$csv" >"$out/summary.csv"
echo "wrote $out/summary.csv; plot it with python3 tools/plot_run.py $out"
