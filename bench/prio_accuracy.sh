#!/usr/bin/env bash
# Accuracy under a scaling attack with and without --prio (issue 8's table):
# Fashion-MNIST split IID over 100 clients, C = 0.1, E = 1, B = 10, lr 0.05,
# ROUNDS rounds (default 30), MODEL (default mlp:784-200-200-10); 20% of
# the clients send their update scaled x10 (--attack scale:10,frac:0.2).
# Four runs: clean FedAvg, FedAvg under attack, --prio under attack, clean
# --prio (bound PRIO_BOUND, default 2). One JSON line per run: final test
# accuracy, reports rejected in all, median seconds per round.
set -euo pipefail
cd "$(dirname "$0")/.."
g=./build/guardian
rounds=${ROUNDS:-30}
model=${MODEL:-mlp:784-200-200-10}
bound=${PRIO_BOUND:-2}
for run in clean attacked prio-attacked prio-clean; do
  out=runs/prio-accuracy/$run
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  args=(--data fashion-mnist --model "$model" --clients 100 --fraction 0.1
        --rounds "$rounds" --local-epochs 1 --batch 10 --lr 0.05 --eval-every 5
        --seed 1 --out "$out")
  case $run in
    attacked) args+=(--attack scale:10,frac:0.2) ;;
    prio-attacked) args+=(--prio --prio-bound "$bound" --attack scale:10,frac:0.2) ;;
    prio-clean) args+=(--prio --prio-bound "$bound") ;;
  esac
  $g simulate "${args[@]}" > "$out.log" 2>&1
  rejected=$({ grep -o '[0-9]* rejected' "$out.log" || true; } | awk '{s += $1} END {print s + 0}')
  secs=$(awk -F, 'NR > 1 {print $6}' "$out/metrics.csv" | sort -g |
         awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  tail -n 1 "$out/metrics.csv" | awk -F, -v r="$run" -v m="$model" -v rej="$rejected" \
    -v s="$secs" -v b="$bound" \
    '{printf "{\"bench\":\"prio_accuracy\",\"run\":\"%s\",\"model\":\"%s\",\"prio_bound\":%s,\"rounds\":%s,\"test_accuracy\":%.4f,\"rejected\":%s,\"sec_per_round_median\":%s}\n", r, m, b, $1, $5, rej, s}'
done
