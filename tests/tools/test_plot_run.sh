#!/usr/bin/env bash
# tools/plot_run.py on what normlab writes: a run with landscape.csv (its own panels, and the
# comparison of several runs), a seeded sweep (error bars over seeds, error curves), a sweep
# without a seed axis, and missing files, which are left out with a note instead of a traceback.
# Usage: test_plot_run.sh PATH_TO_NORMLAB PATH_TO_PLOT_RUN_PY
set -u
normlab=$1
plot=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
source "$(dirname "${BASH_SOURCE[0]}")/check.sh"
small=(--model tiny --width 0.25 --train-subset 128 --test-subset 32 --batch-size 16 --epochs 1
  --threads 1 --no-progress --stats-every 4)
for n in none batch; do
  "$normlab" train "${small[@]}" --norm "$n" --landscape-every 3 --out "$tmp/$n" >/dev/null 2>&1
  check "train --norm $n --landscape-every 3" [ -s "$tmp/$n/landscape.csv" ]
done
/usr/bin/python3 "$plot" "$tmp/batch" >"$tmp/out" 2>&1
check "a run's plots include landscape.png" [ -s "$tmp/batch/landscape.png" ]
check "a run's plots include curves.png" [ -s "$tmp/batch/curves.png" ]
/usr/bin/python3 "$plot" --landscape "$tmp/none" "$tmp/batch" "$tmp/missing" --out "$tmp/cmp.png" \
  >"$tmp/out" 2>"$tmp/err"
check "the comparison figure is written" [ $? -eq 0 ] && [ -s "$tmp/cmp.png" ]
check "a run without landscape.csv is left out with a note" grep -q "missing.*left out" "$tmp/err"
check "the summary table has a row per drawn run" [ "$(grep -c "^| tiny " "$tmp/out")" -eq 2 ]
check "the summary's medians are numbers" grep -Eq '^\| tiny batch b[0-9]+ \| [0-9]+ \| [0-9]+\.[0-9]{2} \|' "$tmp/out"
check "no traceback" bash -c "! grep -q Traceback '$tmp/err'"
/usr/bin/python3 "$plot" --landscape "$tmp/missing" --out "$tmp/none.png" >"$tmp/out" 2>"$tmp/err"
check "nothing to plot exits 1 with a message" [ $? -eq 1 ] && grep -q "nothing to plot" "$tmp/err"

common=(--parallel 1 --threads 1 -- --model tiny --width 0.25 --train-subset 64 --test-subset 32
  --epochs 2 --stats-every 0)
"$normlab" sweep --grid norm=batch,group --grid batch-size=16,8 --grid seed=0,1 --out "$tmp/s" \
  "${common[@]}" >/dev/null 2>&1
/usr/bin/python3 "$plot" "$tmp/s" >"$tmp/out" 2>&1
check "a seeded sweep's error_vs_batch.png" [ -s "$tmp/s/error_vs_batch.png" ]
check "a seeded sweep's error_curves.png" [ -s "$tmp/s/error_curves.png" ]
"$normlab" sweep --grid norm=batch,group --grid batch-size=16,8 --out "$tmp/old" "${common[@]}" \
  >/dev/null 2>&1
rm -r "$tmp/old/norm-group_batch-size-8"  # a run directory gone: its curve is left out
/usr/bin/python3 "$plot" "$tmp/old" >"$tmp/out" 2>"$tmp/err"
check "a sweep without seeds is plotted" [ -s "$tmp/old/error_vs_batch.png" ]
check "a sweep with a run directory gone still plots" [ -s "$tmp/old/error_curves.png" ]
check "no traceback" bash -c "! grep -q Traceback '$tmp/err'"
/usr/bin/python3 "$plot" "$tmp/s" "$tmp/old" --out "$tmp/both" >"$tmp/out" 2>"$tmp/err"
check "sweeps with other axes are not merged" [ $? -ne 0 ] && grep -q "has the axes" "$tmp/err"
"$normlab" sweep --grid norm=layer --grid batch-size=16,8 --grid seed=0,1 --out "$tmp/s2" \
  "${common[@]}" >/dev/null 2>&1
/usr/bin/python3 "$plot" "$tmp/s" "$tmp/s2" --out "$tmp/both" >"$tmp/out" 2>&1
check "two sweeps with the same axes in one figure" [ -s "$tmp/both/error_vs_batch.png" ]
exit $fail
