#!/usr/bin/python3
"""Loads a normlab checkpoint into its PyTorch twin (tools/torch_models.py) and compares logits.

    /usr/bin/python3 tools/check_twin.py CHECKPOINT.safetensors INPUTS.npy LOGITS.npy \\
        [--train-logits TRAIN_LOGITS.npy] [--image-size S] [--tol 1e-3]
    /usr/bin/python3 tools/check_twin.py --dir DIR

The checkpoint is parsed with numpy alone (safetensors: 8-byte little-endian header length, a JSON
header, the raw data). Its __metadata__["config"] is a JSON object with at least "model" and
"norm"; "num_groups" (default 32), "norm_eps" or "eps" (1e-5), "width" (1.0) and "in_channels"
are read when present. in_channels, the image size and the number of classes otherwise come from
the inputs (N, C, H, W) and the logits (N, classes). Tensors named "optim.*" (a training
checkpoint's optimizer state, tools/checkpoint.h) are skipped; every other tensor must load into
the twin with strict=True. The twin runs in float64 and in eval mode on INPUTS; LOGITS are
normlab's infer() in eval mode on the same inputs. With --train-logits the twin also runs one
training-mode forward (after the eval check, as normlab did) and compares with those.

--dir checks every <stem>.safetensors in DIR that has <stem>.inputs.npy and <stem>.logits.npy
(and uses <stem>.train_logits.npy when present): the layout tests/models/test_twin_export.cpp
writes into <temp dir>/normlab_twin_export.

A case passes when the argmax of every row agrees and max |Δlogit| < tol. Exit status: 0 when
every case passes, 1 when one fails, 2 for an unreadable or inconsistent file.
"""
import argparse
import glob
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

SAFETENSORS_DTYPES = {"F32": "<f4", "F64": "<f8", "U8": "u1", "I32": "<i4", "I64": "<i8"}


class InputError(Exception):
    pass


def read_safetensors(path):
    """Returns ({name: np.ndarray}, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise InputError(f"{path}: {len(raw)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise InputError(f"{path}: header length {n} runs past the end ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: header at byte 8 is not JSON ({e})") from e
    metadata = header.pop("__metadata__", {}) or {}
    data = raw[8 + n:]
    tensors = {}
    for name, entry in header.items():
        dtype = SAFETENSORS_DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise InputError(f"{path}: tensor '{name}' has unsupported dtype {entry.get('dtype')}")
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        if not (0 <= begin <= end <= len(data)) or end - begin != count * np.dtype(dtype).itemsize:
            raise InputError(f"{path}: tensor '{name}' offsets [{begin}, {end}) do not fit shape "
                             f"{list(shape)} {entry['dtype']} in {len(data)} data bytes")
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
    return tensors, metadata


def build_twin(config, state, inputs, logits, image_size=None):
    try:
        model, norm = config["model"], config["norm"]
    except KeyError as e:
        raise InputError(f"config has no {e} (config: {config})") from e
    in_channels = int(config.get("in_channels", inputs.shape[1]))
    return torch_models.build(
        model, norm, in_channels=in_channels,
        image_size=int(image_size if image_size else inputs.shape[2]),
        num_classes=int(logits.shape[1]),
        width=float(config.get("width", 1.0)),
        num_groups=int(config.get("num_groups", 32)),
        eps=float(config.get("norm_eps", config.get("eps", 1e-5))))


def compare(twin_logits, want, tol):
    delta = float(np.max(np.abs(twin_logits - want))) if want.size else 0.0
    argmax_ok = bool(np.array_equal(twin_logits.argmax(1), want.argmax(1)))
    return delta, argmax_ok, argmax_ok and delta < tol


def check(checkpoint, inputs_path, logits_path, train_logits_path=None, image_size=None,
          tol=1e-3):
    """One case; returns (passed, report line)."""
    tensors, metadata = read_safetensors(checkpoint)
    if "config" not in metadata:
        raise InputError(f"{checkpoint}: __metadata__ has no 'config'")
    config = json.loads(metadata["config"])
    inputs, logits = np.load(inputs_path), np.load(logits_path)
    if inputs.ndim != 4 or logits.ndim != 2 or inputs.shape[0] != logits.shape[0]:
        raise InputError(f"inputs {list(inputs.shape)} and logits {list(logits.shape)} are not "
                         "(N, C, H, W) and (N, classes)")
    state = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("optim.")}
    twin = build_twin(config, state, inputs, logits, image_size).double()
    twin.load_state_dict(state, strict=True)
    x = torch.from_numpy(inputs).double()
    twin.eval()
    with torch.no_grad():
        y = twin(x).numpy()
    delta, argmax_ok, ok = compare(y, logits.astype(np.float64), tol)
    line = f"{config['model']}/{config['norm']}: eval max|dlogit| {delta:.2e} argmax " + \
        ("equal" if argmax_ok else "DIFFERS")
    if train_logits_path:
        twin.train()
        with torch.no_grad():
            yt = twin(x).numpy()
        tdelta, targmax_ok, tok = compare(yt, np.load(train_logits_path).astype(np.float64), tol)
        line += f"; train max|dlogit| {tdelta:.2e} argmax " + ("equal" if targmax_ok else "DIFFERS")
        ok = ok and tok
    return ok, line + (": PASS" if ok else ": FAIL")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", nargs="?")
    p.add_argument("inputs", nargs="?")
    p.add_argument("logits", nargs="?")
    p.add_argument("--train-logits")
    p.add_argument("--image-size", type=int, help="the model's image_size (default: inputs' H)")
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--dir", help="check every <stem>.safetensors with its .npy files in DIR")
    a = p.parse_args()
    if a.dir:
        cases = []
        for ckpt in sorted(glob.glob(os.path.join(a.dir, "*.safetensors"))):
            stem = ckpt[:-len(".safetensors")]
            if os.path.exists(stem + ".inputs.npy") and os.path.exists(stem + ".logits.npy"):
                train = stem + ".train_logits.npy"
                cases.append((ckpt, stem + ".inputs.npy", stem + ".logits.npy",
                              train if os.path.exists(train) else None))
        if not cases:
            p.error(f"no <stem>.safetensors with <stem>.inputs.npy and .logits.npy in {a.dir}")
    elif a.checkpoint and a.inputs and a.logits:
        cases = [(a.checkpoint, a.inputs, a.logits, a.train_logits)]
    else:
        p.error("give CHECKPOINT INPUTS LOGITS, or --dir DIR")
    failed = 0
    try:
        for ckpt, inputs, logits, train in cases:
            ok, line = check(ckpt, inputs, logits, train, a.image_size, a.tol)
            print(line)
            failed += not ok
    except (InputError, OSError, ValueError, RuntimeError) as e:
        print(f"check_twin: {e}", file=sys.stderr)
        return 2
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
