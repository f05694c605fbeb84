"""Subprocess body for the resume test: a small real sweep that SIGKILLs itself mid-run.

Usage: python tests/_resume_worker.py <results_dir> <kill_after_rounds|-1>
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

from alkit.learners import EmbeddingClassifier
from alkit.loop import classification_evaluator, run_al
from alkit.oracles import GoldOracle
from alkit.strategies import get_strategy
from alkit.sweep import run_grid

KILL_AFTER = int(sys.argv[2]) if len(sys.argv) > 2 else -1
_rounds_done = 0


def synthetic(seed: int = 0):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=400, n_features=16, n_informative=8, n_classes=3, random_state=seed)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    return X[:300], y[:300], X[300:], y[300:]


def run_fn(config: dict, store) -> object:
    X, y, X_test, y_test = synthetic()

    def on_round(record: dict) -> None:
        global _rounds_done
        _rounds_done += 1
        if _rounds_done == KILL_AFTER:
            os.kill(os.getpid(), signal.SIGKILL)  # a real kill: no cleanup, no flush

    rng = np.random.default_rng(config["seed"])
    init_idx = rng.choice(300, size=10, replace=False)
    return run_al(
        X=X, oracle=GoldOracle(y), strategy=get_strategy(config["strategy"]),
        make_learner=lambda s: EmbeddingClassifier(3, seed=s), pool_idx=np.arange(300), init_idx=init_idx,
        n_rounds=4, batch_size=7, evaluate=classification_evaluator(X_test, y_test, 3), seed=config["seed"],
        embeddings=X, store=store, on_round=on_round,
    )


if __name__ == "__main__":
    os.environ["ALKIT_RESULTS"] = sys.argv[1]
    configs = [{"strategy": s, "seed": seed} for s in ("margin", "badge", "coreset") for seed in (0, 1)]
    df = run_grid("resume_test", configs, run_fn, progress=False)
    df.drop(columns=["run"]).to_parquet(os.path.join(sys.argv[1], "all.parquet"))
