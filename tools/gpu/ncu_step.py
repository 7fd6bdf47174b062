#!/usr/bin/env python3
"""Summarise an `ncu --csv --metrics gpu__time_duration.sum` log: per kernel name (shortened),
count and total/mean microseconds, sorted by total; then the sum. Usage: ncu_step.py log.csv"""
import csv
import re
import sys
from collections import defaultdict

rows = defaultdict(lambda: [0, 0.0])
text = open(sys.argv[1], errors="replace").read().splitlines()
start = next(i for i, l in enumerate(text) if l.startswith('"ID"'))
total = 0.0
for r in csv.DictReader(text[start:]):
    if r.get("Metric Name") != "gpu__time_duration.sum":
        continue
    name = r["Kernel Name"]
    name = name.replace("(anonymous namespace)", "").replace("<unnamed>", "")
    name = re.sub(r"\(.*", "", name)
    name = re.sub(r"<.*", "", name).split("::")[-1][:60]
    grid = r.get("Grid Size", "")
    v = float(r["Metric Value"].replace(",", ""))
    unit = r["Metric Unit"]
    us = v / 1000 if unit in ("ns", "nsecond") else v * 1000 if unit in ("ms", "msecond") else v
    rows[name][0] += 1
    rows[name][1] += us
    total += us
for name, (n, us) in sorted(rows.items(), key=lambda kv: -kv[1][1]):
    print(f"{name:60s} {n:5d} {us:10.1f} us {us / n:8.2f} us/call")
print(f"{'total':60s} {sum(n for n, _ in rows.values()):5d} {total:10.1f} us")
