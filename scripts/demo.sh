#!/usr/bin/env bash
# The main job: trains on Fashion-MNIST and prints progress and the result.
# Kept to a few minutes on 2 cores. Outputs go to runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/demo
echo "== Guardian demo: Fashion-MNIST, McMahan's CNN, central training =="
./build/guardian train --data fashion-mnist --model cnn --epochs 2 --batch 32 \
  --lr 0.05 --seed 1 --out "$out"
echo "== outputs: $out/model.safetensors, $out/metrics.csv, $out/config.json =="
