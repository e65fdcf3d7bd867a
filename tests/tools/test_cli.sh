#!/usr/bin/env bash
# The normlab command as a user meets it: errors are one line on stderr and exit status 2; --help
# documents every flag; the demo's loss falls. Usage: test_cli.sh PATH_TO_NORMLAB
set -u
normlab=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect_error NAME PATTERN ARGS...: exit status 2, exactly one line on stderr matching PATTERN.
expect_error() {
  local name=$1 pattern=$2
  shift 2
  "$normlab" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local rc=$?
  local lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -q -- "$pattern" "$tmp/err"; then
    echo "FAIL $name: exit $rc, $lines stderr lines, want 2 and 1 line matching '$pattern':"
    cat "$tmp/err"
    fail=1
  else
    echo "ok   $name: $(cat "$tmp/err")"
  fi
}

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
