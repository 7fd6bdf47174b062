#!/usr/bin/env python3
"""Summarise an `ncu --csv --metrics gpu__time_duration.sum` log: per kernel name (shortened),
count and total/mean microseconds, sorted by total; then the sum.
Usage: ncu_step.py log.csv [--from-last NAME]
--from-last NAME: only the launches from the last one whose name contains NAME on (e.g.
embed_rows_kernel, the first kernel of a decoder step: the log's last decoder step)."""
import csv
import re
import sys
from collections import defaultdict

args = sys.argv[1:]
marker = None
if "--from-last" in args:
    i = args.index("--from-last")
    marker = args[i + 1]
    del args[i : i + 2]
text = open(args[0], errors="replace").read().splitlines()
start = next(i for i, l in enumerate(text) if l.startswith('"ID"'))
launches = []  # (full name, microseconds), in launch order
for r in csv.DictReader(text[start:]):
    if r.get("Metric Name") != "gpu__time_duration.sum":
        continue
    v = float(r["Metric Value"].replace(",", ""))
    unit = r["Metric Unit"]
    us = v / 1000 if unit in ("ns", "nsecond") else v * 1000 if unit in ("ms", "msecond") else v
    launches.append((r["Kernel Name"], us))
if marker is not None:
    last = max((i for i, (n, _) in enumerate(launches) if marker in n), default=None)
    if last is None:
        sys.exit(f"no launch named like {marker}")
    launches = launches[last:]


def short(name):
    name = name.replace("(anonymous namespace)", "").replace("<unnamed>", "")
    name = re.sub(r"\(.*", "", name)
    return re.sub(r"<.*", "", name).split("::")[-1][:60]


rows = defaultdict(lambda: [0, 0.0])
for name, us in launches:
    rows[short(name)][0] += 1
    rows[short(name)][1] += us
total = sum(us for _, us in launches)
for name, (n, us) in sorted(rows.items(), key=lambda kv: -kv[1][1]):
    print(f"{name:60s} {n:5d} {us:10.1f} us {us / n:8.2f} us/call")
print(f"{'total':60s} {len(launches):5d} {total:10.1f} us")
