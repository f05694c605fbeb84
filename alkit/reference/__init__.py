"""The papers' reported numbers and the discrepancy register, as data.

- ``star_table1()`` / ``star_table2()``: STAR's Tables 1 and 2 (AUC and RIPL in percent, as
  printed), so notebooks draw "paper vs reproduced" side by side.
- ``load_discrepancies(paper=None)``: every place where a paper, its authors' code and alkit
  differ (``discrepancies.yaml``); ``discrepancies_markdown(paper)`` renders it for a notebook.

Files are read with ``yaml.safe_load`` from this package's folder.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
DISCREPANCY_COLUMNS = ("paper", "topic", "paper_says", "code_does", "alkit_does", "follows", "why")
FOLLOWS = ("paper", "code", "both", "neither")
PAPERS = ("star", "signal", "active_it", "nfl", "imfl")
NOTEBOOK_PAPERS = {"task_map": "active_it", "mteb_sweep": "nfl"}  # notebook name -> paper key
TABLE_COLUMNS = ("dataset", "method", "label", "auc", "ripl")


@cache
def _yaml(name: str) -> Any:
    path = HERE / f"{name}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in HERE.glob("*.yaml"))
        raise KeyError(f"no reference file {name!r}; available: {available}")
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_reference(paper: str) -> dict[str, Any]:
    """The raw reference data of one paper (a copy, safe to modify)."""
    import copy

    return copy.deepcopy(_yaml(paper))


def _table(name: str) -> pd.DataFrame:
    ref = _yaml("star")
    records = []
    for method, entry in ref[name].items():
        extra = {k: entry[k] for k in ("base", "components") if k in entry}
        for dataset in ref["datasets"]:
            auc, ripl = entry[dataset]
            records.append(
                {
                    "dataset": dataset,
                    "method": method,
                    "label": entry["label"],
                    "auc": float(auc),
                    "ripl": float("nan") if ripl is None else float(ripl),
                    **extra,
                }
            )
    return pd.DataFrame.from_records(records)


def star_table1() -> pd.DataFrame:
    """STAR Table 1 in long form: ``dataset, method, label, auc, ripl`` (percent; RANDOM's RIPL
    is NaN, printed "-"). Methods: random, pe, pe_star, me, me_star."""
    return _table("table1")


def star_table2() -> pd.DataFrame:
    """STAR Table 2 (ablation) in long form: ``dataset, method, label, auc, ripl, base,
    components`` where ``components`` lists what is added to the base strategy
    (``dynamic``, then ``mc_dropout`` or ``weight_decay_B`` individually)."""
    return _table("table2")


def load_discrepancies(paper: str | None = None) -> pd.DataFrame:
    """The discrepancy register (columns ``DISCREPANCY_COLUMNS``), optionally for one paper
    (a key of ``PAPERS`` or a notebook name such as ``"mteb_sweep"``).

    Raises ValueError for an unknown paper name or a malformed entry (missing or extra field,
    ``follows`` outside ``FOLLOWS``).
    """
    paper = NOTEBOOK_PAPERS.get(paper, paper) if paper is not None else None
    if paper is not None and paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; choose from {list(PAPERS)}")
    entries = _yaml("discrepancies")["entries"]
    for i, entry in enumerate(entries):
        if set(entry) != set(DISCREPANCY_COLUMNS):
            raise ValueError(
                f"discrepancy entry {i} has fields {sorted(entry)}; expected {list(DISCREPANCY_COLUMNS)}"
            )
        if entry["follows"] not in FOLLOWS:
            raise ValueError(
                f"discrepancy entry {i}: follows={entry['follows']!r}; choose from {list(FOLLOWS)}"
            )
        if entry["paper"] not in PAPERS:
            raise ValueError(f"discrepancy entry {i}: paper={entry['paper']!r}; choose from {list(PAPERS)}")
    frame = pd.DataFrame.from_records(entries, columns=list(DISCREPANCY_COLUMNS))
    if paper is not None:
        frame = frame[frame["paper"] == paper].reset_index(drop=True)
    return frame


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def discrepancies_markdown(paper: str) -> str:
    """A markdown table of one paper's register (topic, paper, authors' code, alkit, follows, why)."""
    frame = load_discrepancies(paper)
    header = "| topic | paper says | authors' code | alkit | follows | why |"
    lines = [header, "|---|---|---|---|---|---|"]
    for row in frame.itertuples(index=False):
        cells = (row.topic, row.paper_says, row.code_does, row.alkit_does, row.follows, row.why)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
