"""STAR's dynamic uncertainty (Sec. 5.2, Eq. 5): pure numpy, plus the base-model score cache.

    mu = lambda(t) * minmax(mu_base) + (1 - lambda(t)) * minmax(mu_full)

``mu_base`` is the uncertainty of the untuned base model (computed once per dataset and
cached on disk), ``mu_full`` that of the current LoRA model; both are min-max normalised over
the pool being ranked, so neither dominates by scale. ``lambda(t) in [0, 1]`` decreases with
the AL iteration ``t``: early on the barely trained adapter is unreliable and the base model's
uncertainty leads; later the fine-tuned model's does.

``t`` counts query rounds from 0: ``t = 0`` is the first query after the warm-start model
(the authors' ``iter_num``), so the authors' schedule starts at lambda = 0.9.

Schedules (``LAMBDA_SCHEDULES``; each maps ``t`` to lambda and is validated to lie in [0, 1]):

- ``"linear"`` (default, the authors' code): ``1 - step * (t + 1)``, ``step = 0.1``, clipped
  at 0, so ``t >= 9`` uses the fine-tuned model only (the authors run t = 0..8, where no
  clipping occurs).
- ``"constant"``: ``value`` for every round (``value = 0`` is plain full-model uncertainty,
  ``1`` the base model's only); a control for the ablation.
- ``"cosine"``: ``0.5 * (1 + cos(pi * min(t + 1, horizon) / horizon))``, ``horizon = 10``:
  same end points as ``"linear"`` (1 before round 0, 0 at ``t + 1 = horizon``) but keeps the
  base model's weight higher in the first rounds and drops faster in the middle.
- ``"exp"``: ``exp(-(t + 1) / tau)``, ``tau = 4``: never reaches 0; halves every ~2.8 rounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from alkit.io import load_npy, save_npy, stable_hash, text_hash, write_json
from alkit.paths import cache_dir
from alkit.types import Scores


def minmax(scores: np.ndarray) -> Scores:
    """Rescale to [0, 1]: ``(s - min) / (max - min)``; a constant array maps to zeros.

    Parameters
    ----------
    scores : array of shape (n,)
        Finite values (NaN/inf raise: they would silently poison the ranking).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-d, got shape {scores.shape}")
    if scores.size == 0:
        return scores.copy()
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
    lo, hi = scores.min(), scores.max()
    if hi == lo:
        return np.zeros_like(scores)
    return (scores - lo) / (hi - lo)


def linear_schedule(t: int, step: float = 0.1) -> float:
    return max(0.0, 1.0 - step * (t + 1))


def constant_schedule(t: int, value: float = 0.5) -> float:
    return float(value)


def cosine_schedule(t: int, horizon: int = 10) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(t + 1, horizon) / horizon))


def exp_schedule(t: int, tau: float = 4.0) -> float:
    return math.exp(-(t + 1) / tau)


LAMBDA_SCHEDULES: dict[str, Callable[..., float]] = {
    "linear": linear_schedule,
    "constant": constant_schedule,
    "cosine": cosine_schedule,
    "exp": exp_schedule,
}


def get_schedule(name: str, **params: float) -> Callable[[int], float]:
    """``lambda(t)`` for a registered schedule with its parameters bound, validated on use."""
    if name not in LAMBDA_SCHEDULES:
        raise ValueError(f"unknown lambda schedule {name!r}; choose from {sorted(LAMBDA_SCHEDULES)}")
    fn = LAMBDA_SCHEDULES[name]
    _check_params(name, fn, params)

    def schedule(t: int) -> float:
        if t < 0:
            raise ValueError(f"AL iteration t must be >= 0, got {t}")
        lam = fn(t, **params)
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"lambda schedule {name!r} gave {lam} at t={t}; it must lie in [0, 1]")
        return lam

    schedule.__name__ = f"{name}_schedule"
    return schedule


def _check_params(name: str, fn: Callable, params: dict[str, float]) -> None:
    import inspect

    valid = [p for p in inspect.signature(fn).parameters if p != "t"]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"schedule {name!r} has no parameter(s) {unknown}; valid: {valid}")
    for key, value in params.items():
        if key in ("horizon", "tau", "step") and not value > 0:
            raise ValueError(f"schedule {name!r}: {key} must be > 0, got {value}")
        if key == "value" and not 0.0 <= value <= 1.0:
            raise ValueError(f"schedule {name!r}: value must lie in [0, 1], got {value}")


def dynamic_uncertainty(
    base_scores: np.ndarray,
    full_scores: np.ndarray,
    t: int,
    schedule: str | Callable[[int], float] = "linear",
) -> Scores:
    """Eq. 5 over one pool: ``lambda(t) * minmax(base) + (1 - lambda(t)) * minmax(full)``.

    Parameters
    ----------
    base_scores, full_scores : arrays of shape (n_pool,)
        Base-model and current-model uncertainty of the same pool rows, in the same order.
    t : int
        Query round (0 = first query after the warm start).
    schedule : name in ``LAMBDA_SCHEDULES`` (default parameters) or a callable from
        :func:`get_schedule`.

    Returns
    -------
    Scores of shape (n_pool,), in [0, 1]; higher = query first.
    """
    base_scores, full_scores = np.asarray(base_scores), np.asarray(full_scores)
    if base_scores.shape != full_scores.shape:
        raise ValueError(
            f"base scores {base_scores.shape} and full scores {full_scores.shape} differ in shape"
        )
    lam = (get_schedule(schedule) if isinstance(schedule, str) else schedule)(t)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda({t}) = {lam}; it must lie in [0, 1]")
    return lam * minmax(base_scores) + (1.0 - lam) * minmax(full_scores)


def base_uncertainty_key(
    model_id: str, content: str | Sequence[str], kind: str, *, n: int | None = None, **settings: Any
) -> dict[str, Any]:
    """Key parts for :func:`cached_base_uncertainty`.

    Parameters
    ----------
    model_id : str
        Hub id of the base model.
    content : str or sequence of str
        The scored rows' content: a precomputed hash (e.g. ``TextDataset.content_hash``, which
        covers the gold answers, as a PE key must) or the texts themselves (hashed here).
    kind : str
        ``"me"`` or ``"pe"``.
    n : int, optional
        Number of rows (checked against what ``compute`` returns); inferred from the texts,
        required with a precomputed hash.
    **settings
        Everything else that changes the scores: dtype, prompt style, ``me_on``, ``reduce``,
        ``mc_passes``, ``max_new_tokens``, ...
    """
    if isinstance(content, str):
        if n is None:
            raise ValueError(
                "base_uncertainty_key: pass n= (the number of rows) with a precomputed content hash"
            )
        digest = content
    else:
        content = list(content)
        digest, n = text_hash(content), len(content) if n is None else n
    return {"model_id": model_id, "content": digest, "n": int(n), "kind": kind, **settings}


def cached_base_uncertainty(key_parts: dict[str, Any], compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Base-model scores from ``cache_dir("lm_scores")/<stable_hash(key_parts)>.npy``, else
    ``compute()`` once and store them atomically (with the key parts beside, as JSON)."""
    directory = cache_dir("lm_scores")
    key = stable_hash(key_parts)
    path = directory / f"{key}.npy"
    if path.exists():
        return load_npy(path)
    scores = np.asarray(compute(), dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"compute() must return a 1-d score array, got shape {scores.shape}")
    expected = key_parts.get("n")
    if expected is not None and len(scores) != expected:
        raise ValueError(f"compute() returned {len(scores)} scores for a key declaring n={expected}")
    write_json(directory / f"{key}.json", key_parts)
    save_npy(path, scores)
    return scores
