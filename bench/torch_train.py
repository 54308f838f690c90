#!/usr/bin/python3
"""PyTorch baseline for bench/train.c: the same models, data, subsets, batch
sizes and optimizer (SGD lr 0.05, no momentum), one thread. Prints one JSON
line per config with the same keys as build/bench/train, "impl": "pytorch".

Run with Debian's interpreter (/usr/bin/python3, python3-torch 1.13), e.g.
  /usr/bin/python3 bench/torch_train.py --runs 5 --config mlp:784-200-200-10/10
"""
import os

# One BLAS thread: torch.set_num_threads covers OpenMP (and MKL), not the
# pthreads OpenBLAS that Debian's libblas.so.3 resolves to. Must be set
# before the library is loaded.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from torch_common import blas_in_use, train_arrays


# Same configs and subset sizes as bench/train.c.
CONFIGS = [("mlp:784-200-200-10", 10, 20000),
           ("mlp:784-200-200-10", 32, 20000),
           ("cnn", 32, 2000)]




def load_train(n):
    x, y = train_arrays()
    x, y = x[:n], y[:n]
    x = torch.from_numpy(x.astype(np.float32) / 255.0).reshape(n, 1, 28, 28)
    return x.contiguous(), torch.from_numpy(y.astype(np.int64))


def make_model(spec):
    if spec == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(), nn.Linear(512, 10))
    if spec == "mlp:784-200-200-10":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 200),
            nn.ReLU(), nn.Linear(200, 10))
    raise ValueError(spec)


def epoch(model, opt, x, y, batch, gen):
    """The plain loop: shuffle, then per batch zero_grad, forward,
    cross_entropy, backward, step. Returns samples per second."""
    n = x.shape[0]
    t0 = time.perf_counter()
    perm = torch.randperm(n, generator=gen)
    for at in range(0, n, batch):
        idx = perm[at:at + batch]
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
    return n / (time.perf_counter() - t0)




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--config", action="append",
                    help="SPEC/BATCH, e.g. cnn/32 (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    configs = CONFIGS
    if args.config:
        configs = [c for c in CONFIGS if f"{c[0]}/{c[1]}" in args.config]
    x_all, y_all = load_train(max(c[2] for c in configs))
    for spec, batch, n in configs:
        x, y = x_all[:n].contiguous(), y_all[:n].contiguous()
        model = make_model(spec)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.0)
        epoch(model, opt, x, y, batch, gen)  # warm-up
        rates = [epoch(model, opt, x, y, batch, gen) for _ in range(args.runs)]
        print(json.dumps({
            "bench": "train", "impl": "pytorch", "model": spec, "batch": batch,
            "threads": torch.get_num_threads(),
            "samples_per_s_median": round(statistics.median(rates), 1),
            "runs": args.runs, "all": [round(r, 1) for r in rates],
            "examples": n, "blas": blas_in_use(),
            "torch": torch.__version__,
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "unset"),
        }), flush=True)


if __name__ == "__main__":
    main()
