#!/usr/bin/env python3
"""Split one blind author's delivery once, at random, into dev/ and test/ (eval/blind/README.md).

Utterances: stratified by region and level (customer rows) or region (agent rows), half each way.
Exchanges (`exchanges.tsv`): stratified by region and the nudge due, half each way.
Calls: per region, the calm calls alternate sides and the others are halved. The seed is the
author prefix, so the split is reproducible. Never re-run it to move an item after seeing it fail.

    python3 eval/blind/split.py /path/to/delivery bD
"""
import csv, os, random, shutil, sys
from collections import defaultdict

src, prefix = sys.argv[1], sys.argv[2]
rng = random.Random("calma-blind-" + prefix)
here = os.path.dirname(os.path.abspath(__file__))
out = {p: os.path.join(here, p, prefix) for p in ("dev", "test")}
for d in out.values():
    if os.path.exists(d):
        sys.exit(f"{d} exists: a delivery is split once")
    os.makedirs(os.path.join(d, "calls"))


def halve(name, key):
    """Split one TSV of the delivery in halves, stratified by `key` of its columns."""
    path = os.path.join(src, name)
    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        header = f.readline()
        rows = [line for line in f if line.strip()]
    cols = header.rstrip("\n").split("\t")
    groups = defaultdict(list)
    for line in rows:
        groups[key(dict(zip(cols, line.rstrip("\n").split("\t"))))].append(line)
    parts = {"dev": [], "test": []}
    for k in sorted(groups):
        g = groups[k][:]
        rng.shuffle(g)
        first, second = ("dev", "test") if rng.random() < 0.5 else ("test", "dev")
        half = (len(g) + 1) // 2
        parts[first] += g[:half]
        parts[second] += g[half:]
    order = {line: i for i, line in enumerate(rows)}
    for p, lines in parts.items():
        with open(os.path.join(out[p], name), "w") as f:
            f.write(header)
            f.writelines(sorted(lines, key=order.get))


halve("utterances.tsv", lambda r: (r["speaker"], r["variant"], r["level"] if r["speaker"] == "customer" else "-"))
halve("exchanges.tsv", lambda r: (r["region"], r["due"]))

import json
calls = defaultdict(lambda: {"calm": [], "other": []})
cdir = os.path.join(src, "calls")
for name in sorted(os.listdir(cdir)) if os.path.isdir(cdir) else []:
    if name.endswith(".expect.json"):
        base = name[: -len(".expect.json")]
        e = json.load(open(os.path.join(cdir, name)))
        kind = "calm" if not e.get("expected_nudges") and e.get("peak_level") == "calm" else "other"
        calls[e.get("region", "")][kind].append(base)
# One toggle per kind across regions, so odd counts balance out over the delivery.
side = {"calm": rng.choice(["dev", "test"]), "other": rng.choice(["dev", "test"])}
for region in sorted(calls):
    for kind in ("calm", "other"):
        g = calls[region][kind][:]
        rng.shuffle(g)
        for base in g:
            here_side = side[kind]
            side[kind] = "test" if here_side == "dev" else "dev"
            for ext in (".jsonl", ".expect.json"):
                shutil.copy(os.path.join(cdir, base + ext), os.path.join(out[here_side], "calls", base + ext))
for p in out:
    counts = []
    for name in ("utterances.tsv", "exchanges.tsv"):
        if os.path.exists(os.path.join(out[p], name)):
            counts.append(f"{sum(1 for _ in open(os.path.join(out[p], name))) - 1} {name} rows")
    c = len(os.listdir(os.path.join(out[p], "calls"))) // 2
    print(f"{p}: {', '.join(counts)}, {c} calls")
