#!/usr/bin/env bash
# tools/setup.sh: the one entry point of the README's two commands, for a fresh Debian 12 machine.
#   bash tools/setup.sh main   install what is missing, build Release, train the default model
#                              (tiny CNN + GroupNorm) on Fashion-MNIST and print its test accuracy
#   bash tools/setup.sh test   install what is missing, build with warnings as errors, run every
#                              test through ctest
# Installing is idempotent: apt-get runs only when a package is missing.
set -euo pipefail

mode=${1:-main}
shift || true
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libopenblas-dev catch2 libstb-dev zlib1g-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  dataset-fashion-mnist
  libopenmpi-dev openmpi-bin
)
case "$mode" in
  main) packages+=(python3-matplotlib) ;;
  test) ;;
  *) echo "usage: bash tools/setup.sh main|test [normlab train flags...]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
case "$mode" in
  main)
    cmake --preset release >/dev/null
    cmake --build --preset release -j "$jobs" --target normlab
    build/release/tools/normlab train --model tiny --norm group --data fashion-mnist \
      --epochs 6 --out runs/fashion-tiny-gn "$@"
    /usr/bin/python3 tools/plot_run.py runs/fashion-tiny-gn
    ;;
  test)
    cmake --preset dev >/dev/null
    cmake --build --preset dev -j "$jobs"
    ctest --preset dev -j "$jobs"
    ;;
esac
