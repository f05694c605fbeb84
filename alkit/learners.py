"""Learners: a fresh one per AL round, scikit-learn shaped.

The loop only needs ``fit(X, y) -> self`` and, for probability-based strategies,
``predict_proba(X) -> Probs``. ``X`` is whatever the learner consumes, indexed by global row
ids by the loop: an embedding matrix for :class:`EmbeddingClassifier`, a table of prompts for
``alkit.lora.LoraCausalLM``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from alkit.types import Probs


@runtime_checkable
class Learner(Protocol):
    def fit(self, X: Any, y: np.ndarray) -> Learner: ...

    def predict(self, X: Any) -> np.ndarray: ...


@dataclass
class EmbeddingClassifier:
    """Multinomial logistic regression on frozen embeddings (the No-Free-Lunch head).

    Parameters
    ----------
    n_classes : int
        Number of classes of the task. Probabilities always have ``n_classes`` columns, even
        when the labelled set has not seen every class yet (unseen classes get probability 0).
    C : float
        Inverse L2 strength of scikit-learn's ``LogisticRegression``.
    max_iter : int
        L-BFGS iterations; the head is small, so convergence is cheap.
    seed : int
        ``random_state`` (L-BFGS is deterministic; kept for solvers that are not).
    """

    n_classes: int
    C: float = 1.0
    max_iter: int = 200
    seed: int = 0
    classes_: np.ndarray = field(init=False, repr=False, default=None)
    _model: Any = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {self.n_classes}")
        if self.C <= 0:
            raise ValueError(f"C must be > 0, got {self.C}")

    def fit(self, X: np.ndarray, y: np.ndarray) -> EmbeddingClassifier:
        """X : (n, d) float embeddings; y : (n,) int labels in [0, n_classes)."""
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y, dtype=np.int64)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        self.classes_ = np.unique(y)
        if len(self.classes_) == 1:
            # One class seen so far (tiny seed sets): predict it with certainty.
            self._model = None
            return self
        self._model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
        with warnings.catch_warnings():
            # A capped L-BFGS on tiny labelled sets may stop early; the result is still usable.
            warnings.simplefilter("ignore", category=UserWarning)
            from sklearn.exceptions import ConvergenceWarning

            warnings.simplefilter("ignore", category=ConvergenceWarning)
            self._model.fit(np.asarray(X, dtype=np.float64), y)
        return self

    def predict_proba(self, X: np.ndarray) -> Probs:
        """Probabilities of shape (n, n_classes)."""
        if self.classes_ is None:
            raise RuntimeError("EmbeddingClassifier.predict_proba called before fit")
        probs = np.zeros((len(X), self.n_classes), dtype=np.float64)
        if self._model is None:
            probs[:, self.classes_[0]] = 1.0
            return probs
        probs[:, self.classes_] = self._model.predict_proba(np.asarray(X, dtype=np.float64))
        return probs

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)
