#!/usr/bin/env bash
# The main job: federated training on Fashion-MNIST, in two short runs
# (a few minutes on 2 cores); outputs go to runs/demo-*/.
#  1. 1,000 simulated data owners (60 examples each), 10% sampled per round,
#     client-level differential privacy (DP-FedAvg: each update clipped to
#     norm 1, Gaussian noise on the sum), epsilon reported every round.
#  2. 100 data owners with label-skewed data (Dirichlet 0.5), McMahan's CNN,
#     plain FedAvg: the accuracy a federation reaches without the noise.
# (SecAgg+, HE and Prio3 join these runs as their issues land.)
set -euo pipefail
cd "$(dirname "$0")/.."
final() { tail -n 1 "$1/metrics.csv" | awk -F, '{printf "round %s, test accuracy %.2f%%", $1, 100*$5}'; }

echo "== 1/2: 1,000 data owners, client-level DP (clip 1, noise multiplier 1, delta 1e-5) =="
rm -rf runs/demo-dp
./build/guardian simulate --data fashion-mnist --model mlp:784-200-200-10 \
  --clients 1000 --fraction 0.1 --rounds 30 --local-epochs 1 --batch 10 --lr 0.05 \
  --dp client --clip 1.0 --noise 1.0 --delta 1e-5 --eval-every 5 --seed 1 --out runs/demo-dp
echo "== DP run: $(final runs/demo-dp), epsilon $(tail -n 1 runs/demo-dp/metrics.csv | cut -d, -f7) at delta 1e-5 =="

echo "== 2/2: 100 data owners, non-IID (Dirichlet 0.5), McMahan's CNN, FedAvg =="
rm -rf runs/demo
./build/guardian simulate --data fashion-mnist --model cnn --clients 100 \
  --fraction 0.1 --rounds 20 --local-epochs 1 --batch 10 --lr 0.05 \
  --partition dirichlet:0.5 --seed 1 --out runs/demo
echo "== CNN run: $(final runs/demo) =="
echo "== outputs: runs/demo-dp/ and runs/demo/ (metrics.csv, model.safetensors, accuracy.png, config.json, ledger.db: try guardian audit --ledger runs/demo/ledger.db) =="
