"""The AL engine and run records: invariants with a stub learner, and resume after a real kill."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alkit.loop import RoundStore, run_al
from alkit.oracles import GoldOracle
from alkit.strategies import get_strategy
from alkit.sweep import execute_run, run_dir, run_grid


class CountingLearner:
    """Stub: predicts the majority label seen in fit; probabilities from a fixed row hash."""

    instances = 0

    def __init__(self, seed: int) -> None:
        CountingLearner.instances += 1
        self.seed = seed
        self.fitted_on = None

    def fit(self, X, y):
        self.fitted_on = np.asarray(X).copy()
        self.majority = int(np.bincount(np.asarray(y)).argmax())
        return self

    def predict(self, X):
        return np.full(len(X), self.majority)

    def predict_proba(self, X):
        z = np.sin(np.asarray(X)[:, :1] * 12.9898) * 0.5 + 0.5
        return np.hstack([z, 1 - z])


def _evaluate(learner, ctx):
    return {"accuracy": float(learner.majority)}


def _run(store=None, n_rounds=3, batch_size=5, seed=0, on_round=None, strategy="margin"):
    X = np.arange(40, dtype=np.float64).reshape(-1, 1)
    y = (np.arange(40) % 2).astype(np.int64)
    return run_al(
        X=X, oracle=GoldOracle(y), strategy=get_strategy(strategy), make_learner=CountingLearner,
        pool_idx=np.arange(40), init_idx=np.array([0, 1, 2]), n_rounds=n_rounds, batch_size=batch_size,
        evaluate=_evaluate, seed=seed, store=store, on_round=on_round,
    )  # fmt: skip


def test_round_invariants():
    CountingLearner.instances = 0
    df = _run()
    assert list(df["round"]) == [0, 1, 2, 3]
    assert list(df["n_labeled"]) == [3, 8, 13, 18]
    assert CountingLearner.instances == 4  # a fresh learner every round
    queried = np.concatenate([np.asarray(q) for q in df["queried_idx"]])
    assert len(np.unique(queried)) == len(queried) == 18  # nothing labelled twice
    assert list(df["queried_idx"][0]) == [0, 1, 2]
    assert list(df["n_pool"]) == [37, 32, 27, 22]


def test_pool_exhaustion_stops_early():
    df = _run(n_rounds=20, batch_size=10)
    assert df["n_labeled"].iloc[-1] == 40
    assert df["n_pool"].iloc[-1] == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="subset of pool_idx"):
        run_al(X=np.zeros((5, 1)), oracle=GoldOracle(np.zeros(5, int)), strategy=get_strategy("random"),
               make_learner=CountingLearner, pool_idx=np.arange(3), init_idx=np.array([4]), n_rounds=1,
               batch_size=1, evaluate=_evaluate, seed=0)  # fmt: skip
    with pytest.raises(ValueError, match="batch_size"):
        _run(batch_size=0)


def test_resume_in_process_matches_uninterrupted(tmp_path):
    full = _run(store=RoundStore(tmp_path / "a"), strategy="margin")

    class Stop(Exception):
        pass

    def stop_after_two(record):
        if record["round"] == 1:
            raise Stop

    with pytest.raises(Stop):
        _run(store=RoundStore(tmp_path / "b"), on_round=stop_after_two)
    assert len(RoundStore(tmp_path / "b").completed()) == 2
    resumed = _run(store=RoundStore(tmp_path / "b"))
    pd.testing.assert_frame_equal(full, resumed)


def test_run_records_are_cached(tmp_path):
    calls = []

    def run_fn(config, store):
        calls.append(config)
        return _run(store=store, seed=config["seed"])

    a = execute_run("unit", {"seed": 1}, run_fn)
    b = execute_run("unit", {"seed": 1}, run_fn)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(a, b)
    directory = run_dir("unit", {"seed": 1})
    assert {"config.json", "records.parquet", "provenance.json"} <= {p.name for p in directory.iterdir()}
    grid = run_grid("unit", [{"seed": 1}, {"seed": 2}], run_fn, progress=False)
    assert len(calls) == 2 and set(grid["seed"]) == {1, 2}


def test_sweep_killed_mid_run_resumes_identically(tmp_path):
    worker = Path(__file__).with_name("_resume_worker.py")
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run([sys.executable, str(worker), str(clean)], check=True, timeout=300)
    # 5 rounds per run: the kill lands in the middle of the third run (after its second round).
    proc = subprocess.run([sys.executable, str(worker), str(killed), "12"], timeout=300)
    assert proc.returncode != 0  # it really died
    partial = list((killed / "resume_test").glob("*/rounds/round_*.json"))
    assert 0 < len(partial) < 30
    subprocess.run([sys.executable, str(worker), str(killed)], check=True, timeout=300)
    a = pd.read_parquet(clean / "all.parquet").sort_values(["strategy", "seed", "round"]).reset_index(drop=True)
    b = pd.read_parquet(killed / "all.parquet").sort_values(["strategy", "seed", "round"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
