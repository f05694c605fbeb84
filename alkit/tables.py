"""Tables for reports: ``save_table`` writes ``figures/<notebook>/<id>.csv`` and ``.md``.

The markdown renderer is our own (``DataFrame.to_markdown`` needs ``tabulate``, which alkit does
not depend on): a GitHub / pandoc pipe table, numbers right-aligned, text left-aligned.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from alkit.index import record_output
from alkit.io import atomic_write, write_text
from alkit.paths import figures_dir

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def format_mean_ci(mean: float, lo: float, hi: float, fmt: str = ".1f") -> str:
    """``"81.2 ± 1.3"``: the mean and the half-width ``(hi - lo) / 2`` of its interval.

    A percentile bootstrap interval can be asymmetric; the half-width is the usual table
    summary of it. Without an interval (NaN bounds) only the mean is written; a NaN mean is "n/a".
    """
    if pd.isna(mean):
        return "n/a"
    if pd.isna(lo) or pd.isna(hi):
        return format(float(mean), fmt)
    if lo > hi:
        raise ValueError(f"lo={lo} is above hi={hi}")
    return f"{format(float(mean), fmt)} ± {format((float(hi) - float(lo)) / 2, fmt)}"


def _include_index(df: pd.DataFrame) -> bool:
    return any(name is not None for name in df.index.names)


def _cell(value: object, floatfmt: str, na_rep: str) -> str:
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)) or value is pd.NA:
        return na_rep
    if isinstance(value, float | np.floating):
        text = format(float(value), floatfmt)
    else:
        text = str(value)
    # A pipe would end the cell and a newline the row.
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame, *, floatfmt: str = ".2f", na_rep: str = "") -> str:
    """Pipe table of ``df``; the index becomes the first column(s) when it is named.

    Floats use ``floatfmt``; integers and text print as they are; NaN prints ``na_rep``.
    MultiIndex column labels are joined with " / ". Cells are padded so the raw text lines up.
    """
    frame = df.reset_index() if _include_index(df) else df
    series = [frame.iloc[:, j] for j in range(frame.shape[1])]
    headers = [
        " / ".join(str(c) for c in col if str(c)) if isinstance(col, tuple) else str(col) for col in frame.columns
    ]
    columns = [[_cell(v, floatfmt, na_rep) for v in s.tolist()] for s in series]
    right = [is_numeric_dtype(s) and not is_bool_dtype(s) for s in series]
    widths = [max(3, len(h), *(len(c) for c in col)) for h, col in zip(headers, columns, strict=True)]

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join("-" * (w - 1) + ":" if r else "-" * w for w, r in zip(widths, right, strict=True))
    rule += " |"
    rows = [line(headers), rule] + [line([col[i] for col in columns]) for i in range(len(frame))]
    return "\n".join(rows) + "\n"


def save_table(
    df: pd.DataFrame,
    notebook: str,
    table_id: str,
    *,
    floatfmt: str = ".2f",
    caption: str | None = None,
    na_rep: str = "",
) -> list[Path]:
    """Write ``figures/<notebook>/<table_id>.csv`` and ``.md`` atomically; return both paths.

    The CSV keeps full precision (for reuse and for comparing reruns); the markdown rounds
    floats with ``floatfmt``. The index is written when it is named. A ``caption`` is written
    above the markdown table as ``Table: <caption>`` (pandoc's caption syntax).
    """
    for what, value in (("notebook", notebook), ("table_id", table_id)):
        if not isinstance(value, str) or not _ID_RE.match(value):
            raise ValueError(f"{what} must be a plain file name ([A-Za-z0-9_.-]), got {value!r}")
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"save_table needs a pandas DataFrame, got {type(df).__name__}")
    out = figures_dir(notebook)
    index = _include_index(df)
    csv_path = atomic_write(out / f"{table_id}.csv", lambda p: df.to_csv(p, index=index))
    text = to_markdown(df, floatfmt=floatfmt, na_rep=na_rep)
    if caption:
        text = f"Table: {caption}\n\n{text}"
    md_path = write_text(out / f"{table_id}.md", text)
    record_output(notebook, table_id, "table", [csv_path, md_path])
    return [csv_path, md_path]
