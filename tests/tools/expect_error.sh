# tests/tools/expect_error.sh: sourced by the CLI tests (test_cli.sh, test_probe_cli.sh), which set
# normlab (the binary), tmp (a scratch folder), fail (0) and, optionally, cli_prefix (words put
# before every command line, e.g. (probe)).
# expect_error NAME PATTERN ARGS...: `$normlab ${cli_prefix[@]} ARGS...` exits with status 2 and
# prints exactly one line on stderr, matching PATTERN; otherwise fail=1.
expect_error() {
  local name=$1 pattern=$2
  shift 2
  "$normlab" ${cli_prefix[@]+"${cli_prefix[@]}"} "$@" >"$tmp/expect_error.stdout" 2>"$tmp/err" </dev/null
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
