#!/usr/bin/env bash
# Federated simulation benchmark: build/bench/simulate (Guardian) against
# bench/torch_fedavg.py (the plain PyTorch FedAvg loop), 2NN on Fashion-MNIST,
# C = 0.1, E = 1, B = 10, for 100 and 1,000 IID clients. Prints JSON lines
# (bench/README.md): every line of both programs, then one summary line per
# client count with the PyTorch/Guardian ratio and whether the goals are met
# (>= 3x faster per round than PyTorch, peak memory < 1 GiB).
#
#   bash bench/simulate.sh [--rounds R] [--alternations K] [--workers W]
#                          [--keep-env | --keep-env=0|1]
#
# Every run is its own process, so each peak memory belongs to one
# configuration. The sides alternate K times (default 3), R timed rounds
# each (default 10) after one warm-up round, so that load from elsewhere on
# the machine hits both. PyTorch runs twice per alternation: with its
# defaults (here ATen on 1 thread, OpenBLAS on one per core) and with 1
# thread everywhere (--threads 1, which sets OPENBLAS_NUM_THREADS=1 inside
# the process). Like bench/run.sh, every run has OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE unset unless --keep-env is given; OPENBLAS_NUM_THREADS and
# OMP_NUM_THREADS are always unset, so that "defaults" are the defaults.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=/usr/bin/python3 # Debian's, with python3-torch
rounds=10 alternations=3 workers=0 keep_env=0
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --alternations) alternations=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --keep-env | --keep-env=1) keep_env=1; shift ;;
    --keep-env=0) keep_env=0; shift ;;
    *) echo "usage: bench/simulate.sh [--rounds R] [--alternations K] [--workers W]" \
         "[--keep-env | --keep-env=0|1]" >&2
       exit 2 ;;
  esac
done

printf '{"bench":"simulate_env","OPENBLAS_CORETYPE":"%s","OPENBLAS_L2_SIZE":"%s","kept":%s,"OPENBLAS_NUM_THREADS":"%s","OMP_NUM_THREADS":"%s","cores":%s,"loadavg":"%s"}\n' \
  "${OPENBLAS_CORETYPE-unset}" "${OPENBLAS_L2_SIZE-unset}" \
  "$([[ $keep_env == 1 ]] && echo true || echo false)" \
  "${OPENBLAS_NUM_THREADS-unset}" "${OMP_NUM_THREADS-unset}" "$(nproc)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
run_env=(env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS)
if [[ $keep_env == 0 ]]; then
  run_env+=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for ((a = 0; a < alternations; a++)); do
  for clients in 100 1000; do
    "${run_env[@]}" "$BUILD/bench/simulate" --clients "$clients" --rounds "$rounds" \
      --workers "$workers" | tee -a "$log"
    "${run_env[@]}" "$PYTHON" bench/torch_fedavg.py --clients "$clients" \
      --rounds "$rounds" | tee -a "$log"
    "${run_env[@]}" "$PYTHON" bench/torch_fedavg.py --clients "$clients" \
      --rounds "$rounds" --threads 1 | tee -a "$log"
  done
done

# Summary: medians over every timed round of every alternation, per side.
"$PYTHON" - "$log" <<'EOF'
import json, statistics, sys
GIB_MIB = 1024.0
runs = {}
with open(sys.argv[1]) as f:
    for line in f:
        d = json.loads(line)
        if d["impl"] == "guardian":
            side = "guardian"
        elif d["threads_setting"] == 1:
            side = "pytorch_1thread"
        else:
            side = "pytorch"
        runs.setdefault(d["clients"], {}).setdefault(side, []).append(d)
for clients, by in sorted(runs.items()):
    if not all(by.get(s) for s in ("guardian", "pytorch", "pytorch_1thread")):
        continue
    med = {s: statistics.median(t for d in by[s] for t in d["all"]) for s in by}
    peak = {s: max(d["peak_rss_mib"] for d in by[s]) for s in by}
    g = by["guardian"][0]
    ratio = med["pytorch"] / med["guardian"]
    ratio_1t = med["pytorch_1thread"] / med["guardian"]
    # Runs of one alternation were measured within seconds of each other.
    pairs = [round(statistics.median(p["all"]) / statistics.median(q["all"]), 3)
             for p, q in zip(by["pytorch_1thread"], by["guardian"])]
    speed_ok = min(ratio, ratio_1t) >= 3.0
    memory_ok = peak["guardian"] < GIB_MIB
    print(json.dumps({
        "bench": "simulate_ratio", "model": g["model"], "clients": clients,
        "per_round": g["per_round"], "local_epochs": g["local_epochs"],
        "batch": g["batch"], "guardian_workers": g["workers"],
        "guardian_sec_per_round": round(med["guardian"], 5),
        "pytorch_sec_per_round": round(med["pytorch"], 5),
        "pytorch_1thread_sec_per_round": round(med["pytorch_1thread"], 5),
        "ratio": round(ratio, 3), "ratio_pytorch_1thread": round(ratio_1t, 3),
        "ratio_pytorch_1thread_each": pairs,
        "rounds": [sum(len(d["all"]) for d in by[s])
                   for s in ("guardian", "pytorch", "pytorch_1thread")],
        "guardian_peak_rss_mib": peak["guardian"],
        "guardian_data_rss_mib": g["data_rss_mib"],
        "pytorch_peak_rss_mib": peak["pytorch"],
        "speed_goal_met": speed_ok, "memory_goal_met": memory_ok,
        "goal_met": speed_ok and memory_ok,
        "openblas_coretype": g["openblas_coretype"],
    }))
EOF
