#!/usr/bin/python3
"""Regenerates (or, with --check, verifies) the worked examples of docs/ from `normlab explain`.

    python3 tools/update_doc_examples.py build/dev/tools/normlab [--check]

In a Markdown file under docs/, a worked example is the block between

    <!-- normlab explain ARGS -->
    ...
    <!-- end explain -->

and its content is exactly the output of `normlab explain ARGS`. Without --check the blocks are
rewritten in place; with --check the script exits 1 naming every block whose content differs
(so the docs never show numbers the code does not produce). The one exception is the line that
says how far the hand-written layer is from the formulas: its numbers are round-off, which
changes with the compiler's optimization and the vector instructions the kernels run with, so
--check requires each of them to be at most 1e-12 instead of equal. Needs no third-party module.
"""
import argparse
import pathlib
import re
import shlex
import subprocess
import sys

BLOCK = re.compile(r"(<!-- normlab explain (.*?) -->\n)(.*?)(<!-- end explain -->)", re.S)
AGREES = re.compile(r"^(\*\*The hand-written layer agrees\*\*.*)$", re.M)
NUMBER = re.compile(r"[0-9]+\.[0-9]+e[-+][0-9]+")


def same_example(shown, produced):
    """Equal, except that the agreement line only needs round-off (<= 1e-12) in the output."""
    if AGREES.sub("", shown) != AGREES.sub("", produced):
        return False
    return all(float(v) <= 1e-12 for line in AGREES.findall(produced)
               for v in NUMBER.findall(line))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("normlab", help="path of the normlab binary")
    ap.add_argument("--check", action="store_true", help="verify instead of rewriting")
    ap.add_argument("--root", default=pathlib.Path(__file__).resolve().parent.parent,
                    type=pathlib.Path, help="repository root (default: this script's)")
    args = ap.parse_args()
    stale = 0
    blocks = 0
    for path in sorted((args.root / "docs").rglob("*.md")):
        text = path.read_text()

        def render(m):
            nonlocal stale, blocks
            blocks += 1
            cmd = [args.normlab, "explain"] + shlex.split(m.group(2))
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=args.root)
            if r.returncode != 0:
                print(f"{path}: normlab explain {m.group(2)} failed: {r.stderr.strip()}")
                stale += 1
                return m.group(0)
            if (r.stdout != m.group(3)) if not args.check else not same_example(m.group(3),
                                                                                 r.stdout):
                stale += 1
                print(f"{path}: the example 'normlab explain {m.group(2)}' "
                      + ("differs from the command's output" if args.check else "updated"))
            return m.group(1) + r.stdout + m.group(4)

        new = BLOCK.sub(render, text)
        if not args.check and new != text:
            path.write_text(new)
    print(f"{blocks} worked examples, {stale} " + ("stale" if args.check else "rewritten"))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
