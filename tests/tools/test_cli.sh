#!/usr/bin/env bash
# The normlab command as a user meets it: errors are one line on stderr and exit status 2; --help
# documents every flag; the demo's loss falls. Usage: test_cli.sh PATH_TO_NORMLAB
set -u
normlab=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect_error NAME PATTERN ARGS...: exit status 2 and one stderr line matching PATTERN.
source "$(dirname "${BASH_SOURCE[0]}")/expect_error.sh"

expect_error "unknown subcommand" "bogus" bogus
expect_error "unknown flag" "--frobnicate" train --frobnicate
expect_error "unknown norm" "bogus" train --norm bogus --out "$tmp/r"
expect_error "unknown model" "mlp" train --model mlp --out "$tmp/r"
expect_error "bad batch size" "batch-size" train --batch-size 0 --out "$tmp/r"
expect_error "missing dataset dir" "/nonexistent" train --data "cifar10 /nonexistent" --out "$tmp/r"
expect_error "missing checkpoint" "nope.safetensors" eval "$tmp/nope.safetensors"
printf 'not a checkpoint' >"$tmp/bad.safetensors"
expect_error "corrupt checkpoint" "bad.safetensors" eval "$tmp/bad.safetensors"
expect_error "resume without run" "config.json" train --resume "$tmp/none"
expect_error "bad sweep axis" "flag=v1" sweep --grid norm --out "$tmp/s"
expect_error "bad bench steps" "--steps" bench --steps 0

# Output folders: checked before any data is read or any run starts.
printf 'x' >"$tmp/afile"
expect_error "out under /proc" "cannot create the output folder '/proc/nope'" \
  train --out /proc/nope
expect_error "out not writable" "cannot write into the output folder '/proc'" train --out /proc
expect_error "out is a file" "'$tmp/afile' is a file" train --out "$tmp/afile"
expect_error "out below a file" "'$tmp/afile' is a file" train --out "$tmp/afile/run"
expect_error "probe out is a file" "is a file" probe --layer relu --input "$tmp/afile" \
  --out "$tmp/afile"
expect_error "sweep out is a file" "is a file" sweep --grid norm=batch --out "$tmp/afile" \
  -- --epochs 1

# Empty datasets: a folder without class folders, class folders without images.
mkdir -p "$tmp/empty_ds" "$tmp/no_images/cat"
expect_error "dataset without classes" "no class folders" \
  train --data "folder $tmp/empty_ds" --out "$tmp/r"
expect_error "dataset without images" "has no images" \
  train --data "folder $tmp/no_images" --out "$tmp/r"

# Conflicting flags.
expect_error "resume with a run flag" "--lr cannot be combined with --resume" \
  train --resume "$tmp/none" --lr 0.1
expect_error "milestones without multistep" "--milestones applies only to --schedule multistep" \
  train --milestones 2 --out "$tmp/r"
expect_error "nesterov with adam" "--nesterov applies only to --optimizer sgd" \
  train --optimizer adam --nesterov --out "$tmp/r"
expect_error "nesterov without momentum" "--nesterov needs a positive --momentum" \
  train --nesterov --momentum 0 --out "$tmp/r"

# normlab sweep checks every run of the grid before the first one starts.
expect_error "sweep bad grid value" "run norm-zzz: .*zzz" \
  sweep --grid norm=batch,zzz --out "$tmp/s1" -- --epochs 1 --train-subset 64
if [ -e "$tmp/s1" ]; then
  echo "FAIL sweep created $tmp/s1 although its grid is invalid"
  fail=1
fi
expect_error "sweep bad passed flag" "--lr must be positive" \
  sweep --grid norm=batch,group --out "$tmp/s2" -- --lr -1
expect_error "sweep unknown passed flag" "--frobnicate" \
  sweep --grid norm=batch --out "$tmp/s2" -- --frobnicate 3
expect_error "sweep conflicting passed flags" "--milestones applies only" \
  sweep --grid seed=0,1 --out "$tmp/s2" -- --milestones 1
expect_error "sweep axis twice" "--norm is a grid axis twice" \
  sweep --grid norm=batch --grid norm=group --out "$tmp/s2"
expect_error "sweep axis and passed flag" "--lr is both a grid axis" \
  sweep --grid lr=0.1,0.2 --out "$tmp/s2" -- --lr 0.3
expect_error "sweep passes --out" "--out cannot be passed" \
  sweep --grid norm=batch --out "$tmp/s2" -- --out "$tmp/x"
expect_error "sweep repeated value" "repeated value" \
  sweep --grid norm=batch,batch --out "$tmp/s2"
expect_error "sweep bad dataset name" "bogus" \
  sweep --grid norm=batch --out "$tmp/s2" -- --data bogus
if [ -e "$tmp/s2" ]; then
  echo "FAIL sweep created $tmp/s2 although its runs are invalid"
  fail=1
fi

if ! "$normlab" train --help >"$tmp/help" 2>&1 || ! grep -q -- "--batch-size" "$tmp/help" ||
  ! grep -q -- "--stats-every" "$tmp/help"; then
  echo "FAIL train --help does not document the flags"
  fail=1
else
  echo "ok   train --help"
fi

# The demo's loss must fall: compare the first and last printed losses.
"$normlab" demo --steps 30 >"$tmp/demo" 2>&1
first=$(grep -m1 -o 'loss [0-9.]*' "$tmp/demo" | cut -d' ' -f2)
last=$(grep -o 'loss [0-9.]*' "$tmp/demo" | tail -n1 | cut -d' ' -f2)
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a / 2) }'; then
  echo "ok   demo loss falls from $first to $last"
else
  echo "FAIL demo loss $first -> $last"
  fail=1
fi
exit $fail
