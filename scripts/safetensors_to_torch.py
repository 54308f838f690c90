#!/usr/bin/env python3
"""Load a Guardian model file (safetensors) into PyTorch, without the
`safetensors` package (Debian does not ship it).

The format (github.com/huggingface/safetensors, README "Format"): an 8-byte
little-endian header length N, N bytes of JSON, then the tensor bytes, which
the header's data_offsets index relative to the end of the header.

    safetensors_to_torch.py MODEL.safetensors
        prints the metadata, the tensors and the torch.nn.Sequential
    safetensors_to_torch.py MODEL.safetensors --forward X.f32 LOGITS.f32
        also runs the model on X (float32, row-major [batch][input size])
        and writes the logits as float32

As a module: `state, meta = read(path)`, `model = build(meta)`,
`model.load_state_dict(state)`.
"""
import json
import struct
import sys

import numpy
import torch
from torch import nn

# Little-endian numpy types of the safetensors dtypes (BF16 has none).
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8",
          "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def read(path):
    """Returns ({name: tensor}, {metadata key: string value})."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > 100_000_000 or 8 + n > len(blob):
        raise ValueError(f"{path}: bad header length {n}")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n:]
    meta = header.pop("__metadata__", {})
    state, spans = {}, []
    for name, info in header.items():
        begin, end = info["data_offsets"]
        spans.append((begin, end))
        a = numpy.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]])
        a = a.astype(a.dtype.newbyteorder("="))  # native order, and a copy
        state[name] = torch.from_numpy(a).reshape(info["shape"])
    spans.sort()
    pos = 0
    for begin, end in spans:
        if begin != pos:
            raise ValueError(f"{path}: data_offsets overlap or leave a gap at {pos}")
        pos = end
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} bytes after the last tensor")
    return state, meta


class Square(nn.Module):
    """x^2, Guardian's CKKS-friendly activation."""

    def forward(self, x):
        return x * x


def expand(spec, classes):
    """The seq form of a named spec, as src/ml/model.c expands it."""
    if spec.startswith("seq:"):
        return spec[4:].split(",")
    if spec == "logreg":
        return ["flatten", f"fc{classes}"]
    if spec == "cnn":
        return ["conv5-32p2", "relu", "pool2", "conv5-64p2", "relu", "pool2",
                "flatten", "fc512", "relu", f"fc{classes}"]
    if spec == "lenet5":
        return ["conv5-6", "relu", "pool2", "conv5-16", "relu", "pool2",
                "flatten", "fc120", "relu", "fc84", "relu", f"fc{classes}"]
    if spec.startswith("mlp:"):
        dims = [int(d) for d in spec[4:].split("-")]
        layers = ["flatten"]
        for i, d in enumerate(dims[1:]):
            layers += [f"fc{d}"] + (["relu"] if i + 2 < len(dims) else [])
        return layers
    raise ValueError(f"unknown model spec {spec!r}")


def build(meta):
    """The torch.nn.Sequential equivalent of the file's model."""
    c, h, w = (int(v) for v in meta["guardian_input"].split("x"))
    classes = int(meta["guardian_classes"])
    layers = []
    for tok in expand(meta["guardian_spec"], classes):
        if tok.startswith("conv"):
            k, rest = tok[4:].split("-")
            out, _, pad = rest.partition("p")
            k, out, pad = int(k), int(out), int(pad or 0)
            layers.append(nn.Conv2d(c, out, k, padding=pad))
            c, h, w = out, h + 2 * pad - k + 1, w + 2 * pad - k + 1
        elif tok.startswith("pool"):
            k = int(tok[4:])
            layers.append(nn.MaxPool2d(k))
            h, w = h // k, w // k
        elif tok.startswith("fc"):
            out = int(tok[2:])
            layers.append(nn.Linear(c * h * w, out))
            c, h, w = 1, 1, out
        elif tok == "relu":
            layers.append(nn.ReLU())
        elif tok == "square":
            layers.append(Square())
        elif tok == "flatten":
            layers.append(nn.Flatten())
            c, h, w = 1, 1, c * h * w
        else:
            raise ValueError(f"unknown layer {tok!r}")
    return nn.Sequential(*layers)


def main(argv):
    if len(argv) not in (2, 5) or (len(argv) == 5 and argv[2] != "--forward"):
        print(__doc__, file=sys.stderr)
        return 2
    state, meta = read(argv[1])
    print("metadata:", json.dumps(meta))
    for name, t in state.items():
        print(f"  {name:12} {str(t.dtype):14} {list(t.shape)}")
    model = build(meta)
    model.load_state_dict(state, strict=True)
    print(model)
    if len(argv) == 5:
        c, h, w = (int(v) for v in meta["guardian_input"].split("x"))
        with open(argv[3], "rb") as f:
            x = numpy.frombuffer(f.read(), dtype="<f4").astype(numpy.float32)
        x = torch.from_numpy(x).reshape(-1, c, h, w)
        with torch.no_grad():
            logits = model(x).contiguous()
        with open(argv[4], "wb") as f:
            f.write(logits.numpy().astype("<f4").tobytes())
        print(f"logits for {x.shape[0]} inputs written to {argv[4]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
