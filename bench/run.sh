#!/usr/bin/env bash
# The training benchmark (make bench builds it first) against PyTorch: prints
# JSON lines (bench/README.md), every line both sides print, then one summary
# line per training config with the guardian/pytorch ratio.
#
#   bash bench/run.sh [--runs N] [--rounds K] [--keep-env]
#
# Guardian and PyTorch run alternately, K rounds of each (N timed epochs per
# config per round), so that load from elsewhere on the machine hits both.
# Both run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (as the figures
# in ANCHORS.md were measured; OpenBLAS 0.3.21 then detects this CPU itself)
# unless --keep-env is given.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=/usr/bin/python3 # Debian's, with python3-torch
runs=5 rounds=2 keep_env=0
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --keep-env) keep_env=1; shift ;;
    *) echo "usage: bench/run.sh [--runs N] [--rounds K] [--keep-env]" >&2; exit 2 ;;
  esac
done

# What the environment had, reported before anything is unset.
printf '{"bench":"env","OPENBLAS_CORETYPE":"%s","OPENBLAS_L2_SIZE":"%s","kept":%s,"set":"OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1"}\n' \
  "${OPENBLAS_CORETYPE-unset}" "${OPENBLAS_L2_SIZE-unset}" \
  "$([[ $keep_env == 1 ]] && echo true || echo false)"
# One BLAS thread on both sides: gdn_ml_set_threads(1) alone leaves
# OpenBLAS's worker thread (started when the library loads) polling with
# sched_yield, about 7% of the other core.
run_env=(env)
if [[ $keep_env == 0 ]]; then
  run_env+=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
fi
run_env+=(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for ((r = 0; r < rounds; r++)); do
  "${run_env[@]}" "$BUILD/bench/train" --runs "$runs" | tee -a "$log"
  "${run_env[@]}" "$PYTHON" bench/torch_train.py --runs "$runs" | tee -a "$log"
done

# Summary: medians over every timed epoch of every round, per side.
"$PYTHON" - "$log" <<'EOF'
import json, statistics, sys
rates, extra = {}, {}
with open(sys.argv[1]) as f:
    for line in f:
        d = json.loads(line)
        key = (d["model"], d["batch"])
        rates.setdefault(key, {}).setdefault(d["impl"], []).extend(d["all"])
        extra.setdefault(key, {})[d["impl"]] = d
for (model, batch), by in rates.items():
    g, p = by.get("guardian"), by.get("pytorch")
    if not g or not p:
        continue
    gm, pm = statistics.median(g), statistics.median(p)
    print(json.dumps({
        "bench": "train_ratio", "model": model, "batch": batch, "threads": 1,
        "guardian_samples_per_s": round(gm, 1),
        "pytorch_samples_per_s": round(pm, 1),
        "ratio": round(gm / pm, 3), "epochs": [len(g), len(p)],
        "guardian_kernels": extra[(model, batch)]["guardian"].get("kernels"),
        "openblas_coretype": extra[(model, batch)]["guardian"]["openblas_coretype"],
    }))
EOF

# Differential privacy: accountant time and exact samplers' throughput.
"${run_env[@]}" "$BUILD/bench/dp"

# Privacy layers' cost per round (1,000 clients, 100 per round): none, DP, SecAgg+.
for privacy in none dp secagg ddg; do
  "${run_env[@]}" "$BUILD/bench/simulate" --clients 1000 --rounds 10 --privacy "$privacy"
done

# Secure aggregation: client and server time vs the ChaCha20 bound.
"${run_env[@]}" "$BUILD/bench/secagg"

# Validated aggregation: Prio3SumVec and PINE, client and aggregator cost.
"${run_env[@]}" "$BUILD/bench/prio"
# CKKS: every operation at SEAL's sealbench parameters (bench/README.md).
"${run_env[@]}" "$BUILD/bench/ckks"
# Encrypted FedAvg: one round of 10 clients on 101,770 parameters, by phase.
"${run_env[@]}" "$BUILD/bench/he_fedavg"

# Ledger: durable appends, proofs, audit of 10^6 entries.
"${run_env[@]}" "$BUILD/bench/ledger"

# Networked federation: guardian serve's CPU, memory and wire bytes per owner per round (1,000 owners on loopback).
"${run_env[@]}" GDN_GUARDIAN="$BUILD/guardian" "$BUILD/bench/federation" --clients 1000 --rounds 20 --runs 1

# Federated simulation: seconds per round and memory, Guardian vs a PyTorch FedAvg loop.
bash bench/simulate.sh --keep-env="$keep_env"
