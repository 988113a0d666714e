#!/usr/bin/env python3
"""Pooled leave-one-author-out over the blind dev utterance files (README, "Measured accuracy"):
for each author file eval/blind/dev/[bc]*/utterances.tsv, fit the reading as shipped on every other
dev file (round 1's mixed-author file as words only, the dev calls' calm turns as calm rows) and
read the held-out file. Prints per-author and pooled exact/binary agreement. Needs
`cargo build --release --example train_reading`. Usage:
    python3 eval/blind/loao_utterances.py [extra train_reading args...]"""
import concurrent.futures, glob, os, re, subprocess, sys
root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
tool = f"{root}/target/release/examples/train_reading"
files = sorted(glob.glob(f"{root}/eval/blind/dev/[bc]*/utterances.tsv"))
base = ["--l2", "0.0002", "--min-p", "0.7", "--far-p", "0.6", "--calm-calls", f"{root}/eval/blind/dev",
        "--words-only", f"{root}/eval/blind/dev/utterances.tsv"]
pat = re.compile(r"model on .* \(never fitted on\): (\d+) rows, exact ([\d.]+) %, binary ([\d.]+) %")

def held_out(f):
    others = [g for g in files if g != f]
    r = subprocess.run([tool, *base, *others, "--check", f, *sys.argv[1:]], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=True)
    n, e, b = pat.search(r.stderr).groups()
    n = int(n)
    return f, n, round(float(e) * n / 100), round(float(b) * n / 100)

with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
    results = list(pool.map(held_out, files))
tot = [0, 0, 0]
for f, n, e, b in results:
    print(f"{os.path.basename(os.path.dirname(f))}: {n} rows, exact {e}, binary {b}")
    tot = [tot[0] + n, tot[1] + e, tot[2] + b]
n, e, b = tot
print(f"pooled LOAO: {len(results)} files, {n} rows, exact {100 * e / n:.1f} %, binary {100 * b / n:.1f} %")
