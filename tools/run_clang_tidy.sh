#!/usr/bin/env bash
# clang-tidy 14 (.clang-tidy, STYLE.md 3.10) over every tracked .cpp file that the dev build
# compiles, two files at a time, with build/dev/compile_commands.json. Any finding is an error:
# the script then exits non-zero. The boundary probes (tests/boundaries/) are left out, since most
# of them must not compile, and so is any file the dev build does not compile (tools/bench/).
#   bash tools/run_clang_tidy.sh            (after: cmake --preset dev && cmake --build --preset dev)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
db=build/dev/compile_commands.json
if [[ ! -f $db ]]; then
  echo "run_clang_tidy: $db is missing; run cmake --preset dev first" >&2
  exit 2
fi
command -v clang-tidy-14 >/dev/null || apt-get install -y -q clang-tidy-14 >/dev/null
# The tests compile with g++'s precompiled catch.hpp, which clang cannot read: a copy of the
# database without it, so that clang parses catch.hpp from the tests' own #include.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -E 's@ -include [^ ]*cmake_pch\.hxx@@g; s@ -Winvalid-pch@@g' "$db" >"$tmp/compile_commands.json"
files=()
while IFS= read -r f; do
  if grep -qF "\"file\": \"$PWD/$f\"" "$db"; then
    files+=("$f")
  fi
done < <(git ls-files '*.cpp' ':!:tests/boundaries/')
echo "clang-tidy-14 over ${#files[@]} files"
printf '%s\n' "${files[@]}" | xargs -P 2 -n 1 clang-tidy-14 -p "$tmp" --quiet
echo "clang-tidy: clean"
