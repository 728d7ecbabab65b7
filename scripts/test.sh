#!/usr/bin/env bash
# Runs norma's whole test suite twice: the Release build (build/), then a build with
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/); then the quick bn-mnist experiment
# on the real MNIST (scripts/experiment_smoke.sh); then fuzzes each file reader for 30 seconds
# (scripts/fuzz.sh, build-fuzz/). Fails when any test fails or fuzzing finds anything.
# Run scripts/setup.sh first (the README's test command does).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"

echo "== tests (Release) =="
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNORMA_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
# LeakSanitizer too (on by default on Linux x86_64; said here so that nothing turns it off).
ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== experiment smoke run: bn-mnist --quick on MNIST (scripts/experiment_smoke.sh) =="
bash scripts/experiment_smoke.sh

echo "== fuzzing the file readers, 30 s each (scripts/fuzz.sh) =="
# A fixed seed: on a fresh checkout every run tries the same inputs in the same order, so a
# pass here is a pass on any machine (up to how many inputs 30 s allows). Exploring with new
# seeds is scripts/fuzz.sh's default (docs/reliability/fuzzing.md).
NORMA_FUZZ_SEED=1 bash scripts/fuzz.sh 30
