#!/usr/bin/env bash
# Federated accuracy against the published anchors (../shared/ANCHORS.md):
#   niid   NIID-Bench (Li et al., ICDE 2022): 10 clients, all every round, 50
#          rounds, E=10, B=64, SGD lr 0.01 momentum 0.9, lenet5, Fashion-MNIST,
#          IID and Dirichlet(0.5); seeds 1..SEEDS (mean and sd over seeds).
#   mcmahan McMahan et al. 2017 style: 100 clients, C=0.1, E=5, B=10, lr 0.05,
#          cnn, IID and pathological non-IID (shards); rounds to 90% and
#          accuracy after 100 rounds.
# Usage: bench/accuracy.sh [niid|mcmahan|all]  (SEEDS=3 by default)
# Long: niid about 2 min a run, mcmahan about 15 min a run on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
seeds=${SEEDS:-3}
g=./build/guardian
out=runs/accuracy
mkdir -p "$out"

summary() { # name csv-files...: final accuracy mean/sd, rounds to 90%
  local name=$1; shift
  awk -F, -v name="$name" '
    FNR == 1 { file++; hit[file] = 0; next }
    { last[file] = $5; if (!hit[file] && $5 >= 0.90) hit[file] = $1 }
    END {
      n = file; s = 0; for (i = 1; i <= n; i++) s += last[i]; m = s / n
      v = 0; for (i = 1; i <= n; i++) v += (last[i] - m) ^ 2
      sd = n > 1 ? sqrt(v / (n - 1)) : 0
      r = ""; for (i = 1; i <= n; i++) r = r (i > 1 ? "," : "") (hit[i] ? hit[i] : "null")
      printf "{\"bench\":\"fl_accuracy\",\"config\":\"%s\",\"runs\":%d,\"final_accuracy_mean\":%.4f,\"final_accuracy_sd\":%.4f,\"rounds_to_90\":[%s]}\n", name, n, m, sd, r
    }' "$@"
}

if [[ $what == niid || $what == all ]]; then
  for part in iid dirichlet:0.5; do
    files=()
    for s in $(seq 1 "$seeds"); do
      d="$out/niid-${part/:/}-s$s"
      $g simulate --data fashion-mnist --model lenet5 --clients 10 --per-round 10 \
        --rounds 50 --local-epochs 10 --batch 64 --lr 0.01 --momentum 0.9 \
        --partition "$part" --seed "$s" --out "$d" > "$d.log" 2>&1
      files+=("$d/metrics.csv")
      tail -n 1 "$d/metrics.csv" >&2
    done
    summary "niid-bench lenet5 $part" "${files[@]}"
  done
fi

if [[ $what == mcmahan || $what == all ]]; then
  for part in iid shards; do
    d="$out/mcmahan-$part"
    $g simulate --data fashion-mnist --model cnn --clients 100 --fraction 0.1 \
      --rounds 100 --local-epochs 5 --batch 10 --lr 0.05 --partition "$part" \
      --seed 1 --out "$d" > "$d.log" 2>&1
    summary "mcmahan cnn $part" "$d/metrics.csv"
  done
fi
