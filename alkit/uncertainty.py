"""Uncertainty scorers from class probabilities: pure functions, higher = query first.

Every scorer takes ``probs`` of shape (n, C) or, for K stochastic passes (MC dropout, an
ensemble), (n, C, K). The single-distribution scorers (entropy, margin, least confidence) score
the predictive distribution ``mean_probs(probs)``; BALD needs the K draws themselves.

Language-model token-level scorers live in a separate module; this one never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy.special import entr

from alkit.types import Probs, Scores

# Rows of a probability table may miss 1 by float error (softmax in float32, averaging K draws).
_SUM_TOL = 1e-3


def _check_probs(probs: npt.ArrayLike, ndim: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """Return ``probs`` as float64 after checking shape and values (ValueError otherwise)."""
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim not in ndim:
        shapes = {2: "(n, C)", 3: "(n, C, K)"}
        want = " or ".join(shapes[k] for k in ndim)
        raise ValueError(f"probs must have shape {want}; got shape {arr.shape}")
    if arr.shape[1] < 1 or (arr.ndim == 3 and arr.shape[2] < 1):
        raise ValueError(f"probs needs at least one class and one draw; got shape {arr.shape}")
    if arr.size and (not np.isfinite(arr).all() or arr.min() < 0.0):
        raise ValueError("probs must be finite and non-negative")
    if arr.size and np.abs(arr.sum(axis=1) - 1.0).max() > _SUM_TOL:
        raise ValueError("probs must sum to 1 over the class axis (axis 1)")
    return arr


def mean_probs(probs: Probs) -> Probs:
    """Predictive distribution: average over the K draws.

    Parameters
    ----------
    probs : ndarray of shape (n, C) or (n, C, K)

    Returns
    -------
    ndarray of shape (n, C)
        ``probs.mean(axis=2)`` for 3-d input; 2-d input is returned (as float64) unchanged.
    """
    arr = _check_probs(probs)
    return arr.mean(axis=2) if arr.ndim == 3 else arr


def _entropy_rows(probs: np.ndarray) -> np.ndarray:
    # scipy.special.entr(p) = -p log p with entr(0) = 0, so 0 log 0 needs no masking.
    return entr(probs).sum(axis=1)


def entropy(probs: Probs) -> Scores:
    """Shannon entropy of the predictive distribution, in nats (natural log, 0 log 0 = 0).

    Parameters
    ----------
    probs : ndarray of shape (n, C) or (n, C, K)
        3-d input is averaged over K first (predictive entropy).

    Returns
    -------
    ndarray of shape (n,)
        ``-sum_c p_c log p_c``; between 0 (one-hot) and ``log C`` (uniform).
    """
    return _entropy_rows(mean_probs(probs))


def margin(probs: Probs) -> Scores:
    """Margin uncertainty ``1 - (p_(1) - p_(2))``, with p_(1) >= p_(2) the two largest classes.

    Margin sampling queries the smallest gap between the top two classes; it is reported here
    as ``1 - gap`` so that higher means query first like every other scorer.

    Parameters
    ----------
    probs : ndarray of shape (n, C) or (n, C, K), C >= 2

    Returns
    -------
    ndarray of shape (n,), values in [0, 1]
    """
    avg = mean_probs(probs)
    if avg.shape[1] < 2:
        raise ValueError(f"margin needs at least 2 classes; got probs of shape {avg.shape}")
    # partition, not a full sort: only the top two per row are needed.
    top2 = np.partition(avg, avg.shape[1] - 2, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def least_confidence(probs: Probs) -> Scores:
    """Least confidence ``1 - max_c p_c``.

    Parameters
    ----------
    probs : ndarray of shape (n, C) or (n, C, K)

    Returns
    -------
    ndarray of shape (n,), values in [0, 1 - 1/C]
    """
    return 1.0 - mean_probs(probs).max(axis=1)


def bald(probs: Probs) -> Scores:
    """BALD mutual information (Houlsby et al. 2011; Gal et al. 2017), in nats.

    ``I = H(mean_k p_k) - mean_k H(p_k)``: the predictive entropy minus the expected entropy of
    the individual draws; 0 when all K draws agree.

    Parameters
    ----------
    probs : ndarray of shape (n, C, K)
        K stochastic forward passes (MC dropout) or ensemble members per example.

    Returns
    -------
    ndarray of shape (n,), values >= 0
    """
    arr = _check_probs(probs, ndim=(3,))
    predictive = _entropy_rows(arr.mean(axis=2))
    expected = entr(arr).sum(axis=1).mean(axis=1)
    # Jensen makes I >= 0; the subtraction can land a few ulps below 0 when draws agree.
    return np.maximum(predictive - expected, 0.0)


SCORERS: dict[str, Callable[[Probs], Scores]] = {
    "entropy": entropy,
    "margin": margin,
    "least_confidence": least_confidence,
    "bald": bald,
}
"""Scorer name -> function; names match the strategy registry in ``alkit.strategies``."""
