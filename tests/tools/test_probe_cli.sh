#!/usr/bin/env bash
# `normlab probe` as a user meets it: it writes output.npy and grad_input.npy (relu by hand), one
# summary line per file, and every bad name, option, file or shape is one stderr line with exit
# status 2. The .npy files are written byte by byte here, so the test needs no Python.
# Usage: test_probe_cli.sh PATH_TO_NORMLAB
set -u
normlab=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# npy FILE DESCR SHAPE DATA: a .npy 1.0 file; DATA is a printf format of the raw bytes (little
# endian).
npy() {
  local file=$1 descr=$2 shape=$3 data=$4
  local dict="{'descr': '$descr', 'fortran_order': False, 'shape': $shape, }"
  local len=$((${#dict} + 1))
  local pad=$(((64 - (10 + len) % 64) % 64))
  local hlen=$((len + pad))
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((hlen & 255)))\\x$(printf %02x $((hlen >> 8)))"
    printf '%s' "$dict"
    printf "%${pad}s" ''
    printf '\n'
    printf "$data"
  } >"$file"
}

# float32 (2, 3): 1, -2, 3, -4, 5, -6; relu gives 1, 0, 3, 0, 5, 0 and dx = 1, 0, 1, 0, 1, 0.
f1='\x00\x00\x80\x3f' f3='\x00\x00\x40\x40' f5='\x00\x00\xa0\x40' f0='\x00\x00\x00\x00'
m2='\x00\x00\x00\xc0' m4='\x00\x00\x80\xc0' m6='\x00\x00\xc0\xc0'
npy "$tmp/x.npy" '<f4' '(2, 3)' "$f1$m2$f3$m4$f5$m6"
npy "$tmp/i.npy" '<i4' '(2,)' '\x01\x00\x00\x00\x02\x00\x00\x00'
npy "$tmp/gy_bad.npy" '<f4' '(3, 2)' "$f1$f1$f1$f1$f1$f1"
mkdir -p "$tmp/relu_params" "$tmp/linear_params"
npy "$tmp/relu_params/weight.npy" '<f4' '(1,)' "$f1"
npy "$tmp/linear_params/weight.npy" '<f4' '(1,)' "$f1"

data_hex() { tail -c "$2" "$1" | od -An -tx1 | tr -d ' \n'; }
want_hex() { printf "$1" | od -An -tx1 | tr -d ' \n'; }

if "$normlab" probe --layer relu --input "$tmp/x.npy" --out "$tmp/out" >"$tmp/stdout" \
  2>"$tmp/err" &&
  [ "$(wc -l <"$tmp/stdout")" -eq 2 ] && grep -q 'output.npy.*float32.*\[2, 3\]' "$tmp/stdout" &&
  grep -q 'grad_input.npy.*float32.*\[2, 3\]' "$tmp/stdout" &&
  [ "$(data_hex "$tmp/out/output.npy" 24)" = "$(want_hex "$f1$f0$f3$f0$f5$f0")" ] &&
  [ "$(data_hex "$tmp/out/grad_input.npy" 24)" = "$(want_hex "$f1$f0$f1$f0$f1$f0")" ]; then
  echo "ok   relu probe writes output.npy and grad_input.npy with the values by hand"
else
  echo "FAIL relu probe:"
  cat "$tmp/stdout" "$tmp/err"
  fail=1
fi

# expect_error NAME PATTERN ARGS...: exit status 2 and one stderr line matching PATTERN.
cli_prefix=(probe)
source "$(dirname "${BASH_SOURCE[0]}")/expect_error.sh"

x=(--input "$tmp/x.npy" --out "$tmp/o")
expect_error "unknown layer lists the table" "valid: linear, conv2d" --layer batchnorm "${x[@]}"
expect_error "missing required option" "needs option 'num_features'" --layer batch_norm "${x[@]}"
expect_error "unknown option key" "epsilon" --layer relu --set epsilon=1 "${x[@]}"
expect_error "bad option value" "num_features" --layer batch_norm --set num_features=three "${x[@]}"
expect_error "setting without =" "key=value" --layer relu --set eps "${x[@]}"
expect_error "unknown mode" "train, eval" --layer relu --mode test "${x[@]}"
expect_error "input of the wrong dtype" "float32 or float64" --layer relu --input "$tmp/i.npy" \
  --out "$tmp/o"
expect_error "missing input file" "nope.npy" --layer relu --input "$tmp/nope.npy" --out "$tmp/o"
expect_error "grad-output of the wrong shape" "gy_bad.npy has shape \[3, 2\]" --layer relu \
  --grad-output "$tmp/gy_bad.npy" "${x[@]}"
expect_error "a parameter file relu does not have" "weight.npy is not a parameter" --layer relu \
  --params "$tmp/relu_params" "${x[@]}"
expect_error "a parameter file of the wrong shape" "weight.npy has shape \[1\]" --layer linear \
  --set in_features=3 --set out_features=2 --params "$tmp/linear_params" "${x[@]}"
expect_error "the layer's own shape check" "batch_norm" --layer batch_norm --set num_features=4 \
  "${x[@]}"

if "$normlab" probe --help >"$tmp/help" 2>&1 && grep -q -- "--grad-output" "$tmp/help" &&
  grep -q -- "--params" "$tmp/help"; then
  echo "ok   probe --help"
else
  echo "FAIL probe --help does not document the flags"
  fail=1
fi
exit $fail
