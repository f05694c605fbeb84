"""Who labels: every label carries its source and cost in a ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alkit.types import Indices, as_indices


@dataclass
class AnnotationLedger:
    """Append-only record of who labelled which rows at what cost."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, idx: Indices, source: str, cost_per_label: float, round_: int) -> None:
        for i in as_indices(idx):
            self.rows.append({"idx": int(i), "source": source, "cost": cost_per_label, "round": round_})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["idx", "source", "cost", "round"])

    def total_cost(self) -> float:
        return float(sum(r["cost"] for r in self.rows))


@dataclass
class GoldOracle:
    """Reveals the dataset's gold labels (the simulated human annotator of AL benchmarks).

    Parameters
    ----------
    labels : array of shape (n_rows,)
        Gold labels aligned to global row ids (ints for classification, strings for QA).
    cost_per_label : float
        Cost booked per revealed label (1.0 = one human label).
    """

    labels: np.ndarray
    cost_per_label: float = 1.0
    source: str = "gold"
    ledger: AnnotationLedger = field(default_factory=AnnotationLedger)

    def annotate(self, idx: Indices, round_: int = 0) -> np.ndarray:
        idx = as_indices(idx)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self.labels)):
            raise IndexError(f"indices outside [0, {len(self.labels)})")
        self.ledger.add(idx, self.source, self.cost_per_label, round_)
        return np.asarray(self.labels)[idx]
