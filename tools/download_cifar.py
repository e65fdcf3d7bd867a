#!/usr/bin/env python3
"""Download the CIFAR-10 / CIFAR-100 binary archives from the official site and check their MD5.

    tools/download_cifar.py cifar10 [--dir data] [--extract]
    tools/download_cifar.py cifar100 --dir data --extract

normlab reads the archive directly (`--data cifar10:data/cifar-10-binary.tar.gz`) or the folder it
extracts to (`--data cifar10:data/cifar-10-batches-bin`). Needs internet; the tests never do.
The MD5 sums are the ones published on https://www.cs.toronto.edu/~kriz/cifar.html.
"""
import argparse
import hashlib
import os
import sys
import tarfile
import urllib.request

BASE_URL = "https://www.cs.toronto.edu/~kriz/"
ARCHIVES = {
    "cifar10": ("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", "cifar-10-batches-bin"),
    "cifar100": ("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8", "cifar-100-binary"),
}


def md5_of(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url, dest):
    tmp = dest + ".part"
    with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
        total = int(response.headers.get("Content-Length", 0))
        done = 0
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            if total:
                print(f"\r{os.path.basename(dest)}: {done >> 20} / {total >> 20} MiB", end="",
                      file=sys.stderr, flush=True)
    print(file=sys.stderr)
    os.replace(tmp, dest)


def safe_extract(archive, dest_dir):
    root = os.path.realpath(dest_dir)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            target = os.path.realpath(os.path.join(dest_dir, member.name))
            if not target.startswith(root + os.sep) or not (member.isfile() or member.isdir()):
                sys.exit(f"download_cifar: refusing to extract suspicious entry {member.name}")
        tar.extractall(dest_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(ARCHIVES))
    parser.add_argument("--dir", default="data", help="where to put the archive (default: data)")
    parser.add_argument("--extract", action="store_true", help="also extract the archive there")
    args = parser.parse_args()

    name, md5, folder = ARCHIVES[args.dataset]
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, name)
    if os.path.exists(path) and md5_of(path) == md5:
        print(f"{path}: already present, MD5 {md5} ok")
    else:
        try:
            download(BASE_URL + name, path)
        except OSError as e:
            sys.exit(f"download_cifar: cannot download {BASE_URL + name}: {e}")
        got = md5_of(path)
        if got != md5:
            sys.exit(f"download_cifar: {path}: MD5 {got} does not match the published {md5}; "
                     "delete it and try again")
        print(f"{path}: MD5 {md5} ok")
    spec = f"{args.dataset}:{path}"
    if args.extract:
        safe_extract(path, args.dir)
        spec = f"{args.dataset}:{os.path.join(args.dir, folder)}"
        print(f"extracted {os.path.join(args.dir, folder)}")
    print(f"use it with: normlab data --data {spec}")


if __name__ == "__main__":
    main()
