#!/usr/bin/env bash
# Crash safety on a real process. A small run is trained once without interruption; the same run
# is then killed with SIGKILL mid-epoch and while a checkpoint is being written, stopped with
# SIGINT and with SIGTERM (each must finish its step, write a checkpoint, say so and exit with
# 128 + signal), and resumed after each. It must end with exactly the checkpoints (weights,
# optimizer state, metadata) of the uninterrupted run, byte for byte.
# Test hooks: NORMLAB_TEST_STEP_DELAY_MS slows every step, NORMLAB_TEST_CHECKPOINT_DELAY_MS pauses
# halfway through writing every checkpoint (tools/trainer.h). Usage: test_crash.sh PATH_TO_NORMLAB
set -u
normlab=$1
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0
run=$tmp/run
common=(--model tiny --norm batch --data fashion-mnist --train-subset 320 --test-subset 64
  --batch-size 32 --epochs 2 --checkpoint-every 3 --log-every 1 --threads 1 --no-progress)

source "$(dirname "${BASH_SOURCE[0]}")/check.sh"

steps_done() {  # rows of metrics_steps.csv (one per step with --log-every 1)
  [ -f "$run/metrics_steps.csv" ] && echo $(($(wc -l <"$run/metrics_steps.csv") - 1)) || echo 0
}

# start ENV... -- ARGS...: runs normlab train in the background with the given environment.
start() {
  local envs=()
  while [ "$1" != "--" ]; do
    envs+=("$1")
    shift
  done
  shift
  env "${envs[@]}" "$normlab" train "$@" >"$tmp/out" 2>"$tmp/err" </dev/null &
  disown -h $! 2>/dev/null
  pid=$!
}

finish() {  # finish: waits for the background run and sets rc to its exit status
  wait "$pid" 2>/dev/null
  rc=$?
  pid=
}

# resume_and_signal SIGNAL: resumes the run with slow steps, sends SIGNAL once two more steps are
# logged, and waits for the process (rc is its exit status).
resume_and_signal() {
  start NORMLAB_TEST_STEP_DELAY_MS=100 -- --resume "$run" --no-progress
  local before
  before=$(steps_done)
  wait_for '[ "$(steps_done)" -ge $((before + 2)) ]'
  kill -"$1" "$pid"
  finish
}

# The uninterrupted run.
"$normlab" train "${common[@]}" --out "$run" >"$tmp/ref.log" 2>&1
check "uninterrupted run" [ $? -eq 0 ]
mv "$run" "$tmp/ref"

# 1. SIGKILL mid-epoch, just after the first mid-epoch checkpoint (step 3).
start NORMLAB_TEST_STEP_DELAY_MS=100 -- "${common[@]}" --out "$run"
wait_for '[ "$(steps_done)" -ge 4 ]'
kill -9 "$pid"
finish
check "SIGKILL mid-epoch ends the process" [ "$rc" -eq 137 ]

# 2. Resume; SIGKILL while a checkpoint is half written (its temporary file exists).
start NORMLAB_TEST_CHECKPOINT_DELAY_MS=5000 -- --resume "$run" --no-progress
wait_for 'compgen -G "$run/last.safetensors.tmp.*" >/dev/null'
kill -9 "$pid"
finish
check "SIGKILL while writing a checkpoint ends the process" [ "$rc" -eq 137 ]
check "a half-written checkpoint is left beside the intact one" \
  compgen -G "$run/last.safetensors.tmp.*" >/dev/null

# 3. Resume; SIGINT mid-epoch: the step finishes, a checkpoint is written, status 130.
resume_and_signal INT
check "SIGINT exits with status 130" [ "$rc" -eq 130 ]
check "SIGINT says what happened, in one line" \
  [ "$(grep -c "interrupted (SIGINT).*--resume $run" "$tmp/err")" -eq 1 ]
# The checkpoint holds the step the message names, and every step up to it was logged.
said=$(grep -o "stopped after step [0-9]*" "$tmp/err" | grep -o "[0-9]*$")
held=$(head -c 65536 "$run/last.safetensors" | grep -a -o '"step":"[0-9]*"' | grep -o "[0-9]*")
same_step() { [ -n "$said" ] && [ "$said" = "$held" ] && [ "$said" -eq "$(steps_done)" ]; }
check "SIGINT's checkpoint holds the step it names ($said = $held = $(steps_done))" same_step
check "the resume removed the half-written checkpoint" \
  bash -c "! compgen -G '$run/last.safetensors.tmp.*' >/dev/null"

# 4. Resume; SIGTERM: status 143.
resume_and_signal TERM
check "SIGTERM exits with status 143" [ "$rc" -eq 143 ]
check "SIGTERM says what happened" grep -q "terminated (SIGTERM)" "$tmp/err"

# 5. Resume to the end.
"$normlab" train --resume "$run" --no-progress >"$tmp/last.log" 2>&1
check "the last resume finishes" [ $? -eq 0 ]
check "last.safetensors equals the uninterrupted run's, byte for byte" \
  cmp "$tmp/ref/last.safetensors" "$run/last.safetensors"
check "best.safetensors equals the uninterrupted run's, byte for byte" \
  cmp "$tmp/ref/best.safetensors" "$run/best.safetensors"
# Train loss and accuracy of an epoch resumed mid-way cover only its steps after the resume.
check "metrics_epochs.csv has the same epochs, lr and test results" \
  diff <(cut -d, -f1,2,5,6 "$tmp/ref/metrics_epochs.csv") <(cut -d, -f1,2,5,6 "$run/metrics_epochs.csv")
exit $fail
