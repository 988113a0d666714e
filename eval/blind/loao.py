#!/usr/bin/env python3
"""Leave-one-author-out over the blind dev calls (eval/blind/README.md, Round 4): the reading is fitted without the held-out
author's calm calls (their customer turns are calm training rows otherwise), then the author's
calls are scored. Needs `cargo build --release --bin calma --example train_reading`. Usage:
    python3 eval/blind/loao.py [extra train_reading args...]   (V=1 lists every miss; LEX=DIR adds
    lexicon overrides; work files go to $TMPDIR/loao)"""
import json, os, shutil, subprocess, sys, glob, collections
root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
extra = sys.argv[1:]
calls = sorted(glob.glob(f"{root}/eval/blind/dev/**/*.expect.json", recursive=True))
by_author = collections.defaultdict(list)
for c in calls:
    a = json.load(open(c)).get("author") or os.path.basename(c)[:2]
    by_author[a].append(c[: -len(".expect.json")])
utt = [f"{root}/eval/blind/dev/utterances.tsv"]
pos = sorted(glob.glob(f"{root}/eval/blind/dev/[bc]*/utterances.tsv"))
tot = collections.Counter(); kinds = collections.defaultdict(collections.Counter)
for a, bases in sorted(by_author.items()):
    w = os.path.join(os.environ.get("TMPDIR", "/tmp"), "loao", a); shutil.rmtree(w, ignore_errors=True)
    os.makedirs(f"{w}/train"); os.makedirs(f"{w}/held"); os.makedirs(f"{w}/lex")
    for b2, bs in by_author.items():
        for b in bs:
            dst = f"{w}/held" if b2 == a else f"{w}/train"
            for ext in (".jsonl", ".expect.json"):
                shutil.copy(b + ext, dst)
    if os.environ.get("LEX"):
        for f in glob.glob(os.environ["LEX"] + "/*.tsv"):
            shutil.copy(f, f"{w}/lex")
    with open(f"{w}/lex/reading_model.tsv", "w") as out:
        subprocess.run([f"{root}/target/release/examples/train_reading", "--l2", "0.0005", "--min-p", "0.7", "--far-p", "0.6", "--calm-calls", f"{w}/train", "--words-only", utt[0], *pos, *extra], stdout=out, stderr=subprocess.DEVNULL, check=True)
    r = subprocess.run([f"{root}/target/release/calma", "eval", f"{w}/held", "--json", "--lexicons", f"{w}/lex"], capture_output=True, text=True)
    d = json.loads(r.stdout)["calls"]
    tot["calls"] += len(d["calls"]); tot["right"] += sum(1 for c in d["calls"] if not c["nudge_errors"])
    tot["calm"] += d["calm_calls"]; tot["on_calm"] += d["nudges_on_calm_calls"]; tot["fired"] += d["nudges_total"]
    tot["levels"] += sum(1 for c in d["calls"] if c["levels_ok"])
    for k, v in d["per_kind"].items():
        for f in ("expected", "fired", "true_pos"):
            kinds[k][f] += v[f]
    if os.environ.get("V"):
        for c in d["calls"]:
            if c["nudge_errors"]:
                print(f"  {a} {c['name']}: {'; '.join(c['nudge_errors'])}")
print(f"LOAO: {tot['right']}/{tot['calls']} calls all right, levels {tot['levels']}, {tot['on_calm']} nudges on {tot['calm']} calm calls, {tot['fired']} nudges")
print(" ".join(f"{k}:{v['true_pos']}/{v['fired']}/{v['expected']}" for k, v in sorted(kinds.items())))
