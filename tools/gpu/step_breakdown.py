#!/usr/bin/env python3
"""step_breakdown.sh's table: two `nsys stats --report cuda_gpu_kern_sum --format csv` files, or
two `ncu --csv --metrics gpu__time_duration.sum` logs, of runs with t1 and t2 tokens (warm-up +
one run each). Prints, per kernel (shortened name), the
time and launches of one decoder step, then the per-run time outside the steps."""
import csv
import re
import sys
from collections import defaultdict


def short(name):
    name = name.replace("(anonymous namespace)::", "").replace("<unnamed>", "")
    name = re.sub(r"\(.*", "", name)
    return re.sub(r"<.*", "", name).split("::")[-1].replace("void ", "")[:58]


def load(path):
    out = defaultdict(lambda: [0.0, 0])
    lines = open(path, errors="replace").read().splitlines()
    ncu = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if ncu is not None:  # one row per kernel launch
        for r in csv.DictReader(lines[ncu:]):
            if r.get("Metric Name") != "gpu__time_duration.sum":
                continue
            v = float(r["Metric Value"].replace(",", ""))
            unit = r["Metric Unit"]
            us = v / 1000 if unit in ("ns", "nsecond") else v * 1000 if unit in ("ms", "msecond") else v
            out[short(r["Kernel Name"])][0] += us
            out[short(r["Kernel Name"])][1] += 1
        return out
    for r in csv.DictReader(lines):
        out[short(r["Name"])][0] += float(r["Total Time (ns)"]) / 1000.0
        out[short(r["Name"])][1] += int(r["Instances"])
    return out


a, b = load(sys.argv[1]), load(sys.argv[2])
t1, t2 = int(sys.argv[3]), int(sys.argv[4])
steps = 2 * (t2 - t1)
rows = []
for name in set(a) | set(b):
    us = (b[name][0] - a[name][0]) / steps
    calls = (b[name][1] - a[name][1]) / steps
    rest = (a[name][0] - us * 2 * t1) / 2
    rows.append((name, us, calls, rest))
step = sum(r[1] for r in rows)
print(f"one decoder step: {step:8.1f} us of kernels, {sum(r[2] for r in rows):5.1f} launches")
for name, us, calls, _ in sorted(rows, key=lambda r: -r[1]):
    if us > 0.005 * step:
        print(f"  {name:58s} {us:8.1f} us {calls:6.1f} x")
rest = sum(r[3] for r in rows)
print(f"per run outside the steps: {rest / 1000:8.2f} ms of kernels")
for name, _, _, r in sorted(rows, key=lambda r: -r[3]):
    if r > 0.01 * rest:
        print(f"  {name:58s} {r / 1000:8.2f} ms")
