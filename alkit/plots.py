"""One function per figure type: data and an ``ax`` in, the ``ax`` out, one shared style.

Nothing here loads data, trains or calls ``plt.show()``; figures are written by ``save_figure``
under ``figures/<notebook>/``. Works with any backend (Agg in tests, inline in notebooks).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import pandas as pd
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.stats import gaussian_kde

from alkit.index import record_output
from alkit.io import atomic_write, stable_hash
from alkit.metrics import bootstrap_ci
from alkit.paths import figures_dir

# Okabe & Ito (2008) colour-blind-safe colours, then Paul Tol's "muted" set for more methods.
# Black is reserved for the passive baseline; yellow comes last as it is faint on white.
PALETTE: tuple[str, ...] = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255",
    "#117733", "#332288", "#999933", "#AA4499", "#44AA99", "#F0E442",
)  # fmt: skip
BASELINE_COLOR = "#000000"

# Fixed colours for the strategies of the five papers, keyed by canonical name (see _canonical),
# so a strategy keeps its colour across notebooks. Pairs share a hue family: light = plain,
# dark = with STAR. Names not listed get a colour from a hash of the name.
KNOWN_COLORS: dict[str, str] = {
    "random": BASELINE_COLOR, "passive": BASELINE_COLOR, "randomsampling": BASELINE_COLOR,
    "entropy": "#0072B2", "margin": "#D55E00", "leastconfidence": "#009E73", "bald": "#CC79A7",
    "badge": "#E69F00", "coreset": "#56B4E9", "cal": "#882255", "bertkm": "#117733",
    "typiclust": "#332288", "probcover": "#999933", "signal": "#AA4499",
    "pe": "#56B4E9", "pestar": "#0072B2", "pewstar": "#0072B2",
    "me": "#E69F00", "mestar": "#D55E00", "mewstar": "#D55E00",
    "promptuncertainty": "#D55E00", "highperplexity": "#0072B2", "lowperplexity": "#009E73",
}  # fmt: skip

STYLE: dict[str, object] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "lines.linewidth": 1.5,
    "lines.markersize": 3.5,
    "image.cmap": "viridis",
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,  # TrueType: text stays text (selectable, editable) in the PDFs
}

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def use_style() -> None:
    """Apply the shared rcParams (fonts, grid, colour cycle, 150 dpi, tight bbox). Idempotent."""
    mpl.rcParams.update(STYLE)


def _style_axes(ax: Axes, grid: bool = True) -> None:
    # rcParams reach only axes created after use_style(); axes passed in get the same look here.
    if grid:
        ax.grid(True, alpha=STYLE["grid.alpha"], linewidth=STYLE["grid.linewidth"])
    else:
        ax.grid(False)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def _canonical(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def method_colors(names: Sequence[str]) -> dict[str, str]:
    """A stable colour for each method name: the same strategy has the same colour in every figure.

    Known strategies (``KNOWN_COLORS``; case and punctuation ignored, so "PE+STAR" = "pe_star")
    have fixed colours; Random is black. Other names get ``PALETTE[hash(name) % len]``. When a
    colour is already taken in this call the next free palette colour is used (known names
    first, then the rest, each in sorted order), so the result depends only on the set of names
    and distinct methods get distinct colours while the palette lasts.
    """
    names = list(dict.fromkeys(str(n) for n in names))
    keys = {_canonical(n) for n in names}
    known = sorted(k for k in keys if k in KNOWN_COLORS)
    by_key: dict[str, str] = {}
    for key in known + sorted(keys - set(known)):
        first = KNOWN_COLORS.get(key) or PALETTE[int(stable_hash(key), 16) % len(PALETTE)]
        start = PALETTE.index(first) if first in PALETTE else 0
        order = [first, *(c for c in PALETTE[start:] + PALETTE[:start] if c != first)]
        used = set(by_key.values())
        by_key[key] = next((c for c in order if c not in used), first)
    return {n: by_key[_canonical(n)] for n in names}


def _is_baseline(name: str) -> bool:
    return KNOWN_COLORS.get(_canonical(name)) == BASELINE_COLOR


def save_figure(fig: Figure, notebook: str, figure_id: str) -> list[Path]:
    """Write ``figures/<notebook>/<figure_id>.pdf`` and ``.png`` atomically; return both paths.

    The PDF carries no creation date, so rerunning a notebook on unchanged data rewrites
    identical bytes (clean diffs of committed figures).
    """
    for what, value in (("notebook", notebook), ("figure_id", figure_id)):
        if not isinstance(value, str) or not _ID_RE.match(value):
            raise ValueError(f"{what} must be a plain file name ([A-Za-z0-9_.-]), got {value!r}")
    out = figures_dir(notebook)
    paths = []
    for fmt, metadata in (("pdf", {"CreationDate": None}), ("png", None)):

        def write(tmp: Path, fmt: str = fmt, metadata: dict | None = metadata) -> None:
            fig.savefig(tmp, format=fmt, dpi=STYLE["savefig.dpi"], bbox_inches="tight", metadata=metadata)

        paths.append(atomic_write(out / f"{figure_id}.{fmt}", write))
    record_output(notebook, figure_id, "figure", paths)
    return paths


def _check_columns(df: pd.DataFrame, cols: Sequence[str | None]) -> None:
    missing = [c for c in cols if c is not None and c not in df.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the frame; it has {list(df.columns)}")


def _get_ax(ax: Axes | None) -> Axes:
    use_style()
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _levels(df: pd.DataFrame, hue: str | None) -> list:
    return [None] if hue is None else list(pd.unique(df[hue]))


def plot_learning_curves(
    df: pd.DataFrame,
    *,
    x: str = "n_labeled",
    y: str = "accuracy",
    hue: str | None = "strategy",
    ax: Axes | None = None,
    ci: float | str | None = 0.95,
    seed_col: str | None = "seed",
    colors: Mapping[str, str] | None = None,
    legend: bool = True,
    marker: str = "o",
) -> Axes:
    """Mean curve per ``hue`` level over seeds, with a band.

    Parameters
    ----------
    df : long frame, one row per (hue level, x, seed)
    ci : confidence level of a percentile bootstrap band of the mean (``bootstrap_ci``), "sd"
        for mean +/- one sample standard deviation (as SIGnAL plots), or None for no band.
        A band is drawn only where some x has two or more seeds.
    seed_col : checked for one row per (hue, x, seed); None if the rows are already replicates
    colors : level -> colour; default ``method_colors``. Random is drawn dashed.
    """
    _check_columns(df, [x, y, hue, seed_col])
    if not (ci is None or ci == "sd" or (isinstance(ci, float) and 0 < ci < 1)):
        raise ValueError(f"ci must be a level in (0, 1), 'sd' or None, got {ci!r}")
    keys = [k for k in (hue, x, seed_col) if k is not None]
    if seed_col is not None and df.duplicated(keys).any():
        raise ValueError(f"several rows share the same {keys}; aggregate them or add a column to hue")
    ax = _get_ax(ax)
    _style_axes(ax)
    levels = _levels(df, hue)
    colors = dict(colors) if colors is not None else method_colors([str(v) for v in levels if v is not None])
    for level in levels:
        sub = df if level is None else df[df[hue] == level]
        stats_rows = []
        for x_value, group in sub.groupby(x, sort=True):
            vals = group[y].to_numpy(dtype=np.float64)
            if ci == "sd":
                sd = vals.std(ddof=1) if len(vals) > 1 else 0.0
                stats_rows.append((x_value, vals.mean(), vals.mean() - sd, vals.mean() + sd, len(vals)))
            elif ci is None:
                stats_rows.append((x_value, vals.mean(), vals.mean(), vals.mean(), len(vals)))
            else:
                stats_rows.append((x_value, *bootstrap_ci(vals, level=ci), len(vals)))
        xs, mean, lo, hi, n = (np.asarray(col) for col in zip(*stats_rows, strict=True))
        label = y if level is None else str(level)
        color = colors.get(label) if level is not None else None
        style = "--" if level is not None and _is_baseline(label) else "-"
        (line,) = ax.plot(xs, mean, linestyle=style, marker=marker, color=color, label=label)
        if ci is not None and n.max() > 1:
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("labelled examples" if x == "n_labeled" else x)
    ax.set_ylabel(y)
    if legend and hue is not None:
        ax.legend(title=hue)
    return ax


def facet_learning_curves(
    df: pd.DataFrame,
    *,
    row: str | None = None,
    col: str | None = None,
    x: str = "n_labeled",
    y: str = "accuracy",
    hue: str | None = "strategy",
    ci: float | str | None = 0.95,
    seed_col: str | None = "seed",
    sharey: bool | str = False,
    panel_size: tuple[float, float] = (3.0, 2.4),
) -> Figure:
    """Grid of ``plot_learning_curves`` panels (``row`` x ``col`` levels) with one shared legend."""
    _check_columns(df, [row, col, x, y, hue, seed_col])
    use_style()
    rows = _levels(df, row)
    cols = _levels(df, col)
    fig, axes = plt.subplots(
        len(rows),
        len(cols),
        figsize=(panel_size[0] * len(cols), panel_size[1] * len(rows) + 0.5),
        sharex=False,
        sharey=sharey,
        squeeze=False,
        layout="constrained",
    )
    levels = [str(v) for v in _levels(df, hue) if v is not None]
    colors = method_colors(levels)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            mask = np.ones(len(df), dtype=bool)
            if row is not None:
                mask &= (df[row] == r).to_numpy()
            if col is not None:
                mask &= (df[col] == c).to_numpy()
            if not mask.any():
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
                continue
            plot_learning_curves(
                df[mask], x=x, y=y, hue=hue, ax=ax, ci=ci, seed_col=seed_col, colors=colors, legend=False
            )
            ax.set_title(" | ".join(f"{v}" for v in (r, c) if v is not None))
            if j > 0:
                ax.set_ylabel("")
            if i < len(rows) - 1:
                ax.set_xlabel("")
    if hue is not None:
        handles = [
            Line2D([], [], color=colors[n], linestyle="--" if _is_baseline(n) else "-", marker="o", label=n)
            for n in levels
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), title=hue)
    return fig


def plot_heatmap(
    matrix_df: pd.DataFrame,
    *,
    ax: Axes | None = None,
    fmt: str = ".2f",
    cmap: str = "viridis",
    annotate: bool = True,
    cbar_label: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Axes:
    """Matrix as coloured cells (rows = index, columns = columns), values written in each cell.

    NaN cells stay blank. Text is black or white, whichever reads better on the cell colour.
    """
    values = matrix_df.to_numpy(dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"matrix_df must be a non-empty 2-d frame, got shape {values.shape}")
    ax = _get_ax(ax)
    _style_axes(ax, grid=False)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in matrix_df.columns], rotation=45, ha="right")
    ax.set_yticks(range(values.shape[0]), [str(i) for i in matrix_df.index])
    ax.set_xlabel(matrix_df.columns.name or "")
    ax.set_ylabel(matrix_df.index.name or "")
    ax.figure.colorbar(image, ax=ax, label=cbar_label or "")
    if annotate:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                r, g, b = to_rgb(image.cmap(image.norm(v)))
                luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=7,
                        color="black" if luminance > 0.5 else "white")  # fmt: skip
    return ax


def plot_scatter_with_labels(
    df: pd.DataFrame,
    x: str,
    y: str,
    hue: str | None = None,
    ax: Axes | None = None,
    *,
    label: str | None = None,
    diagonal: bool = False,
    s: float = 16,
    alpha: float = 0.8,
    colors: Mapping[str, str] | None = None,
) -> Axes:
    """Scatter of ``y`` against ``x``, one colour per ``hue`` level, optional text per point.

    ``label`` names a column written beside each point (e.g. the embedder of a quality-vs-gain
    point); ``diagonal`` draws y = x (e.g. entropy in round t against round t+1).
    """
    _check_columns(df, [x, y, hue, label])
    ax = _get_ax(ax)
    _style_axes(ax)
    levels = _levels(df, hue)
    colors = dict(colors) if colors is not None else method_colors([str(v) for v in levels if v is not None])
    for level in levels:
        sub = df if level is None else df[df[hue] == level]
        ax.scatter(sub[x], sub[y], s=s, alpha=alpha, color=None if level is None else colors[str(level)],
                   label=None if level is None else str(level), edgecolors="none")  # fmt: skip
        if label is not None:
            for xv, yv, text in zip(sub[x], sub[y], sub[label], strict=True):
                ax.annotate(str(text), (xv, yv), xytext=(3, 3), textcoords="offset points", fontsize=7)
    if diagonal:
        lo = float(np.nanmin(df[[x, y]].to_numpy(dtype=np.float64)))
        hi = float(np.nanmax(df[[x, y]].to_numpy(dtype=np.float64)))
        ax.plot([lo, hi], [lo, hi], color="0.5", linestyle=":", linewidth=1, zorder=0)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if hue is not None:
        ax.legend(title=hue)
    return ax


def plot_density(
    values_by_group: Mapping[str, npt.ArrayLike],
    ax: Axes | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
    support: tuple[float, float] | None = None,
    n_grid: int = 256,
    bins: int = 10,
    fill: bool = True,
) -> Axes:
    """Density of each group's values: a Gaussian KDE (``scipy.stats.gaussian_kde``, Scott's rule).

    Groups with fewer than 3 values or no spread cannot carry a KDE and are drawn as a density
    histogram instead; an empty group only gets a legend entry. ``support`` (e.g. (0, 1) for
    confidences) limits the evaluation grid; mass the kernel puts outside it is not shown.
    """
    if not values_by_group:
        raise ValueError("values_by_group is empty")
    ax = _get_ax(ax)
    _style_axes(ax)
    arrays = {str(k): np.asarray(v, dtype=np.float64).reshape(-1) for k, v in values_by_group.items()}
    for name, vals in arrays.items():
        if not np.all(np.isfinite(vals)):
            raise ValueError(f"group {name!r} has non-finite values")
    colors = dict(colors) if colors is not None else method_colors(list(arrays))
    labels = dict(labels or {})
    pooled = np.concatenate(list(arrays.values()))
    if support is not None:
        grid = np.linspace(support[0], support[1], n_grid)
    elif len(pooled):
        pad = 0.1 * max(float(np.ptp(pooled)), 1e-3)  # let the tails of the outer kernels show
        grid = np.linspace(pooled.min() - pad, pooled.max() + pad, n_grid)
    else:
        grid = np.linspace(0.0, 1.0, n_grid)
    for name, vals in arrays.items():
        text = f"{labels.get(name, name)} (n={len(vals)})"
        color = colors.get(name)
        if len(vals) == 0:
            ax.plot([], [], color=color, label=text)
        elif len(vals) < 3 or np.ptp(vals) == 0:
            ax.hist(vals, bins=bins, density=True, histtype="stepfilled", alpha=0.4, color=color, label=text)
        else:
            density = gaussian_kde(vals)(grid)
            ax.plot(grid, density, color=color, label=text)
            if fill:
                ax.fill_between(grid, density, color=color, alpha=0.15, linewidth=0)
    ax.set_ylabel("density")
    ax.legend()
    return ax


def plot_bars(
    df: pd.DataFrame,
    x: str,
    y: str,
    hue: str | None = None,
    ax: Axes | None = None,
    *,
    err: str | tuple[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
    width: float = 0.8,
) -> Axes:
    """Grouped bars: one group per ``x`` level, one bar per ``hue`` level inside it.

    ``err`` is a column of symmetric half-widths (e.g. a standard deviation), or a pair of
    columns (lo, hi) holding interval bounds (e.g. from ``bootstrap_ci``). Missing (x, hue)
    combinations leave a gap; duplicated ones are an error (aggregate first).
    """
    err_cols = [] if err is None else ([err] if isinstance(err, str) else list(err))
    _check_columns(df, [x, y, hue, *err_cols])
    keys = [x] if hue is None else [x, hue]
    if df.duplicated(keys).any():
        raise ValueError(f"several rows share the same {keys}; aggregate them first")
    ax = _get_ax(ax)
    _style_axes(ax)
    ax.grid(False, axis="x")
    x_levels = list(pd.unique(df[x]))
    levels = _levels(df, hue)
    colors = dict(colors) if colors is not None else method_colors([str(v) for v in levels if v is not None])
    bar_width = width / len(levels)
    for k, level in enumerate(levels):
        sub = df if level is None else df[df[hue] == level]
        pos = np.array([x_levels.index(v) for v in sub[x]]) - width / 2 + (k + 0.5) * bar_width
        heights = sub[y].to_numpy(dtype=np.float64)
        yerr = None
        if len(err_cols) == 1:
            yerr = sub[err_cols[0]].to_numpy(dtype=np.float64)
        elif len(err_cols) == 2:
            yerr = np.vstack([heights - sub[err_cols[0]].to_numpy(), sub[err_cols[1]].to_numpy() - heights])
        ax.bar(pos, heights, bar_width, yerr=yerr, capsize=2,
               color=None if level is None else colors[str(level)],
               label=None if level is None else str(level))  # fmt: skip
    ax.set_xticks(range(len(x_levels)), [str(v) for v in x_levels])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if hue is not None:
        ax.legend(title=hue)
    return ax
