#!/usr/bin/env bash
# Accuracy under client-level DP (issue 6's table): Fashion-MNIST, 1,000
# clients of 60 examples, C = 0.1 (Poisson), 100 rounds, 2NN, E = 1, B = 10,
# lr 0.05, clip 1; the noise multiplier is calibrated by `guardian privacy`
# so that 100 rounds spend exactly epsilon at delta 1e-5; "inf" is no DP.
# Prints one JSON line per epsilon. About 2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
g=./build/guardian
rounds=${ROUNDS:-100}
for eps in 1 2 4 8 inf; do
  out=runs/dp-accuracy/eps-$eps
  args=(--data fashion-mnist --model mlp:784-200-200-10 --clients 1000 --fraction 0.1
        --rounds "$rounds" --local-epochs 1 --batch 10 --lr 0.05 --eval-every 10
        --seed 1 --out "$out")
  mkdir -p "$(dirname "$out")"
  if [[ $eps == inf ]]; then
    sigma=0
    $g simulate "${args[@]}" > "$out.log" 2>&1
  else
    sigma=$($g privacy --q 0.1 --epsilon "$eps" --steps "$rounds" --delta 1e-5 --json |
            sed 's/.*"sigma": \([0-9.e+-]*\).*/\1/')
    $g simulate "${args[@]}" --dp client --clip 1 --noise "$sigma" --delta 1e-5 > "$out.log" 2>&1
  fi
  tail -n 1 "$out/metrics.csv" | awk -F, -v e="$eps" -v s="$sigma" \
    '{printf "{\"bench\":\"dp_accuracy\",\"epsilon_target\":\"%s\",\"noise_multiplier\":%s,\"rounds\":%s,\"test_accuracy\":%.4f,\"epsilon_spent\":\"%s\"}\n", e, s, $1, $5, $7}'
done
