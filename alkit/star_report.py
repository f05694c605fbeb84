"""STAR's tables and figures (Zhang et al., 2024): frames in, DataFrames / Figures out.

Pure functions over what :mod:`alkit.star_experiment` produces; nothing here trains, loads or
saves (the notebook calls ``save_table`` / ``save_figure``).

- ``records``: one row per (dataset, adapter, method, seed, round) with ``n_labeled`` and
  ``accuracy`` in [0, 1] (extra columns are ignored). Tables use the LoRA runs only.
- ``entropy_matrix``: index = the top-k base-model ME pool examples, columns ``iter0..iterT``
  (iter0 = base model, iter t = the LoRA model of AL round t-1), values = ME scores.
- ``confidence``: columns ``model`` ("LoRA" | "Few-shot"), ``correct``, ``confidence``
  (``max(p_true, p_false)``, Eq. 4) on BoolQ test, and ``accuracies`` {model: fraction}.

AUC and RIPL are in percent as in the paper (Appendix C, Eq. 8): AUC = normalised trapezoid of
accuracy x 100 over the labelled-set sizes, RIPL = (AUC - AUC_random) / (100 - AUC_random) x 100,
computed from the seed-mean AUCs (the paper averages three runs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from alkit import metrics, reference
from alkit.plots import (
    facet_learning_curves,
    method_colors,
    plot_density,
    plot_heatmap,
    plot_learning_curves,
    plot_scatter_with_labels,
    use_style,
)
from alkit.star_experiment import ADAPTERS, DATASETS, METHODS
from alkit.tables import format_mean_ci

PAPER_DATASETS = ("gsm8k", "boolq", "obqa")  # the paper's column order (Tables 1-2, Figs. 1, 5)
DATASET_NAMES = {"gsm8k": "GSM8K", "boolq": "BoolQ", "obqa": "OpenBookQA"}
RECORD_COLUMNS = ("dataset", "adapter", "method", "seed", "round", "n_labeled", "accuracy")
CURVE_KEYS = ["dataset", "adapter", "method", "seed"]

# Table 1 rows: method key -> display name (keys are also alkit.reference.star_table1's).
TABLE1_ROWS: dict[str, str] = {"random": "RANDOM", "pe": "PE", "pe_star": "PE w/ STAR", "me": "ME",
                               "me_star": "ME w/ STAR"}  # fmt: skip
# Table 2 rows (base, method, display name): cumulative as in Sec. 7.2, MC dropout and weight
# decay each added individually on top of +Dynamic.
TABLE2_ROWS: tuple[tuple[str, str, str], ...] = tuple(
    (base.upper(), f"{base}{suffix}", name)
    for base in ("pe", "me")
    for suffix, name in (("", base.upper()), ("_dyn", "+Dynamic"), ("_dyn_mc", "+MC dropout"),
                         ("_dyn_wd", "+L2 weight decay"))
)  # fmt: skip
# Our Table 2 method keys -> alkit.reference.star_table2's (same components, other spelling).
PAPER_TABLE2_KEYS: dict[str, str] = {f"{b}{ours}": f"{b}{theirs}" for b in ("pe", "me")
                                     for ours, theirs in (("", ""), ("_dyn", "_dynamic"), ("_dyn_mc", "_mc"),
                                                          ("_dyn_wd", "_wd"))}  # fmt: skip


def method_label(method: str) -> str:
    """Display name of any STAR method key, e.g. "pe_dyn_mc" -> "PE +Dynamic +MC dropout"."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(METHODS)}")
    if method in TABLE1_ROWS:
        return TABLE1_ROWS[method]
    kind, dynamic, mc, wd = METHODS[method]
    parts = [kind.upper(), "+Dynamic" if dynamic else "", "+MC dropout" if mc else "", "+L2 weight decay" if wd else ""]
    return " ".join(p for p in parts if p)


# --------------------------------------------------------------------------- validation


def _check_columns(df: pd.DataFrame, cols, what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"{what} lacks columns {missing}; it has {list(df.columns)}")


def _check_records(records: pd.DataFrame) -> pd.DataFrame:
    _check_columns(records, RECORD_COLUMNS, "records")
    if records.empty:
        raise ValueError("records is empty")
    for col, valid in (("dataset", DATASETS), ("adapter", ADAPTERS), ("method", METHODS)):
        unknown = sorted(set(records[col]) - set(valid))
        if unknown:
            raise ValueError(f"records: unknown {col} {unknown}; valid: {sorted(valid)}")
    acc = records["accuracy"].to_numpy(dtype=np.float64)
    if not (np.all(np.isfinite(acc)) and np.all((acc >= 0) & (acc <= 1))):
        raise ValueError("records: accuracy must be finite fractions in [0, 1] (not percent)")
    dup = records.duplicated([*CURVE_KEYS, "round"])
    if dup.any():
        first = records.loc[dup, [*CURVE_KEYS, "round"]].iloc[0].to_dict()
        raise ValueError(f"records: several rows per (dataset, adapter, method, seed, round), e.g. {first}")
    return records


def _datasets(frame: pd.DataFrame) -> list[str]:
    present = set(frame["dataset"])
    return [d for d in PAPER_DATASETS if d in present]


# --------------------------------------------------------------------------- tables


def aucs(records: pd.DataFrame) -> pd.DataFrame:
    """Learning-curve AUC in percent of every run.

    Returns
    -------
    DataFrame with columns dataset, adapter, method, seed, auc: one row per run, ``auc`` =
    ``alkit.metrics.learning_curve_auc`` (normalised trapezoid over ``n_labeled``) of accuracy x 100.
    Raises ValueError when runs of one (dataset, adapter) cover different labelled-set sizes,
    since their AUCs (and RIPL) would then average over different budgets.
    """
    _check_records(records)
    frame = records.assign(accuracy_pct=records["accuracy"].astype(np.float64) * 100.0)
    for (dataset, adapter), group in frame.groupby(["dataset", "adapter"], sort=False):
        grids = group.groupby(["method", "seed"])["n_labeled"].apply(lambda s: tuple(sorted(s)))
        if grids.nunique() > 1:
            ref = grids.mode().iloc[0]
            odd = grids[grids != ref].index[0]
            raise ValueError(f"{dataset}/{adapter}: run {odd} has n_labeled {list(grids[odd])} but the others "
                             f"have {list(ref)}; AUCs over different budgets are not comparable")  # fmt: skip
    out = metrics.curve_aucs(frame, CURVE_KEYS, y="accuracy_pct")
    return out.sort_values(CURVE_KEYS, kind="stable").reset_index(drop=True)


def _mean_aucs(records: pd.DataFrame) -> pd.DataFrame:
    """LoRA runs: dataset, method, auc (seed mean), n_seeds, ripl (of the mean AUCs; NaN for Random)."""
    per_run = aucs(records)
    per_run = per_run[per_run["adapter"] == "lora"]
    if per_run.empty:
        raise ValueError("records hold no LoRA runs (adapter == 'lora'); STAR's tables are LoRA only")
    means = per_run.groupby(["dataset", "method"], sort=False)["auc"].agg(auc="mean", n_seeds="size").reset_index()
    random_auc = means[means["method"] == "random"].set_index("dataset")["auc"]
    missing = [d for d in _datasets(means) if d not in random_auc.index]
    if missing:
        raise ValueError(f"no LoRA 'random' runs for {missing}: RIPL is measured against Random")
    means["ripl"] = [np.nan if m == "random" else metrics.ripl(a, random_auc[d])
                     for d, m, a in zip(means["dataset"], means["method"], means["auc"], strict=True)]  # fmt: skip
    return means


def _paper_frame(paper: pd.DataFrame | None, default) -> pd.DataFrame:
    paper = default() if paper is None else paper
    _check_columns(paper, ("dataset", "method", "auc", "ripl"), "paper")
    return paper.set_index(["dataset", "method"])


def _wide(ours: pd.DataFrame, paper: pd.DataFrame, rows: list[tuple], paper_keys: Mapping[str, str]) -> pd.DataFrame:
    """rows: (index tuple, method key); columns "<d> AUC", "<d> RIPL", "<d> AUC (paper)", "<d> RIPL (paper)"."""
    ours = ours.set_index(["dataset", "method"])
    table = {}
    for d in _datasets(ours.reset_index()):
        for col, source, key_of, field in (("AUC", ours, str, "auc"), ("RIPL", ours, str, "ripl"),
                                           ("AUC (paper)", paper, paper_keys.get, "auc"),
                                           ("RIPL (paper)", paper, paper_keys.get, "ripl")):  # fmt: skip
            values = []
            for _, method in rows:
                key = (d, key_of(method))
                value = float(source.at[key, field]) if key in source.index else np.nan
                values.append("-" if field == "ripl" and method == "random" else value)
            table[f"{d} {col}"] = pd.Series(values, dtype=object if field == "ripl" else np.float64)
    return pd.DataFrame(table)


def table1(records: pd.DataFrame, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """STAR Table 1: AUC and RIPL (percent) of RANDOM, PE, PE w/ STAR, ME, ME w/ STAR, ours beside the paper's.

    Parameters
    ----------
    records : the driver's long frame (LoRA runs are used; Random is required per dataset)
    paper : long frame with dataset, method, auc, ripl; default ``alkit.reference.star_table1()``

    Returns
    -------
    DataFrame indexed by display name (index name "method"); per dataset present, in the paper's
    order: "<d> AUC", "<d> RIPL" (ours: seed-mean AUC; RIPL of the mean AUCs, "-" for RANDOM),
    "<d> AUC (paper)", "<d> RIPL (paper)". Methods that were not run have NaN in our columns.
    """
    ours = _mean_aucs(records)
    rows = [((name,), m) for m, name in TABLE1_ROWS.items()]
    wide = _wide(ours, _paper_frame(paper, reference.star_table1), rows, {m: m for m in TABLE1_ROWS})
    wide.index = pd.Index(list(TABLE1_ROWS.values()), name="method")
    return wide


def table2(records: pd.DataFrame, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """STAR Table 2 (ablation): PE / ME, +Dynamic, +MC dropout, +L2 weight decay; columns as ``table1``.

    The index is a MultiIndex (base, method): base "PE" or "ME", method the display name. As in
    the paper (Sec. 7.2) the rows are cumulative on +Dynamic: "+MC dropout" is ``*_dyn_mc`` and
    "+L2 weight decay" is ``*_dyn_wd``. RIPL is against our Random, which is not a row. ``paper``
    defaults to ``alkit.reference.star_table2()``; its GSM8K component RIPLs are as printed,
    which used PE's AUC as the baseline (see ``ripl_inconsistent`` in reference/star.yaml).
    """
    ours = _mean_aucs(records)
    rows = [((base, name), m) for base, m, name in TABLE2_ROWS]
    wide = _wide(ours, _paper_frame(paper, reference.star_table2), rows, PAPER_TABLE2_KEYS)
    wide.index = pd.MultiIndex.from_tuples([r for r, _ in rows], names=["base", "method"])
    return wide


def table1_long(records: pd.DataFrame, methods: list[str] | None = None) -> pd.DataFrame:
    """Per (dataset, method): seed-mean AUC with its 95% bootstrap CI over seeds, and RIPL.

    Columns: dataset, method, label, n_seeds, auc, auc_lo, auc_hi, auc_ci ("mean ± half-width",
    ``format_mean_ci``), ripl (of the mean AUCs, as in ``table1``), ripl_paired, ripl_paired_lo,
    ripl_paired_hi, n_pairs: the mean and bootstrap CI of per-seed RIPL against Random's run with
    the same seed (which shares the warm start), NaN for Random. ``methods`` defaults to Table 1's.
    """
    methods = list(TABLE1_ROWS) if methods is None else list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {sorted(METHODS)}")
    ours = _mean_aucs(records).set_index(["dataset", "method"])
    per_run = aucs(records).query("adapter == 'lora'").set_index(["dataset", "method", "seed"])["auc"]
    rows = []
    for d in _datasets(ours.reset_index()):
        random_by_seed = per_run.loc[(d, "random")]
        for m in methods:
            if (d, m) not in ours.index:
                continue
            by_seed = per_run.loc[(d, m)]
            mean, lo, hi = metrics.bootstrap_ci(by_seed.to_numpy())
            paired = [metrics.ripl(a, random_by_seed[s]) for s, a in by_seed.items() if s in random_by_seed.index]
            p_mean, p_lo, p_hi = metrics.bootstrap_ci(paired) if paired and m != "random" else (np.nan,) * 3
            rows.append((d, m, method_label(m), len(by_seed), mean, lo, hi, format_mean_ci(mean, lo, hi, ".2f"),
                         ours.at[(d, m), "ripl"], p_mean, p_lo, p_hi, 0 if m == "random" else len(paired)))  # fmt: skip
    return pd.DataFrame(rows, columns=["dataset", "method", "label", "n_seeds", "auc", "auc_lo", "auc_hi", "auc_ci",
                                       "ripl", "ripl_paired", "ripl_paired_lo", "ripl_paired_hi", "n_pairs"])  # fmt: skip


# --------------------------------------------------------------------------- figures


def _curves(records: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Rows of ``methods`` with display names and accuracy in percent, in method then x order."""
    sub = records[records["method"].isin(methods)]
    order = {m: i for i, m in enumerate(methods)}
    sub = sub.assign(order=sub["method"].map(order)).sort_values(["order", "n_labeled", "seed"], kind="stable")
    return pd.DataFrame({"dataset": sub["dataset"].map(DATASET_NAMES).to_numpy(),
                         "method": sub["method"].map(method_label).to_numpy(), "seed": sub["seed"].to_numpy(),
                         "n_labeled": sub["n_labeled"].to_numpy(),
                         "accuracy (%)": sub["accuracy"].to_numpy(dtype=np.float64) * 100.0})  # fmt: skip


def fig1_al_vs_passive(records: pd.DataFrame, al_method: str = "me", ci: float | str | None = 0.95) -> Figure:
    """Fig. 1: Random vs ``al_method``, (a) with LoRA (top row) and (b) full fine-tuning (bottom row).

    One column per dataset; accuracy (%) vs labelled examples, mean over seeds with a ``ci``
    band (``plot_learning_curves``). A panel whose adapter was not run for that dataset says
    "not run"; a missing method in a drawn panel is named at its foot.
    """
    _check_records(records)
    if al_method not in METHODS or al_method == "random":
        raise ValueError(f"al_method must be an AL method; choose from {sorted(set(METHODS) - {'random'})}")
    methods = ["random", al_method]
    labels = [method_label(m) for m in methods]
    colors = method_colors(labels)
    datasets = _datasets(records)
    use_style()
    fig, axes = plt.subplots(2, len(datasets), figsize=(3.2 * len(datasets), 5.4), squeeze=False, layout="constrained")
    for i, (adapter, row_name) in enumerate((("lora", "(a) LoRA"), ("full", "(b) full fine-tuning"))):
        for j, d in enumerate(datasets):
            ax = axes[i, j]
            ax.set_title(f"{row_name}: {DATASET_NAMES[d]}")
            sub = records[(records["dataset"] == d) & (records["adapter"] == adapter)]
            frame = _curves(sub, methods)
            if frame.empty:
                ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes, color="0.4")
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            plot_learning_curves(frame, y="accuracy (%)", hue="method", ax=ax, ci=ci, colors=colors, legend=False)
            absent = [lab for lab in labels if lab not in set(frame["method"])]
            if absent:
                ax.text(0.5, 0.04, f"{', '.join(absent)} not run", ha="center", transform=ax.transAxes, color="0.4")
    handles = [Line2D([], [], color=colors[lab], linestyle="--" if m == "random" else "-", marker="o", label=lab)
               for m, lab in zip(methods, labels, strict=True)]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
    return fig


def fig2_confidence_density(confidence: pd.DataFrame, accuracies: Mapping[str, float]) -> Figure:
    """Fig. 2: density of the confidence ``max(p_true, p_false)`` of WRONG BoolQ test predictions.

    One curve per model (e.g. LoRA vs Few-shot ICL), legend "LoRA (acc 73.4%) (n=...)" with the
    model's test accuracy (``accuracies`` are fractions) and n = its number of wrong predictions;
    dotted vertical lines mark each model's median.
    """
    _check_columns(confidence, ("model", "correct", "confidence"), "confidence")
    models = list(pd.unique(confidence["model"]))
    missing = [m for m in models if m not in accuracies]
    if missing:
        raise KeyError(f"accuracies lack models {missing}; it has {sorted(accuracies)}")
    for m in models:
        if not 0.0 <= float(accuracies[m]) <= 1.0:
            raise ValueError(f"accuracies[{m!r}] = {accuracies[m]} is not a fraction in [0, 1]")
    conf = confidence["confidence"].to_numpy(dtype=np.float64)
    if not (np.all(np.isfinite(conf)) and np.all((conf >= 0) & (conf <= 1))):
        raise ValueError("confidence values must be probabilities in [0, 1]")
    wrong = confidence[~confidence["correct"].astype(bool)]
    groups = {m: wrong.loc[wrong["model"] == m, "confidence"].to_numpy(dtype=np.float64) for m in models}
    colors = method_colors(models)
    # Eq. 4 over the two label tokens is >= 0.5 when renormalised; raw token probabilities can be lower.
    low = min(0.5, float(np.floor(wrong["confidence"].min() * 20) / 20)) if len(wrong) else 0.5
    use_style()
    fig, ax = plt.subplots(figsize=(4.4, 3.0), layout="constrained")
    labels = {m: f"{m} (acc {100 * float(accuracies[m]):.1f}%)" for m in models}
    plot_density(groups, ax, labels=labels, colors=colors, support=(low, 1.0))
    for m, values in groups.items():
        if len(values):
            ax.axvline(float(np.median(values)), color=colors[m], linestyle=":", linewidth=1)
    ax.set_xlabel("confidence max(p_true, p_false)")
    ax.set_title("BoolQ test: confidence of wrong predictions")
    return fig


_ITER_RE = re.compile(r"^iter(\d+)$")


def _iter_columns(entropy_matrix: pd.DataFrame) -> list[str]:
    if not isinstance(entropy_matrix, pd.DataFrame) or entropy_matrix.empty:
        raise ValueError("entropy_matrix must be a non-empty DataFrame")
    bad = [c for c in entropy_matrix.columns if not _ITER_RE.match(str(c))]
    if bad:
        raise KeyError(f"entropy_matrix columns must be iter0, iter1, ...; got {bad}")
    cols = sorted(entropy_matrix.columns, key=lambda c: int(_ITER_RE.match(c).group(1)))
    if cols[:2] != ["iter0", "iter1"]:
        raise KeyError(f"entropy_matrix needs columns iter0 (base model) and iter1; it has {cols}")
    if not np.all(np.isfinite(entropy_matrix[cols].to_numpy(dtype=np.float64))):
        raise ValueError("entropy_matrix has non-finite values")
    return cols


def _late_pair(cols: list[str], late: tuple[int, int]) -> tuple[str, str, bool]:
    """(x, y, fell_back): the ``late`` iterations, or the last two available ones."""
    if len(late) != 2 or not all(isinstance(t, int | np.integer) and t >= 0 for t in late) or late[0] == late[1]:
        raise ValueError(f"late must be two distinct non-negative iteration numbers, got {late!r}")
    x, y = f"iter{late[0]}", f"iter{late[1]}"
    if x in cols and y in cols:
        return x, y, False
    return cols[-2], cols[-1], True


def _check_corr_method(method: str) -> None:
    if method not in ("spearman", "pearson"):
        raise ValueError(f"unknown correlation method {method!r}; choose from ['pearson', 'spearman']")


def fig3_entropy_correlation(entropy_matrix: pd.DataFrame, method: str = "spearman",
                             late: tuple[int, int] = (5, 6)) -> Figure:  # fmt: skip
    """Fig. 3: (a) correlation of ME across iterations, (b) iter0 vs iter1, (c) iter5 vs iter6.

    (a) is ``DataFrame.corr(method)`` over the probe examples (Spearman by default, as rank
    agreement is what the acquisition uses; "pearson" is the other choice), its name in the
    title and colour bar. (b) and (c) scatter ME with the y = x line; (c) falls back to the last
    two iterations when ``late`` was not run, and its title says so.
    """
    _check_corr_method(method)
    cols = _iter_columns(entropy_matrix)
    x_late, y_late, fell_back = _late_pair(cols, late)
    corr = entropy_matrix[cols].astype(np.float64).corr(method=method)
    use_style()
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.8), layout="constrained", width_ratios=[1.3, 1, 1])
    name = method.capitalize()
    plot_heatmap(corr, ax=axes[0], cmap="coolwarm", vmin=-1.0, vmax=1.0, annotate=len(cols) <= 12,
                 cbar_label=f"{name} correlation")  # fmt: skip
    axes[0].set_title(f"(a) {name} correlation of ME, top-{len(entropy_matrix)} examples")
    for ax, (x, y), title in ((axes[1], ("iter0", "iter1"), "(b) base model vs iter1"),
                              (axes[2], (x_late, y_late), f"(c) {x_late} vs {y_late}")):  # fmt: skip
        plot_scatter_with_labels(entropy_matrix, x, y, ax=ax, diagonal=True, s=10, alpha=0.6)
        if fell_back and ax is axes[2]:
            title += f"\n(iter{late[0]}/iter{late[1]} not run: last two available)"
        ax.set_title(title)
        ax.set_xlabel(f"ME, {x}")
        ax.set_ylabel(f"ME, {y}")
    return fig


def fig5_learning_curves(records: pd.DataFrame, ci: float | str | None = 0.95) -> Figure:
    """Fig. 5: one panel per dataset, Table 1's methods with LoRA, mean +/- 95% bootstrap CI over seeds.

    Random is dashed (``plot_learning_curves`` draws the passive baseline so).
    """
    _check_records(records)
    lora = records[(records["adapter"] == "lora") & records["method"].isin(list(TABLE1_ROWS))]
    if lora.empty:
        raise ValueError(f"records hold no LoRA runs of Table 1's methods {list(TABLE1_ROWS)}")
    frame = _curves(lora, list(TABLE1_ROWS))
    frame["order"] = frame["dataset"].map({DATASET_NAMES[d]: i for i, d in enumerate(PAPER_DATASETS)})
    frame = frame.sort_values("order", kind="stable").drop(columns="order")
    return facet_learning_curves(frame, col="dataset", y="accuracy (%)", hue="method", ci=ci, panel_size=(3.4, 2.8))


# --------------------------------------------------------------------------- reading


def _verdict(ok: bool) -> str:
    return "holds" if ok else "does not hold"


def _fmt(values: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:+.2f}" for k, v in values.items())


def _claims_from_tables(t1: pd.DataFrame, t2: pd.DataFrame) -> dict[str, dict]:
    """Numbers for claims 1-3 from long (dataset, method, auc, ripl) frames with our method keys."""
    t1 = t1.set_index(["dataset", "method"])
    t2 = t2.set_index(["dataset", "method"])
    datasets = [d for d in PAPER_DATASETS if d in t1.index.get_level_values(0)]
    plain = {f"{d} {m.upper()}": t1.at[(d, m), "ripl"] for d in datasets for m in ("pe", "me") if (d, m) in t1.index}
    star = {f"{d} {TABLE1_ROWS[m]}": t1.at[(d, m), "ripl"] for d in datasets for m in ("pe_star", "me_star")
            if (d, m) in t1.index}  # fmt: skip
    gains = {}
    for d in datasets:
        for b in ("pe", "me"):
            keys = [(d, f"{b}_dyn"), (d, f"{b}_dyn_mc"), (d, f"{b}_dyn_wd")]
            if all(k in t2.index for k in keys):
                dyn, mc, wd = (t2.at[k, "auc"] for k in keys)
                gains[f"{d} {b.upper()}"] = (mc - dyn, wd - dyn)
    return {"plain": plain, "star": star, "gains": gains}


def _paper_long() -> tuple[pd.DataFrame, pd.DataFrame]:
    inverse = {v: k for k, v in PAPER_TABLE2_KEYS.items()}
    t2 = reference.star_table2()
    return reference.star_table1(), t2.assign(method=t2["method"].map(inverse))


def reading(records: pd.DataFrame, entropy_matrix: pd.DataFrame, confidence: pd.DataFrame,
            accuracies: Mapping[str, float], *, method: str = "spearman", late: tuple[int, int] = (5, 6)) -> str:  # fmt: skip
    """Check STAR's five claims at this scale; one markdown line per claim ending in a verdict.

    Each line: the claim, our numbers (and the paper's), then "holds", "does not hold", or
    "not checked (...)" when the inputs lack what the claim needs. Criteria:
    (1) mean |RIPL| of plain PE/ME is below the mean RIPL of PE/ME w/ STAR (LoRA);
    (2) RIPL > 0 for every PE w/ STAR and ME w/ STAR cell;
    (3) averaged over (dataset, base), MC dropout's AUC gain over +Dynamic exceeds weight decay's;
    (4) the median confidence of wrong predictions is higher for LoRA than for Few-shot;
    (5) ``method`` correlation of ME between iter0 and iter1 is below that of the ``late`` pair.
    """
    _check_columns(confidence, ("model", "correct", "confidence"), "confidence")
    _check_corr_method(method)
    cols = _iter_columns(entropy_matrix)
    x_late, y_late, _ = _late_pair(cols, late)
    ours = _mean_aucs(records)
    ours_claims = _claims_from_tables(ours, ours)
    paper_claims = _claims_from_tables(*_paper_long())
    lines = []

    def claim1(c):
        return np.mean(np.abs(list(c["plain"].values()))), np.mean(list(c["star"].values()))

    if ours_claims["plain"] and ours_claims["star"]:
        (a, b), (pa, pb) = claim1(ours_claims), claim1(paper_claims)
        lines.append(f"1. Plain AL is no better than Random with LoRA: mean |RIPL| of PE/ME {a:.2f} vs mean RIPL of "
                     f"STAR {b:.2f} (plain: {_fmt(ours_claims['plain'])}; paper {pa:.2f} vs {pb:.2f}) — {_verdict(a < b)}")  # fmt: skip
    else:
        lines.append("1. Plain AL is no better than Random with LoRA — not checked (needs PE or ME and a w/ STAR run)")
    if ours_claims["star"]:
        star = ours_claims["star"]
        lines.append(f"2. STAR beats Random (RIPL > 0): {_fmt(star)} (paper: {_fmt(paper_claims['star'])}) — "
                     f"{_verdict(all(v > 0 for v in star.values()))}")  # fmt: skip
    else:
        lines.append("2. STAR beats Random (RIPL > 0) — not checked (no PE/ME w/ STAR runs)")
    gains = ours_claims["gains"]
    if gains:
        mc, wd = (float(np.mean([g[i] for g in gains.values()])) for i in (0, 1))
        n_mc = sum(g[0] > g[1] for g in gains.values())
        pmc, pwd = (float(np.mean([g[i] for g in paper_claims["gains"].values()])) for i in (0, 1))
        lines.append(f"3. MC dropout adds more than weight decay on top of +Dynamic: mean AUC gain {mc:+.2f} vs "
                     f"{wd:+.2f} (MC larger in {n_mc}/{len(gains)} cells; paper {pmc:+.2f} vs {pwd:+.2f}) — "
                     f"{_verdict(mc > wd)}")  # fmt: skip
    else:
        lines.append("3. MC dropout adds more than weight decay — not checked (needs *_dyn, *_dyn_mc and *_dyn_wd runs)")
    wrong = confidence[~confidence["correct"].astype(bool)]
    med = {m: wrong.loc[wrong["model"] == m, "confidence"].median() for m in ("LoRA", "Few-shot")}
    if all(pd.notna(v) for v in med.values()) and all(m in accuracies for m in med):
        acc = ", ".join(f"{m} {100 * float(accuracies[m]):.1f}%" for m in med)
        ref = reference.load_reference("star")["probe"]
        lines.append(f"4. LoRA is overconfident when wrong: median confidence of wrong predictions LoRA "
                     f"{med['LoRA']:.3f} vs Few-shot {med['Few-shot']:.3f} (accuracy {acc}; paper accuracy "
                     f"{ref['boolq_accuracy_peft']:.2f}% vs {ref['boolq_accuracy_few_shot']:.2f}%) — "
                     f"{_verdict(med['LoRA'] > med['Few-shot'])}")  # fmt: skip
    else:
        lines.append("4. LoRA is overconfident when wrong — not checked (needs wrong predictions and accuracies of "
                     "both 'LoRA' and 'Few-shot')")  # fmt: skip
    early = later = np.nan
    if (x_late, y_late) != ("iter0", "iter1"):
        corr = entropy_matrix[cols].astype(np.float64).corr(method=method)
        early, later = corr.at["iter0", "iter1"], corr.at[x_late, y_late]
    if np.isnan(early) or np.isnan(later):
        lines.append("5. Uncertainty gap — not checked (needs iter0, iter1 and a later pair, none constant)")
    else:
        lines.append(f"5. Uncertainty gap: {method} correlation of ME base-vs-iter1 {early:.3f} vs {x_late}-vs-"
                     f"{y_late} {later:.3f} (paper: close to 0 for the base model) — {_verdict(early < later)}")  # fmt: skip
    return "\n".join(f"- {line}" for line in lines)
