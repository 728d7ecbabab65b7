#!/usr/bin/env bash
# Runs norma's whole test suite twice: the Release build (build/), then a build with
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/). Fails when any test fails.
# Run scripts/setup.sh first (the README's test command does).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
# Tests run side by side (ctest -j), each with 2 OpenMP threads: idle threads must sleep, not spin.
export OMP_WAIT_POLICY=passive

echo "== tests (Release) =="
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNORMA_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ctest --test-dir build-asan --output-on-failure -j"$jobs"
