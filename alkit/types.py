"""Array aliases shared by every module (shapes in the names' docstrings)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Indices = npt.NDArray[np.int64]
"""Global row ids into a dataset's table, shape (n,). Never positions within a pool."""

Probs = npt.NDArray[np.float64]
"""Class probabilities, shape (n, n_classes) or, for K stochastic passes, (n, n_classes, K)."""

Scores = npt.NDArray[np.float64]
"""Informativeness, shape (n,); higher = query first."""

Embeddings = npt.NDArray[np.float32]
"""Row-aligned feature vectors, shape (n, dim); L2-normalised when produced by alkit.embeddings."""


def as_indices(idx: npt.ArrayLike) -> Indices:
    """Return `idx` as a 1-d int64 array (copying only if needed)."""
    return np.asarray(idx, dtype=np.int64).reshape(-1)
