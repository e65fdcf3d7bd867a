#!/usr/bin/env bash
# normlab sweep on real processes: a 2-seed sweep averages over the seeds (summary_seeds.csv); a
# sweep killed mid-run is continued by rerunning its command, which keeps the finished run's
# files untouched, resumes the killed run from its checkpoint and starts the missing ones, and
# ends with the checkpoints of an uninterrupted sweep, byte for byte; a different grid in the same
# directory is an error (exit 2, one line); --resume DIR continues from sweep.json.
# Test hook: NORMLAB_TEST_STEP_DELAY_MS slows every step of the runs (tools/trainer.h).
# Usage: test_sweep.sh PATH_TO_NORMLAB
set -u
normlab=$1
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 -- "-$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0
grid=(--grid norm=batch,group --grid seed=0,1 --parallel 1 --threads 1)
train=(-- --model tiny --width 0.25 --train-subset 256 --test-subset 64 --batch-size 16 --epochs 2
  --checkpoint-every 4 --stats-every 0 --log-every 1)

source "$(dirname "${BASH_SOURCE[0]}")/check.sh"

rows() {  # rows FILE: data rows of a CSV file (0 when missing)
  [ -f "$1" ] && echo $(($(wc -l <"$1") - 1)) || echo 0
}

fingerprint() {  # fingerprint DIR: name, size, mtime and sha256 of every file
  (cd "$1" && find . -type f | sort | while read -r f; do
    echo "$f $(stat -c '%s %Y.%y' "$f") $(sha256sum <"$f" | cut -c1-64)"
  done)
}

# 1. The uninterrupted sweep and its seed table.
"$normlab" sweep "${grid[@]}" --out "$tmp/ref" "${train[@]}" >"$tmp/ref.log" 2>&1
check "uninterrupted sweep" [ $? -eq 0 ]
check "summary_seeds.csv has one row per norm with n = 2" \
  [ "$(cut -d, -f1,4,5 "$tmp/ref/summary_seeds.csv" | tr '\n' ' ')" = \
  "norm,n,failed batch,2,0 group,2,0 " ]
mean_ok() {  # the mean of each norm equals the mean of its two runs' final errors
  /usr/bin/python3 - "$tmp/ref" <<'PY'
import csv, statistics, sys
d = sys.argv[1]
runs = list(csv.DictReader(open(f"{d}/summary.csv")))
cells = list(csv.DictReader(open(f"{d}/summary_seeds.csv")))
for c in cells:
    errs = [float(r["final_test_error"].rstrip("%")) for r in runs if r["norm"] == c["norm"]]
    assert len(errs) == 2, errs
    assert abs(statistics.mean(errs) - float(c["final_test_error_mean"])) < 0.006, (errs, c)
    assert abs(statistics.stdev(errs) - float(c["final_test_error_std"])) < 0.006, (errs, c)
PY
}
check "summary_seeds.csv holds the mean and sample std of the runs" mean_ok
check "summary.md lists the four runs" [ "$(grep -c '^| \(batch\|group\) |' "$tmp/ref/summary.md")" -eq 4 ]

# 2. The same sweep, killed (sweep and its run) while its second run is mid-epoch 2.
run1=$tmp/s/norm-batch_seed-0
run2=$tmp/s/norm-batch_seed-1
NORMLAB_TEST_STEP_DELAY_MS=40 setsid "$normlab" sweep "${grid[@]}" --out "$tmp/s" "${train[@]}" \
  >"$tmp/killed.log" 2>&1 </dev/null &
pid=$!
wait_for '[ "$(rows "$run2/metrics_steps.csv")" -ge 22 ]'
kill -9 -- "-$pid"
wait "$pid" 2>/dev/null
pid=
check "the first run had finished" [ "$(rows "$run1/metrics_epochs.csv")" -eq 2 ]
check "the second run has a checkpoint" [ -f "$run2/last.safetensors" ]
check "the second run had not finished" [ "$(rows "$run2/metrics_epochs.csv")" -lt 2 ]
check "the third run had not started" [ ! -e "$tmp/s/norm-group_seed-0" ]
before=$(fingerprint "$run1")
sleep 1.1  # a rewritten file would get another mtime

# 3. Rerunning the command keeps, resumes and starts.
"$normlab" sweep "${grid[@]}" --out "$tmp/s" "${train[@]}" >"$tmp/rerun.log" 2>&1
check "the rerun finishes" [ $? -eq 0 ]
check "the rerun keeps the finished run" grep -q "norm-batch_seed-0 already finished" "$tmp/rerun.log"
check "the rerun resumes the killed run from its checkpoint" \
  grep -q "norm-batch_seed-1 resumed from .*last.safetensors" "$tmp/rerun.log"
check "the rerun starts the missing runs" \
  [ "$(grep -c "norm-group_seed-[01] started" "$tmp/rerun.log")" -eq 2 ]
check "the finished run's files are untouched" [ "$before" = "$(fingerprint "$run1")" ]
check "the resumed run's log holds both parts" \
  [ "$(grep -c "^normlab train" "$run2/train.log")" -eq 2 ]
same_checkpoint() {  # same tensors, bytes and metadata but the run directory in the config
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, struct, sys
def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    meta = header.pop("__metadata__", {})
    config = json.loads(meta.pop("config"))
    config.pop("out")
    return header, meta, config, b[8 + n:]
assert load(sys.argv[1]) == load(sys.argv[2])
PY
}
for r in norm-batch_seed-0 norm-batch_seed-1 norm-group_seed-0 norm-group_seed-1; do
  check "$r: last.safetensors holds the uninterrupted sweep's weights, state and metadata" \
    same_checkpoint "$tmp/ref/$r/last.safetensors" "$tmp/s/$r/last.safetensors"
done
check "summary_seeds.csv equals the uninterrupted sweep's" \
  cmp "$tmp/ref/summary_seeds.csv" "$tmp/s/summary_seeds.csv"

# 4. Another grid in the same directory: exit 2, one line naming what differs.
"$normlab" sweep --grid norm=batch --grid seed=0,1 --parallel 1 --threads 1 --out "$tmp/s" \
  "${train[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "another grid exits 2" [ "$rc" -eq 2 ]
check "another grid is one line naming both grids" \
  [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "saved: norm=batch,group seed=0,1; now: norm=batch seed=0,1" "$tmp/err"
"$normlab" sweep "${grid[@]}" --out "$tmp/s" -- --model tiny >"$tmp/out" 2>"$tmp/err"
check "other flags after -- exit 2" [ $? -eq 2 ]
check "other flags after -- are named" grep -q "other flags after --" "$tmp/err"

# 5. --resume DIR finds every run finished.
"$normlab" sweep --resume "$tmp/s" --parallel 2 >"$tmp/resume.log" 2>&1
check "--resume DIR finishes" [ $? -eq 0 ]
check "--resume DIR keeps all four runs" [ "$(grep -c "already finished" "$tmp/resume.log")" -eq 4 ]
"$normlab" sweep --resume "$tmp/s" --grid norm=batch >"$tmp/out" 2>"$tmp/err"
check "--resume with --grid exits 2" [ $? -eq 2 ]
"$normlab" sweep --resume "$tmp/nothing" >"$tmp/out" 2>"$tmp/err"
check "--resume of a directory without sweep.json exits 2" [ $? -eq 2 ]
exit $fail
