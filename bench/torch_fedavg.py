#!/usr/bin/python3
"""PyTorch baseline for bench/simulate.c: the plain FedAvg loop, one process,
clients trained one after another. McMahan et al.'s 2NN (784-200-200-10,
ReLU) on Fashion-MNIST split IID over --clients clients, C = 0.1, E = 1,
B = 10, SGD lr 0.05. Prints one JSON line with the same keys as
build/bench/simulate, "impl": "pytorch".

Each round: sample the cohort; for each client, load_state_dict(global),
a fresh SGD, one epoch over its examples in a shuffled order (manual
batching, no DataLoader), keep a copy of its state_dict; the new global
model is the average of the copies weighted by example counts.

Threads: the defaults unless --threads is given. On this machine Debian's
torch then runs ATen on 1 thread ("threads") and OpenBLAS on one per core
("blas_threads"). --threads N sets torch.set_num_threads(N) and, before
torch loads, OPENBLAS_NUM_THREADS=N (torch's setting does not reach the
pthreads OpenBLAS that Debian's libblas.so.3 resolves to).

Run with Debian's interpreter (/usr/bin/python3, python3-torch 1.13):
  /usr/bin/python3 bench/torch_fedavg.py --clients 1000 --rounds 10
"""
import argparse
import os
import sys


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0,
                    help="compute threads (0: torch's default)")
    args = ap.parse_args()
    if not 10 <= args.clients <= 60000 or args.rounds < 1 or args.threads < 0:
        ap.error("--clients in 10..60000, --rounds >= 1, --threads >= 0")
    return args


ARGS = parse_args()
if ARGS.threads:
    os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)
    os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)

import ctypes  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from torch_common import blas_in_use, train_arrays  # noqa: E402

MODEL = "mlp:784-200-200-10"
FRACTION, EPOCHS, BATCH, LR = 0.1, 1, 10, 0.05




def load_train():
    x, y = train_arrays()
    x = torch.from_numpy(x.astype(np.float32) / np.float32(255.0))
    return x.reshape(-1, 1, 28, 28).contiguous(), torch.from_numpy(y.astype(np.int64))


def make_model():
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 200),
        nn.ReLU(), nn.Linear(200, 10))


def client_update(model, global_state, x, y, idx, gen):
    """One client: start from the global model, E epochs of SGD over its
    examples (shuffled, batches of B), return its parameters and loss."""
    model.load_state_dict(global_state)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    total = 0.0
    for _ in range(EPOCHS):
        perm = idx[torch.randperm(len(idx), generator=gen)]
        total = 0.0
        for at in range(0, len(perm), BATCH):
            b = perm[at:at + BATCH]
            xb, yb = x[b], y[b]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, total / len(idx)


def fedavg_round(model, global_state, x, y, parts, per_round, gen):
    """Returns the new global state and the cohort's mean training loss."""
    cohort = torch.randperm(len(parts), generator=gen)[:per_round].tolist()
    states, weights, loss = [], [], 0.0
    for k in sorted(cohort):
        state, client_loss = client_update(model, global_state, x, y, parts[k], gen)
        states.append(state)
        weights.append(len(parts[k]))
        loss += client_loss * len(parts[k])
    total = float(sum(weights))
    new_state = {}
    for name in global_state:
        acc = torch.zeros_like(global_state[name])
        for state, w in zip(states, weights):
            acc.add_(state[name], alpha=w / total)
        new_state[name] = acc
    return new_state, loss / total


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def blas_threads():
    """openblas_get_num_threads() of the BLAS torch resolved, or None."""
    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if "blas" in line.split()[-1]})
    for p in paths:
        try:
            fn = ctypes.CDLL(p).openblas_get_num_threads
            return int(fn())
        except (OSError, AttributeError):
            continue
    return None




def main():
    if ARGS.threads:
        torch.set_num_threads(ARGS.threads)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    base_rss = rss_mib()
    x, y = load_train()
    data_rss, load_peak = rss_mib(), peak_rss_mib()
    # IID: a shuffled order cut into near-equal parts of consecutive indices.
    order = torch.randperm(x.shape[0], generator=gen)
    parts = [p.clone() for p in torch.tensor_split(order, ARGS.clients)]
    per_round = max(1, round(FRACTION * ARGS.clients))

    model = make_model()
    global_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    secs, loss = [], 0.0
    for r in range(ARGS.rounds + 1):  # r = 0: warm-up
        t = time.perf_counter()
        global_state, loss = fedavg_round(model, global_state, x, y, parts,
                                          per_round, gen)
        t = time.perf_counter() - t
        if r:
            secs.append(t)
    print(json.dumps({
        "bench": "simulate", "impl": "pytorch", "model": MODEL,
        "clients": ARGS.clients, "per_round": per_round,
        "examples_per_client": len(parts[0]), "local_epochs": EPOCHS,
        "batch": BATCH, "workers": 1, "threads_setting": ARGS.threads or "default",
        "threads": torch.get_num_threads(),
        "blas_threads": blas_threads(),
        "sec_per_round_median": round(statistics.median(secs), 5),
        "rounds": ARGS.rounds, "all": [round(s, 5) for s in secs],
        "peak_rss_mib": round(peak_rss_mib(), 1), "data_rss_mib": round(data_rss, 1),
        "base_rss_mib": round(base_rss, 1), "load_peak_rss_mib": round(load_peak, 1),
        "end_rss_mib": round(rss_mib(), 1),
        "train_loss": round(loss, 4), "blas": blas_in_use(),
        "torch": torch.__version__,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "unset"),
        "openblas_l2_size": os.environ.get("OPENBLAS_L2_SIZE", "unset"),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
