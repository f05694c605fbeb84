"""The active-learning engine: one loop for every paper.

Per round ``r`` (round 0 is the seed set)::

    annotate the pending batch -> fit a FRESH learner on all labels -> evaluate -> record
    -> score the pool with this round's learner -> query the next batch -> checkpoint

The query for round ``r + 1`` is made with round ``r``'s learner and stored in the round-``r``
checkpoint together with the random generator's state. A killed run therefore resumes at its
last completed round without the (never saved) model and ends with records identical to an
uninterrupted run, provided ``make_learner(seed)`` is deterministic.

Hooks keep papers inside this loop instead of forking it:

- ``query_inputs(learner, needs, pool_idx, labeled_idx, round_)`` builds the strategy's
  :class:`~alkit.strategies.QueryInputs` (default: the learner's probabilities over pool and
  labelled rows, plus the static embeddings). STAR plugs its LM uncertainty in here.
- ``evaluate(learner, round_)`` returns the metrics dict recorded for the round.
- ``artifacts``: a hook's extra per-round arrays (``RoundContext.save_array``) are stored
  beside the checkpoint, e.g. the pool uncertainty scores STAR's Fig. 3 needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alkit.io import load_npy, read_json, save_npy, write_json
from alkit.types import Indices, as_indices

RECORD_COLUMNS = ("round", "n_labeled", "queried_idx")


def take(X: Any, idx: Indices) -> Any:
    """Rows ``idx`` of ``X`` (ndarray, DataFrame or sequence), in order."""
    idx = as_indices(idx)
    if isinstance(X, pd.DataFrame):
        return X.iloc[idx]
    if isinstance(X, np.ndarray):
        return X[idx]
    return [X[i] for i in idx]


@dataclass
class RoundStore:
    """Per-round checkpoints of one run in ``directory`` (atomic, one file per round)."""

    directory: Path

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        (self.directory / "rounds").mkdir(parents=True, exist_ok=True)

    def _path(self, round_: int) -> Path:
        return self.directory / "rounds" / f"round_{round_:04d}.json"

    def save(self, round_: int, record: dict, state: dict) -> None:
        write_json(self._path(round_), {"record": record, "state": state})

    def completed(self) -> list[dict]:
        """Checkpoints of the completed rounds, in order (stops at the first gap)."""
        out = []
        r = 0
        while self._path(r).exists():
            out.append(read_json(self._path(r)))
            r += 1
        return out

    def save_array(self, round_: int, name: str, array: np.ndarray) -> None:
        save_npy(self.directory / "rounds" / f"{name}_{round_:04d}.npy", array)

    def load_array(self, round_: int, name: str) -> np.ndarray:
        return load_npy(self.directory / "rounds" / f"{name}_{round_:04d}.npy")

    def has_array(self, round_: int, name: str) -> bool:
        return (self.directory / "rounds" / f"{name}_{round_:04d}.npy").exists()


@dataclass
class RoundContext:
    """What a hook may use: the round, the store for per-round arrays, a scratch dict."""

    round_: int
    store: RoundStore | None
    scratch: dict = field(default_factory=dict)

    def save_array(self, name: str, array: np.ndarray) -> None:
        if self.store is not None:
            self.store.save_array(self.round_, name, array)


def default_query_inputs(X: Any, embeddings: np.ndarray | None) -> Callable:
    """The classification default: learner probabilities on pool + labelled rows, embeddings.

    Probabilities are scattered into an (n_rows, n_classes) array aligned to global ids, so
    strategies index them with global ids (rows outside pool and labelled set are NaN).
    """
    from alkit.strategies import QueryInputs

    n_rows = len(X)

    def build(learner, needs, pool_idx, labeled_idx, ctx: RoundContext) -> QueryInputs:
        probs = None
        if "probs" in needs:
            rows = np.concatenate([pool_idx, labeled_idx])
            p = learner.predict_proba(take(X, rows))
            probs = np.full((n_rows,) + p.shape[1:], np.nan)
            probs[rows] = p
        if "embeddings" in needs and embeddings is None:
            raise ValueError("strategy needs embeddings but the run was given none")
        if "scores" in needs:
            raise ValueError("strategy needs precomputed scores: pass a query_inputs hook that makes them")
        return QueryInputs(probs=probs, embeddings=embeddings if "embeddings" in needs else None)

    return build


def classification_evaluator(X_test: Any, y_test: np.ndarray, n_classes: int) -> Callable:
    """Accuracy and macro-F1 of ``learner.predict`` on a fixed test set."""
    from alkit.metrics import accuracy, macro_f1

    labels = list(range(n_classes))

    def evaluate(learner, ctx: RoundContext) -> dict[str, float]:
        y_pred = learner.predict(X_test)
        return {"accuracy": accuracy(y_test, y_pred), "macro_f1": macro_f1(y_test, y_pred, labels=labels)}

    return evaluate


def run_al(
    *,
    X: Any,
    oracle,
    strategy,
    make_learner: Callable[[int], Any],
    pool_idx: Indices,
    init_idx: Indices,
    n_rounds: int,
    batch_size: int,
    evaluate: Callable[[Any, RoundContext], dict[str, float]],
    seed: int,
    query_inputs: Callable | None = None,
    embeddings: np.ndarray | None = None,
    store: RoundStore | None = None,
    on_round: Callable[[dict], None] | None = None,
) -> pd.DataFrame:
    """Run (or resume) one active-learning run and return its per-round records.

    Parameters
    ----------
    X : ndarray (n_rows, ...), DataFrame or sequence
        Learner inputs for every row of the training table; indexed by global ids.
    oracle : object with ``annotate(idx, round_) -> labels``
        e.g. :class:`alkit.oracles.GoldOracle`.
    strategy : QueryStrategy
        Picks ``batch_size`` members of the unlabelled pool each round.
    make_learner : callable(seed) -> learner
        Builds a FRESH learner each round (the papers retrain from scratch). Called with
        ``seed * 1000 + round`` so rounds differ but reruns are identical.
    pool_idx : (n_pool,) int
        Global ids the strategy may query (the seed set is drawn from it too).
    init_idx : (n_init,) int
        The seed set, labelled at round 0.
    n_rounds : int
        Query rounds after the seed set; the run records ``n_rounds + 1`` rows.
    batch_size : int
        Labels bought per query round (the last rounds may get fewer if the pool runs out).
    evaluate : callable(learner, ctx) -> dict
        Metrics recorded for the round.
    seed : int
        Seeds the query generator (``np.random.default_rng(seed)``) and the learners.
    query_inputs : callable, optional
        Builds ``QueryInputs`` for the strategy; default :func:`default_query_inputs`.
    store : RoundStore, optional
        Where checkpoints go; with a store the run resumes after its last completed round.

    Returns
    -------
    DataFrame with one row per round: ``round``, ``n_labeled``, the metrics, ``queried_idx``
    (the global ids labelled in that round), ``n_pool`` (unlabelled rows left).
    """
    pool_idx = as_indices(pool_idx)
    init_idx = as_indices(init_idx)
    if n_rounds < 0:
        raise ValueError(f"n_rounds must be >= 0, got {n_rounds}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(np.unique(init_idx)) != len(init_idx):
        raise ValueError("init_idx has duplicates")
    if not np.isin(init_idx, pool_idx).all():
        raise ValueError("init_idx must be a subset of pool_idx")
    if query_inputs is None:
        query_inputs = default_query_inputs(X, embeddings)

    rng = np.random.default_rng(seed)
    records: list[dict] = []
    labeled_idx = np.empty(0, dtype=np.int64)
    labels: list[Any] = []
    pending = init_idx
    start = 0
    if store is not None:
        done = store.completed()
        for ckpt in done:
            records.append(ckpt["record"])
        if done:
            state = done[-1]["state"]
            labeled_idx = as_indices(state["labeled_idx"])
            pending = as_indices(state["pending_idx"])
            rng.bit_generator.state = state["rng_state"]
            labels = list(state["labels"])  # as annotated then: never re-bought
            start = len(done)

    for round_ in range(start, n_rounds + 1):
        t0 = time.perf_counter()
        ctx = RoundContext(round_=round_, store=store)
        new_labels = oracle.annotate(pending, round_=round_)
        labeled_idx = np.concatenate([labeled_idx, pending])
        labels.extend(list(new_labels))
        learner = make_learner(seed * 1000 + round_)
        learner.fit(take(X, labeled_idx), np.asarray(labels))
        metrics = evaluate(learner, ctx)

        unlabeled = np.setdiff1d(pool_idx, labeled_idx, assume_unique=False)
        next_batch = np.empty(0, dtype=np.int64)
        if round_ < n_rounds and len(unlabeled):
            inputs = query_inputs(learner, strategy.needs, unlabeled, labeled_idx, ctx)
            n = min(batch_size, len(unlabeled))
            next_batch = as_indices(strategy.query(inputs, unlabeled, labeled_idx, n, rng))
        record = {
            "round": round_,
            "n_labeled": int(len(labeled_idx)),
            **{k: float(v) for k, v in metrics.items()},
            "queried_idx": [int(i) for i in pending],
            "n_pool": int(len(unlabeled)),
        }
        records.append(record)
        seconds = time.perf_counter() - t0
        if store is not None:
            state = {
                "labeled_idx": labeled_idx.tolist(),
                "labels": [_jsonable(v) for v in labels],
                "pending_idx": next_batch.tolist(),
                "rng_state": rng.bit_generator.state,
                "seconds": seconds,
            }
            store.save(round_, record, state)
        if on_round is not None:
            on_round({**record, "seconds": seconds})
        pending = next_batch
        if round_ < n_rounds and len(pending) == 0:
            break  # pool exhausted
    return records_frame(records)


def records_frame(records: list[dict]) -> pd.DataFrame:
    """Round records as a frame with a fixed column order (checkpoints store keys sorted)."""
    df = pd.DataFrame.from_records(records)
    first, last = ["round", "n_labeled"], ["queried_idx", "n_pool"]
    middle = sorted(c for c in df.columns if c not in first + last)
    return df[[c for c in first + middle + last if c in df.columns]]


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
