"""Throughput of every offline embedder on real SST-2 sentences (a script, not a test).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_embeddings.py [--n 512] [--out]

Prints a markdown table; ``--out`` also writes it to benchmarks/results/embeddings.md. Load time
is the first call on a tiny input (model load, after materialisation); sentences/s is the best of
``--repeats`` uncached runs over the same n sentences.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from alkit.embeddings import embed  # noqa: E402
from alkit.io import write_text  # noqa: E402
from alkit.models import MODELS, resolve  # noqa: E402
from alkit.paths import ROOT, data_roots  # noqa: E402

OFFLINE_EMBEDDERS = ["sentence-transformers/all-mpnet-base-v2", "sentence-transformers/all-MiniLM-L6-v2",
                     "sentence-transformers/paraphrase-MiniLM-L3-v2", "glove-6b-50d", "tfidf-lsa"]


def sst2_sentences(n: int, seed: int) -> list[str]:
    """n sentences drawn without replacement (fixed seed) from SST-2 train, read with pandas."""
    for root in data_roots():
        path = root / "sst2" / "train.tsv"
        if path.is_file():
            table = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE)
            rows = np.random.default_rng(seed).choice(len(table), size=n, replace=False)
            return table["sentence"].iloc[rows].astype(str).tolist()
    raise FileNotFoundError(f"sst2/train.tsv not found under {[str(r) for r in data_roots()]}")


def bench(model_id: str, texts: list[str], batch_size: int, repeats: int) -> dict[str, object]:
    resolve(model_id) if MODELS[model_id].kind != "classical" else None  # materialise outside the timing
    start = time.perf_counter()
    embed(model_id, texts[:2], batch_size=batch_size, cache=False, progress=False)
    load_s = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = embed(model_id, texts, batch_size=batch_size, cache=False, progress=False)
        best = min(best, time.perf_counter() - start)
    return {"model": model_id, "kind": MODELS[model_id].kind, "dim": out.shape[1], "load_s": load_s,
            "seconds": best, "sentences_per_s": len(texts) / best}


def markdown(rows: list[dict[str, object]], n: int, batch_size: int) -> str:
    import torch

    lines = [
        f"# Embedding throughput: {n} SST-2 train sentences (seed 0), batch {batch_size}, uncached",
        "",
        f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
        f"torch threads {torch.get_num_threads()}; load = first call incl. model load; "
        "tfidf-lsa time includes fitting on the same sentences.",
        "",
        "| model | kind | dim | load (s) | time (s) | sentences/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['model']} | {r['kind']} | {r['dim']} | {r['load_s']:.2f} | {r['seconds']:.2f} | "
              f"{r['sentences_per_s']:,.0f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=512, help="number of SST-2 sentences")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="uncached runs per model; the best is kept")
    parser.add_argument("--models", nargs="+", default=OFFLINE_EMBEDDERS, choices=sorted(MODELS))
    parser.add_argument("--out", action="store_true", help="write benchmarks/results/embeddings.md")
    args = parser.parse_args()
    texts = sst2_sentences(args.n, seed=0)
    rows = [bench(m, texts, args.batch_size, args.repeats) for m in args.models]
    table = markdown(rows, args.n, args.batch_size)
    print(table)
    if args.out:
        print(f"wrote {write_text(ROOT / 'benchmarks' / 'results' / 'embeddings.md', table)}")


if __name__ == "__main__":
    main()
