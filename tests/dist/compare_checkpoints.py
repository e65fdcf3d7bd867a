#!/usr/bin/env python3
"""Compares the tensors of two normlab checkpoints (safetensors), with the standard library only.

usage: compare_checkpoints.py A B RTOL [--only REGEX] [--skip REGEX] [--differ]
Every float tensor of B (whose name matches --only and not --skip) must be in A with the same
shape and satisfy max|a - b| <= RTOL * max(1, max|b|). With --differ the opposite is required:
some tensor must be further apart than RTOL. Prints the worst tensor; exit status 0 or 1.
"""
import json
import re
import struct
import sys

FORMATS = {"F32": "f", "F64": "d"}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in FORMATS:
            continue
        begin, end = info["data_offsets"]
        fmt = FORMATS[info["dtype"]]
        count = (end - begin) // struct.calcsize(fmt)
        out[name] = (info["shape"], struct.unpack_from(f"<{count}{fmt}", data, base + begin))
    return out


def main():
    args = sys.argv[1:]
    differ = "--differ" in args
    only = args[args.index("--only") + 1] if "--only" in args else ""
    skip = args[args.index("--skip") + 1] if "--skip" in args else None
    a, b, rtol = read(args[0]), read(args[1]), float(args[2])
    worst, worst_name = 0.0, ""
    for name, (shape, vb) in sorted(b.items()):
        if not re.search(only, name) or (skip and re.search(skip, name)):
            continue
        if name not in a or a[name][0] != shape:
            print(f"FAIL {name}: missing or of another shape in {args[0]}")
            return 1
        va = a[name][1]
        scale = max([1.0] + [abs(v) for v in vb])
        err = max(abs(x - y) for x, y in zip(va, vb)) / scale if vb else 0.0
        if err > worst:
            worst, worst_name = err, name
    print(f"worst relative difference {worst:.3g} ({worst_name or 'none'}), tolerance {rtol:g}")
    return 0 if (worst > rtol) == differ else 1


if __name__ == "__main__":
    sys.exit(main())
