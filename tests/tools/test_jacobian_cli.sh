#!/usr/bin/env bash
# `normlab jacobian` and `normlab explain` as a user meets them: the files jacobian writes (a PNG,
# a float64 .npy of numel(y) x numel(x), spectrum.csv), the summary's checks and its numeric
# comparison, explain's Markdown with its agreement line, and one-line errors with exit status 2.
# Usage: test_jacobian_cli.sh PATH_TO_NORMLAB
set -u
normlab=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

expect() {  # expect DESCRIPTION COMMAND...: the command succeeds
  local what=$1
  shift
  if ! "$@"; then
    echo "FAIL: $what"
    fail=1
  fi
}

# A BatchNorm in training: 2 channels, m = 4 each.
out=$("$normlab" jacobian --layer batch_norm --set num_features=2 --shape 2x2x2x1 --seed 3 \
  --numeric --out "$tmp/j" 2>"$tmp/err")
rc=$?
expect "jacobian exits 0 (got $rc: $(cat "$tmp/err"))" test $rc -eq 0
expect "jacobian.png is a PNG" test "$(head -c 8 "$tmp/j/jacobian.png" | od -An -tx1 | tr -d ' \n')" \
  = "89504e470d0a1a0a"
expect "jacobian.npy is float64 (8, 8)" grep -q "'descr': '<f8', 'fortran_order': False, 'shape': (8, 8)" \
  "$tmp/j/jacobian.npy"
expect "jacobian.npy holds 64 doubles" test "$(stat -c %s "$tmp/j/jacobian.npy")" -eq $((128 + 512))
expect "x.npy is written" test -s "$tmp/j/x.npy"
expect "spectrum.csv header" test "$(head -1 "$tmp/j/spectrum.csv")" \
  = "index,singular_value,eigenvalue_real,eigenvalue_imag"
expect "spectrum.csv has 8 rows" test "$(tail -n +2 "$tmp/j/spectrum.csv" | wc -l)" -eq 8
expect "rank 6 of 8 (two sets, each without 1; x̂ above numpy's tolerance)" \
  grep -q "^rank: 6 of 8" <<<"$out"
expect "summary: D6 holds" grep -q "J_S·1 = 0 (the mean is subtracted, eq. D6): holds" <<<"$out"
expect "summary: symmetric" grep -q "symmetric: holds" <<<"$out"
expect "summary: couples samples" grep -q "outputs depend on other samples of the batch" <<<"$out"
numeric=$(grep -oE "differ by at most [^ ]+ \(([^ ]+) of max" <<<"$out" | awk '{print substr($6, 2)}')
expect "summary: central differences agree to 1e-7 of max|J| (got '$numeric')" \
  awk -v r="$numeric" 'BEGIN { exit !(r != "" && r + 0 < 1e-7) }'


# GroupNorm couples no samples.
out=$("$normlab" jacobian --layer group_norm --set num_groups=2 --set num_channels=4 \
  --shape 2x4x1x2 --out "$tmp/g")
expect "group_norm: no output depends on another sample" \
  grep -q "no output depends on another sample" <<<"$out"

# explain: Markdown with the formulas checked against the layer.
out=$("$normlab" explain --layer group_norm --set num_groups=2 --set num_channels=4 \
  --shape 1x4x1x2 --seed 1)
expect "explain prints its command" grep -q '^\$ normlab explain --layer group_norm' <<<"$out"
expect "explain prints a per-element table" grep -q '^| k | index | set | x | x̂' <<<"$out"
agree=$(grep -o 'y [0-9.e+-]*, dx [0-9.e+-]*' <<<"$out")
expect "explain agrees with the layer to 1e-12 ($agree)" \
  awk -v s="$agree" 'BEGIN { split(s, a, /[ ,]+/); exit !(a[2] < 1e-12 && a[4] < 1e-12) }'

# One-line errors with exit status 2.
one_line_error() {  # one_line_error DESCRIPTION PATTERN ARGS...
  local what=$1 pattern=$2
  shift 2
  "$normlab" "$@" >/dev/null 2>"$tmp/err"
  local rc=$?
  if [ $rc -ne 2 ] || [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q "$pattern" "$tmp/err"; then
    echo "FAIL: $what: exit $rc, stderr: $(cat "$tmp/err")"
    fail=1
  fi
}
one_line_error "jacobian needs one of --input and --shape" "exactly one of --input" \
  jacobian --layer relu --out "$tmp/e"
one_line_error "jacobian: unknown layer" "unknown layer 'nope'" \
  jacobian --layer nope --shape 2x2 --out "$tmp/e"
one_line_error "jacobian: bad shape" "shape" jacobian --layer relu --shape 2xq --out "$tmp/e"
one_line_error "explain: a layer without sets" "explain: conv2d has no reduction sets" \
  explain --layer conv2d --set in_channels=1 --set out_channels=1 --set kernel_size=1 \
  --shape 1x1x2x2
one_line_error "explain: too many elements" "at most 256" \
  explain --layer batch_norm --set num_features=4 --shape 8x4x3x3

exit $fail
