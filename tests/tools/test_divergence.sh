#!/usr/bin/env bash
# A diverging run on a real process. Without flags, the always-on loss check stops it at the step
# whose loss is not finite, before that step's update, in one line with status 2 that names the
# step; the last checkpoint stays intact and resumable (the resumed run diverges again at the same
# step: it is deterministic). With --detect-anomaly the report names the first module whose output
# or gradient is not finite, its op, the pass and the step. Usage: test_divergence.sh NORMLAB
set -u
normlab=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# lr 1e6 without normalization: the logits overflow within a few steps.
base=(--model tiny --norm none --data fashion-mnist --test-subset 32 --batch-size 32 --epochs 1
  --checkpoint-every 1 --threads 1 --no-progress)
common=("${base[@]}" --train-subset 256 --lr 1e6)

expect() {  # expect NAME RC PATTERN: the last command's status and its one stderr line
  local name=$1 want=$2 pattern=$3
  local lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne "$want" ] || [ "$lines" -ne 1 ] || ! grep -q -E -- "$pattern" "$tmp/err"; then
    echo "FAIL $name: exit $rc, $lines stderr lines, want $want and 1 line matching '$pattern':"
    cat "$tmp/err"
    fail=1
  else
    echo "ok   $name: $(cat "$tmp/err")"
  fi
}

"$normlab" train "${common[@]}" --out "$tmp/run" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "the loss check stops the run" 2 \
  "the loss is -?(nan|inf) at step [0-9]+ \(epoch 1\); stopped before its update; .*last.safetensors \(after step [0-9]+\) is intact"
step=$(grep -o "at step [0-9]*" "$tmp/err" | grep -o "[0-9]*$")
held=$(head -c 65536 "$tmp/run/last.safetensors" | grep -a -o '"step":"[0-9]*"' | grep -o "[0-9]*")
if [ -n "$step" ] && [ "$held" = "$((step - 1))" ]; then
  echo "ok   last.safetensors holds the $held good steps before step $step"
else
  echo "FAIL last.safetensors holds step '$held', the loss failed at step '$step'"
  fail=1
fi

"$normlab" train --resume "$tmp/run" --no-progress >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "the checkpoint resumes and diverges again at the same step" 2 "the loss is .* at step $step "

"$normlab" train "${common[@]}" --out "$tmp/anomaly" --detect-anomaly >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "--detect-anomaly names module, op, pass and step" 2 \
  "--detect-anomaly: non-finite (output|gradient) \(-?(nan|inf) at \[[0-9, ]+\]\) (of|in) (features|classifier)[.0-9]* \([A-Za-z0-9]+\), op [a-z_0-9]+.*, (forward|backward) pass, step [0-9]+$"
anomaly_step=$(grep -o "step [0-9]*$" "$tmp/err" | grep -o "[0-9]*$")
if [ -n "$anomaly_step" ] && [ "$anomaly_step" -le "$step" ]; then
  echo "ok   the anomaly (step $anomaly_step) is found no later than the loss check (step $step)"
else
  echo "FAIL anomaly step '$anomaly_step' after the loss check's step '$step'"
  fail=1
fi

"$normlab" train "${base[@]}" --lr 0.01 --train-subset 64 --out "$tmp/clean" --detect-anomaly \
  >"$tmp/out" 2>"$tmp/err"
if [ $? -eq 0 ] && [ ! -s "$tmp/err" ]; then
  echo "ok   a healthy run passes --detect-anomaly"
else
  echo "FAIL a healthy run fails --detect-anomaly:"
  cat "$tmp/err"
  fail=1
fi
exit $fail
