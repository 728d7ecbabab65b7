#!/usr/bin/env bash
# Fuzzes norma's file readers with libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer.
#   bash scripts/fuzz.sh SECONDS [TARGET...]     TARGET: idx cifar10 safetensors checkpoint image
#                                                (default: all, one after the other)
# Builds build-fuzz/ (clang, -DNORMA_FUZZ=ON), then runs each build-fuzz/fuzz_<target> for
# SECONDS on build-fuzz/corpus/<target>/: a working copy of the committed seeds
# (tests/fuzz/corpus/<target>/) and past crashes (tests/fuzz/regressions/<target>/), which
# keeps what earlier runs found; the committed folders are never written. Output goes to
# build-fuzz/fuzz_<target>.log. A finding (crash, sanitizer report, over 10 s on one input,
# over 2 GiB of memory, or over 1 GiB in one allocation: no input of a few KB needs that)
# stops that target, leaves the input in build-fuzz/crashes/<target>/ and makes the script
# exit 1 once every target has run.
# NORMA_FUZZ_SEED=N fixes libFuzzer's random seed (default 0: a new seed each run). With a
# fixed seed and a fresh build-fuzz/corpus, a run repeats the same inputs in the same order,
# so scripts/test.sh's 30-second runs test the same thing on every machine.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: bash scripts/fuzz.sh SECONDS [idx|cifar10|safetensors|checkpoint|image ...]" >&2
  exit 2
fi
seconds="$1"
shift
targets=("$@")
((${#targets[@]})) || targets=(idx cifar10 safetensors checkpoint image)

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-fuzz -DNORMA_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "${launcher[@]}" >/dev/null || exit 1
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null || exit 1

export OMP_NUM_THREADS=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in "${targets[@]}"; do
  corpus="build-fuzz/corpus/$t" crashes="build-fuzz/crashes/$t/" log="build-fuzz/fuzz_$t.log"
  mkdir -p "$corpus" "$crashes"
  for seeds in "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t"; do
    [ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null
  done
  "build-fuzz/fuzz_$t" -seed="${NORMA_FUZZ_SEED:-0}" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$crashes" "$corpus" >"$log" 2>&1
  rc=$?
  # The last status line: "#<execs> ... cov: <edges> ft: <features> corp: <inputs>/<size> ..."
  status="$(grep -E '^#[0-9]+' "$log" | tail -n 1)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  cov="$(sed -E -n 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$status")"
  if [ "$rc" -eq 0 ]; then
    echo "fuzz_$t: ok, ${execs:-?} execs in ${seconds} s, ${cov:-no status line} (log: $log)"
  else
    echo "fuzz_$t: FINDING (exit $rc) after ${execs:-?} execs, ${cov:-no status line}; input in $crashes, log: $log"
    grep -m 3 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|SUMMARY' "$log" | sed 's/^/  /'
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: findings in ${failed[*]}"
  exit 1
fi
