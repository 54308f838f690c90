#!/usr/bin/env bash
# The main job: a federated training on Fashion-MNIST, 100 simulated data
# owners with label-skewed (Dirichlet 0.5) data, 10 per round, McMahan's CNN.
# A few minutes on 2 cores; outputs go to runs/demo/.
# (Privacy layers join this run as their issues land: SecAgg+, DP, HE.)
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/demo
rm -rf "$out"
echo "== Guardian demo: federated learning on Fashion-MNIST =="
./build/guardian simulate --data fashion-mnist --model cnn --clients 100 \
  --fraction 0.1 --rounds 20 --local-epochs 1 --batch 10 --lr 0.05 \
  --partition dirichlet:0.5 --seed 1 --out "$out"
echo "== final: $(tail -n 1 "$out/metrics.csv" | awk -F, '{printf "round %s, test accuracy %.2f%%", $1, 100*$5}') =="
echo "== outputs in $out: metrics.csv, model.safetensors, accuracy.png, config.json =="
