"""Helpers shared by the PyTorch baselines (bench/torch_*.py): reading the
same Fashion-MNIST IDX files as Guardian, and saying which BLAS is mapped.
Imports neither torch nor numpy's BLAS, so callers can set OPENBLAS_*
before they load torch."""
import ctypes
import gzip
import os

import numpy as np

FMNIST_DIR = os.environ.get("GDN_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """IDX file (gzip or not): big-endian magic 0x0000 0x08 ndim, dims, ubyte data."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def train_arrays():
    """Fashion-MNIST's training images (uint8, n x 28 x 28) and labels."""
    return (read_idx(os.path.join(FMNIST_DIR, "train-images-idx3-ubyte.gz")),
            read_idx(os.path.join(FMNIST_DIR, "train-labels-idx1-ubyte.gz")))


def blas_in_use():
    """The BLAS library actually mapped into this process and its config."""
    paths = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if "blas" in os.path.basename(p):
                paths.add(p)
    desc = []
    for p in sorted(paths):
        try:
            fn = ctypes.CDLL(p).openblas_get_config
            fn.restype = ctypes.c_char_p
            desc.append(f"{p}: {fn().decode()}")
        except (OSError, AttributeError):
            desc.append(p)
    return "; ".join(desc) or "none mapped"
