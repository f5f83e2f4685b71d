#!/usr/bin/env python3
"""Turns `perf script` output (from `perf record -g`) into a flame graph SVG.

    perf record -g -p PID -- sleep 5
    perf script | scripts/flamegraph.py --title "cimomd: EnumerateClasses" > graph.svg

Each sample's call stack is folded into one line (root first, frames joined by
";"), identical stacks are counted, and every frame becomes a box whose width
is its share of the samples. Frames narrower than --min-width percent are left
out so the file stays small. Standard library only; no browser script: the
boxes carry <title> tooltips with the frame name and its share.
"""

import argparse
import collections
import html
import re
import sys
import zlib


def fold(lines, only_comm=None):
    """Counts the folded stacks of `perf script` text."""
    stacks = collections.Counter()
    frames, comm, in_sample = [], None, False
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            if in_sample and frames and (only_comm is None or comm == only_comm):
                stacks[";".join([comm] + list(reversed(frames)))] += 1
            frames, in_sample = [], False
            continue
        if not line[0].isspace():
            # Sample header: "comm pid/tid [cpu] time: period event:"
            comm, in_sample = line.split()[0], True
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        sym = re.sub(r"\+0x[0-9a-f]+$", "", parts[1].rsplit(" (", 1)[0])
        sym = re.sub(r"::h[0-9a-f]{16}$", "", sym)
        # Rust generics make names long and the file large: drop them.
        prev = None
        while prev != sym:
            prev, sym = sym, re.sub(r"<[^<>]*>", "", sym)
        frames.append(sym or "[unknown]")
    if in_sample and frames and (only_comm is None or comm == only_comm):
        stacks[";".join([comm] + list(reversed(frames)))] += 1
    return stacks


def tree(stacks):
    """A nested dict: name -> [count, children]."""
    root = [0, {}]
    for stack, n in stacks.items():
        root[0] += n
        node = root
        for f in stack.split(";"):
            node = node[1].setdefault(f, [0, {}])
            node[0] += n
    return root


def colour(name):
    h = zlib.crc32(name.encode())
    return f"rgb({205 + h % 50},{(h >> 8) % 180 + 50},{(h >> 16) % 55})"


def render(root, title, width=1200, row=16, min_width=0.1):
    total = root[0] or 1
    boxes, depth_max = [], 0

    def walk(node, x, depth):
        nonlocal depth_max
        for name, child in sorted(node[1].items()):
            w = child[0] / total * width
            if w >= width * min_width / 100:
                boxes.append((x, depth, w, name, child[0]))
                depth_max = max(depth_max, depth)
                walk(child, x, depth + 1)
            x += w

    walk(root, 0.0, 0)
    height = (depth_max + 1) * row + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="11">',
        f'<text x="4" y="16" font-size="14">{html.escape(title)} ({total} samples)</text>',
    ]
    for x, depth, w, name, n in boxes:
        y = height - (depth + 1) * row - 4
        label = name if len(name) * 6.5 < w - 4 else name[: max(0, int((w - 4) / 6.5) - 2)] + ".."
        tip = f"{name} ({n} samples, {100.0 * n / total:.1f}%)"
        out.append(
            f'<g><title>{html.escape(tip)}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" '
            f'height="{row - 1}" fill="{colour(name)}"/>'
            + (f'<text x="{x + 2:.1f}" y="{y + row - 4}">{html.escape(label)}</text>' if w > 20 else "")
            + "</g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--title", default="flame graph")
    ap.add_argument("--comm", help="only samples of this command (thread) name")
    ap.add_argument("--min-width", type=float, default=0.2, help="percent (default 0.2)")
    ap.add_argument("--folded", help="also write the folded stacks to this file")
    a = ap.parse_args()
    stacks = fold(sys.stdin, a.comm)
    if a.folded:
        with open(a.folded, "w") as f:
            for s, n in stacks.most_common():
                f.write(f"{s} {n}\n")
    sys.stdout.write(render(tree(stacks), a.title, min_width=a.min_width))


if __name__ == "__main__":
    main()
