#!/usr/bin/env bash
# The main job: federated training on Fashion-MNIST, in two short runs
# (a few minutes on 2 cores); outputs go to runs/demo-*/.
#  1. 1,000 simulated data owners (60 examples each), 10% sampled per round,
#     client-level differential privacy (DP-FedAvg: each update clipped to
#     norm 1, Gaussian noise on the sum), epsilon reported every round.
#  2. 100 data owners with label-skewed data (Dirichlet 0.5), McMahan's CNN,
#     plain FedAvg: the accuracy a federation reaches without the noise.
#  3. The same over the network: a coordinator and 10 data-owner processes on
#     loopback, mutually authenticated TLS 1.3 with the federation's own CA,
#     SecAgg+ (the coordinator sees only the sum), one owner whose policy
#     declines, every round in a ledger the owners co-sign; then the audit.
# (HE and Prio3 join these runs as their issues land.)
set -euo pipefail
cd "$(dirname "$0")/.."
final() { tail -n 1 "$1/metrics.csv" | awk -F, '{printf "round %s, test accuracy %.2f%%", $1, 100*$5}'; }

echo "== 1/3: 1,000 data owners, client-level DP (clip 1, noise multiplier 1, delta 1e-5) =="
rm -rf runs/demo-dp
./build/guardian simulate --data fashion-mnist --model mlp:784-200-200-10 \
  --clients 1000 --fraction 0.1 --rounds 30 --local-epochs 1 --batch 10 --lr 0.05 \
  --dp client --clip 1.0 --noise 1.0 --delta 1e-5 --eval-every 5 --seed 1 --out runs/demo-dp
echo "== DP run: $(final runs/demo-dp), epsilon $(tail -n 1 runs/demo-dp/metrics.csv | cut -d, -f7) at delta 1e-5 =="

echo "== 2/3: 100 data owners, non-IID (Dirichlet 0.5), McMahan's CNN, FedAvg =="
rm -rf runs/demo
./build/guardian simulate --data fashion-mnist --model cnn --clients 100 \
  --fraction 0.1 --rounds 20 --local-epochs 1 --batch 10 --lr 0.05 \
  --partition dirichlet:0.5 --seed 1 --out runs/demo
echo "== CNN run: $(final runs/demo) =="

echo "== 3/3: over the network: a coordinator, 10 data-owner processes, TLS 1.3, SecAgg+, a ledger =="
fed=runs/demo-net
rm -rf "$fed" && mkdir -p "$fed"
g=./build/guardian
$g ca init --out "$fed/ca" --name "Demo federation CA" >/dev/null
$g keygen --out "$fed/coord" --name coordinator >/dev/null
$g ca sign --ca "$fed/ca" --in "$fed/coord" --server >/dev/null
for i in $(seq 0 9); do
  $g keygen --out "$fed/owner$i" --name "owner$i" >/dev/null
  $g ca sign --ca "$fed/ca" --in "$fed/owner$i" >/dev/null
done
echo '{"version": 1, "require": ["tls", "secagg"], "min_cohort": 20}' > "$fed/strict-policy.json"
$g serve --key "$fed/coord" --port 0 --clients 10 --fraction 1 --rounds 5 \
  --model mlp:784-200-200-10 --local-epochs 1 --batch 10 --lr 0.05 --seed 1 \
  --secagg --min-clients 5 --out "$fed/serve" > "$fed/serve.log" 2>&1 &
coord=$!
for _ in $(seq 1 200); do grep -q "listening on port" "$fed/serve.log" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening on port //p' "$fed/serve.log")
pids=()
for i in $(seq 0 9); do
  extra=""; [ "$i" = 9 ] && extra="--policy $fed/strict-policy.json"
  $g join --server "127.0.0.1:$port" --key "$fed/owner$i" --clients 10 --owner "$i" \
    --seed 1 $extra > "$fed/owner$i.log" 2>&1 &
  pids+=($!)
done
wait "$coord"
for p in "${pids[@]}"; do wait "$p"; done
grep -E "^round " "$fed/serve.log"
echo "== owner 9's policy: $(grep -m1 -o "refused: .*" "$fed/owner9.log") =="
$g audit --ledger "$fed/serve/ledger.db"
echo "== outputs: runs/demo-dp/, runs/demo/, runs/demo-net/ (metrics.csv, model.safetensors, config.json, ledger.db: guardian audit --ledger runs/demo-net/serve/ledger.db) =="
