#!/usr/bin/env python3
"""How well can any predictor that sees only the prompt rank ShareGPT reply lengths?

ShareGPT holds some first prompts more than once, each time with a reply of its own. The spread of log reply
length among replies to one prompt is noise that no prompt-only predictor can explain. Pooled over the repeated
prompts and set against the spread over the evaluation pool, it bounds the share of variance a perfect predictor
explains (R²), hence (for roughly normal log lengths) its Pearson correlation r and Kendall τ = 2/π · asin(r), and
the AUC of a perfect p_short.

Input: `maitre-predictor export` files (first exchanges) of the records used, e.g.
    .build/release/maitre-predictor export --records 0:10000 --out train.jsonl
    .build/release/maitre-predictor export --records 10000:13671 --out pool.jsonl
    scripts/studies/prompt-noise-ceiling.py --pool pool.jsonl train.jsonl pool.jsonl
Replies are told apart by their token count (two replies of equal length count as one shared conversation), which
can only overstate the noise. Needs numpy.
"""
import argparse, json, math
from collections import defaultdict
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("files", nargs="+", help="export files whose prompts are grouped")
parser.add_argument("--pool", required=True, help="export file of the evaluation pool (the total spread)")
parser.add_argument("--short-max-tokens", type=int, default=256)
args = parser.parse_args()

replies = defaultdict(set)
for path in args.files:
    for line in open(path):
        row = json.loads(line)
        replies[row["prompt"].strip()].add(row["output_tokens"])
pool = np.log1p([json.loads(line)["output_tokens"] for line in open(args.pool)])
total = pool.var()

groups = [np.log1p(sorted(lengths)) for lengths in replies.values() if len(lengths) >= 2]
print(f"prompts asked more than once with different replies: {len(groups)} ({sum(map(len, groups))} replies)")
print(f"variance of log reply length over the pool: {total:.3f}")
rng = np.random.default_rng(0)
for label, cap in [("all repeated prompts", None), ("prompts with at most 5 replies", 5)]:
    chosen = [g for g in groups if cap is None or len(g) <= cap]
    within = sum(((g - g.mean()) ** 2).sum() for g in chosen) / sum(len(g) - 1 for g in chosen)
    r2 = max(0.0, 1 - within / total)
    r = math.sqrt(r2)
    tau = 2 / math.pi * math.asin(r)
    # AUC of a perfect p_short: simulate log lengths as signal + noise with the pool's mean and these variances.
    signal = rng.normal(pool.mean(), math.sqrt(total - within if total > within else 0), 200_000)
    observed = signal + rng.normal(0, math.sqrt(min(within, total)), signal.size)
    short = observed <= math.log1p(args.short_max_tokens)
    ranks = np.empty(signal.size)
    ranks[np.argsort(signal)] = np.arange(signal.size)
    positives = short.sum()
    auc = 1 - (ranks[short].sum() - positives * (positives - 1) / 2) / (positives * (~short).sum())
    print(f"{label} ({len(chosen)}): noise variance {within:.3f} → R² ≤ {r2:.2f}, r ≤ {r:.2f}, "
          f"Kendall τ ≤ {tau:.2f}, p_short AUC ≤ {auc:.2f}")
