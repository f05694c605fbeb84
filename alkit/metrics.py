"""Evaluation metrics, learning-curve summaries and seed-level comparisons.

Per-round metrics (``accuracy``, ``macro_f1``, ``exact_match``, ``rouge_l``,
``expected_calibration_error``) return fractions in [0, 1]. Curve summaries follow the papers:
``learning_curve_auc`` is on the metric's own scale, ``ripl`` is STAR's Relative Improvement over
Passive Learning in percent. ``bootstrap_ci``, ``paired_wins`` and ``mean_ranks`` compare methods
over seeds. numpy / scipy / scikit-learn / pandas only: importing this module never pulls in torch.
"""

from __future__ import annotations

import re
import string
import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from sklearn.metrics import f1_score

from alkit.types import Probs


def _same_length(a: npt.ArrayLike, b: npt.ArrayLike, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"{names[0]} and {names[1]} must be 1-d, got shapes {a.shape} and {b.shape}")
    if len(a) != len(b):
        raise ValueError(f"{names[0]} has {len(a)} items but {names[1]} has {len(b)}")
    if len(a) == 0:
        raise ValueError(f"{names[0]} and {names[1]} are empty")
    return a, b


# ---------------------------------------------------------------------------- per-round metrics


def accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Fraction of ``y_pred`` equal to ``y_true`` (both shape (n,)), in [0, 1]."""
    y_true, y_pred = _same_length(y_true, y_pred, ("y_true", "y_pred"))
    return float(np.mean(y_true == y_pred))


def macro_f1(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, labels: npt.ArrayLike | None = None) -> float:
    """Unweighted mean of per-class F1 (scikit-learn ``f1_score(average="macro")``), in [0, 1].

    Pass ``labels`` (every class of the task) so that a class absent from both ``y_true`` and
    ``y_pred`` still counts, with F1 = 0 (``zero_division=0``); without it only the classes seen
    in either array are averaged, which flatters small evaluation sets.
    """
    y_true, y_pred = _same_length(y_true, y_pred, ("y_true", "y_pred"))
    if labels is not None:
        labels = np.asarray(labels)
        unknown = set(np.unique(np.concatenate([y_true, y_pred])).tolist()) - set(labels.tolist())
        if unknown:
            raise ValueError(f"labels {sorted(unknown)} are not in labels={labels.tolist()}")
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD / NIV2 answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _as_refs(refs: Sequence[str | Sequence[str]], n: int) -> list[list[str]]:
    if isinstance(refs, str) or len(refs) != n:
        raise ValueError(f"refs must be a sequence of {n} references (one per prediction)")
    out = [[r] if isinstance(r, str) else list(r) for r in refs]
    if any(len(r) == 0 for r in out):
        raise ValueError("every prediction needs at least one reference")
    return out


def exact_match(preds: Sequence[str], refs: Sequence[str | Sequence[str]], normalize: bool = True) -> float:
    """Fraction of predictions equal to one of their references, in [0, 1].

    Parameters
    ----------
    preds : sequence of n strings
    refs : sequence of n strings, or of n lists of acceptable strings (best match counts, as
        NIV2's ``metric_max_over_ground_truths``)
    normalize : compare ``normalize_answer`` forms (NIV2 / Tk-Instruct convention). It deletes
        punctuation, so "3.5" equals "35": compare extracted numbers with ``normalize=False``.
    """
    if isinstance(preds, str) or len(preds) == 0:
        raise ValueError("preds must be a non-empty sequence of strings")
    ref_lists = _as_refs(refs, len(preds))
    norm = normalize_answer if normalize else (lambda s: s)
    hits = [any(norm(p) == norm(r) for r in rs) for p, rs in zip(preds, ref_lists, strict=True)]
    return float(np.mean(hits))


def rouge_l(preds: Sequence[str], refs: Sequence[str | Sequence[str]], use_stemmer: bool = True) -> float:
    """Mean ROUGE-L F-measure (``rouge-score`` package, its default English tokenizer), in [0, 1].

    Each prediction takes its best reference, as in NIV2 / Tk-Instruct evaluation, which is what
    Active Instruction Tuning reports; the paper prints ROUGE-L x 100 (multiply by 100 to compare).
    Porter stemming is on by default, as there.

    Parameters
    ----------
    preds : sequence of n generated strings
    refs : sequence of n reference strings, or of n lists of references
    """
    from rouge_score import rouge_scorer  # absl/nltk import only when ROUGE is used

    if isinstance(preds, str) or len(preds) == 0:
        raise ValueError("preds must be a non-empty sequence of strings")
    ref_lists = _as_refs(refs, len(preds))
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)
    # RougeScorer.score(target, prediction): reference first.
    best = [
        max(scorer.score(r, p)["rougeL"].fmeasure for r in rs) for p, rs in zip(preds, ref_lists, strict=True)
    ]
    return float(np.mean(best))


def expected_calibration_error(probs: Probs, y_true: npt.ArrayLike, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence (Guo et al., 2017), in [0, 1].

    ``ECE = sum_b |B_b| / n * |acc(B_b) - conf(B_b)|`` over ``n_bins`` equal-width bins
    ``((b-1)/M, b/M]`` of the confidence ``max_c probs[i, c]`` (a confidence of exactly 0 goes
    to the first bin); ``acc`` is the fraction of argmax predictions that are right.

    Parameters
    ----------
    probs : ndarray of shape (n, n_classes), or (n, n_classes, K) for K stochastic passes,
        which are averaged first (the MC-dropout predictive distribution)
    y_true : ndarray of shape (n,), class ids in [0, n_classes)
    n_bins : number of confidence bins M (15 as in Guo et al.)
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 3:
        probs = probs.mean(axis=2)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"probs must have shape (n, n_classes) or (n, n_classes, K), got {probs.shape}")
    y_true = np.asarray(y_true).reshape(-1)
    if len(y_true) != len(probs):
        raise ValueError(f"probs has {len(probs)} rows but y_true has {len(y_true)} items")
    if not (isinstance(n_bins, int | np.integer) and n_bins >= 1):
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    if np.any(probs < 0) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("rows of probs must be non-negative and sum to 1")
    if np.any((y_true < 0) | (y_true >= probs.shape[1])):
        raise ValueError(f"y_true must hold class ids in [0, {probs.shape[1]})")
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    bin_idx = np.searchsorted(inner_edges, conf, side="left")  # right-closed bins
    ece = 0.0
    for b in np.unique(bin_idx):
        in_bin = bin_idx == b
        ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return float(ece)


# ---------------------------------------------------------------------------- curve summaries


def learning_curve_auc(n_labeled: npt.ArrayLike, values: npt.ArrayLike, normalize: bool = True) -> float:
    """Area under a learning curve by the trapezoidal rule over the labelled-set sizes.

    ``AUC = sum_i (x_{i+1} - x_i) * (y_i + y_{i+1}) / 2``; with ``normalize`` it is divided by
    ``x_last - x_first``, which puts it on the metric's own scale (a constant curve at 0.8 has AUC
    0.8) and makes curves with different budgets comparable. STAR (Appendix C, Tables 1-2)
    reports this AUC in percent, i.e. of accuracies x 100: pass values in percent, or multiply.

    Parameters
    ----------
    n_labeled : shape (n_points,), strictly increasing labelled-set sizes (n_points >= 2)
    values : shape (n_points,), the metric at each size
    """
    x, y = _same_length(n_labeled, values, ("n_labeled", "values"))
    x, y = x.astype(np.float64), y.astype(np.float64)
    if len(x) < 2:
        raise ValueError(f"a learning curve needs at least 2 points, got {len(x)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("n_labeled and values must be finite (no NaN)")
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"n_labeled must be strictly increasing, got {x.tolist()}")
    area = float(np.trapezoid(y, x))
    return area / float(x[-1] - x[0]) if normalize else area


def ripl(auc: float, random_auc: float, *, max_score: float = 100.0) -> float:
    """STAR's Relative Improvement over Passive Learning, in percent.

    STAR (Appendix C, Eq. 8; reported in Tables 1 and 2) defines
    ``RIPL = (AUC(S_AL) - AUC(S_PL)) / (1 - AUC(S_PL))`` with AUCs as fractions, and prints it in
    percent with AUCs in percent: ``RIPL = (AUC - AUC_random) / (100 - AUC_random) * 100``. It is
    the share of the possible improvement over random sampling (passive learning) that the AL
    strategy achieves: 100 = perfect from the first round, < 0 = worse than random.

    Parameters
    ----------
    auc, random_auc : normalised AUCs (``learning_curve_auc``) of the strategy and of Random, on
        the scale whose best value is ``max_score`` (100 for percent, as in STAR; 1 for fractions)
    max_score : the best attainable AUC on that scale

    Examples
    --------
    STAR Table 1, PE on GSM8K: ``ripl(27.30, 27.37)`` = -0.0964 (the paper prints -0.09).
    """
    auc, random_auc = float(auc), float(random_auc)
    for name, v in (("auc", auc), ("random_auc", random_auc)):
        if not (0.0 <= v <= max_score):
            raise ValueError(f"{name}={v} is outside [0, max_score={max_score}]")
    if random_auc == max_score:
        raise ValueError("random_auc equals max_score: no improvement is possible, RIPL is undefined")
    return (auc - random_auc) / (max_score - random_auc) * 100.0


def ripl_from_curves(
    n_labeled: npt.ArrayLike, curve: npt.ArrayLike, random_curve: npt.ArrayLike, *, max_score: float = 1.0
) -> float:
    """RIPL in percent from two learning curves measured at the same labelled-set sizes.

    Both curves are reduced with ``learning_curve_auc(normalize=True)`` and passed to ``ripl``.
    ``max_score`` is the best value of the metric: 1.0 for the fractions alkit's metrics return,
    100.0 for curves in percent.
    """
    auc = learning_curve_auc(n_labeled, curve)
    random_auc = learning_curve_auc(n_labeled, random_curve)
    return ripl(auc, random_auc, max_score=max_score)


def curve_aucs(
    df: pd.DataFrame, by: Sequence[str], *, x: str = "n_labeled", y: str = "accuracy", normalize: bool = True
) -> pd.DataFrame:
    """``learning_curve_auc`` of every curve in a long frame: one row per ``by`` group, column ``auc``.

    ``by`` names the columns that identify one curve (e.g. dataset, strategy, seed).
    """
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise ValueError("by must name at least one column that identifies a curve")
    _check_columns(df, [*by, x, y])
    rows = []
    for key, group in df.groupby(by, sort=False, dropna=False):
        group = group.sort_values(x)
        rows.append((*key, learning_curve_auc(group[x], group[y], normalize=normalize)))
    return pd.DataFrame(rows, columns=[*by, "auc"])


# ---------------------------------------------------------------------------- comparisons over seeds


def bootstrap_ci(
    values: npt.ArrayLike, n_boot: int = 2000, level: float = 0.95, *, rng: np.random.Generator | int = 0
) -> tuple[float, float, float]:
    """Percentile bootstrap confidence interval of the mean (``scipy.stats.bootstrap``).

    Parameters
    ----------
    values : shape (n_seeds,), one value per seed (e.g. the final accuracy or the AUC)
    n_boot : bootstrap resamples
    level : confidence level in (0, 1)
    rng : generator or seed; the default 0 makes tables reproducible

    Returns
    -------
    (mean, lo, hi). One value, or identical values, give (v, v, v): no spread to resample.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be non-empty and finite, got {values.tolist()}")
    if not (0.0 < level < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    mean = float(values.mean())
    if np.ptp(values) == 0:
        return mean, mean, mean
    res = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_boot,
        confidence_level=level,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(rng),
    )
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def _check_columns(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the frame; it has {list(df.columns)}")


def _matched_table(df: pd.DataFrame, keys: list[str], method_col: str, value_col: str) -> pd.DataFrame:
    """Wide table: one row per ``keys`` block, one column per method (order of first appearance)."""
    if not keys:
        raise ValueError("pairing needs at least one key column (e.g. the seed)")
    _check_columns(df, [*keys, method_col, value_col])
    if df[value_col].isna().any():
        raise ValueError(f"column {value_col!r} has missing values")
    dup = df.duplicated([*keys, method_col])
    if dup.any():
        raise ValueError(
            f"several rows share the same {[*keys, method_col]}; add the distinguishing column to the "
            f"pairing keys. First duplicate: {df.loc[dup, [*keys, method_col]].iloc[0].to_dict()}"
        )
    methods = list(pd.unique(df[method_col]))
    wide = df.pivot(index=keys, columns=method_col, values=value_col)
    return wide[methods]


def paired_wins(
    df: pd.DataFrame,
    by: str | Sequence[str],
    method_col: str,
    value_col: str,
    seed_col: str,
    baseline: str | None = None,
    tol: float = 0.0,
) -> pd.DataFrame:
    """Seed-level paired win / tie / loss counts between methods (higher ``value_col`` is better).

    Two runs are a pair when they agree on ``seed_col`` and every ``by`` column (e.g. dataset,
    embedder, initial pool); only blocks holding both methods count. A tie is ``|diff| <= tol``.
    ``win_rate = wins / (wins + losses)``: ties are excluded from the rate (NaN if every pair tied).
    For a lower-is-better metric (e.g. ECE) pass its negation.

    Returns
    -------
    DataFrame with columns method, opponent, n_pairs, wins, ties, losses, win_rate: every ordered
    pair of methods, or each method against ``baseline`` when it is given.
    """
    by = [by] if isinstance(by, str) else list(by)
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    wide = _matched_table(df, [*by, seed_col], method_col, value_col)
    methods = list(wide.columns)
    if baseline is not None and baseline not in methods:
        raise ValueError(f"baseline {baseline!r} is not a method; choose from {methods}")
    opponents = methods if baseline is None else [baseline]
    rows = []
    for method in methods:
        for opponent in opponents:
            if method == opponent:
                continue
            both = wide[[method, opponent]].dropna()
            diff = both[method].to_numpy() - both[opponent].to_numpy()
            ties = int(np.sum(np.abs(diff) <= tol))
            wins = int(np.sum(diff > tol))
            losses = int(np.sum(diff < -tol))
            win_rate = wins / (wins + losses) if wins + losses else np.nan
            rows.append((method, opponent, len(diff), wins, ties, losses, win_rate))
    return pd.DataFrame(rows, columns=["method", "opponent", "n_pairs", "wins", "ties", "losses", "win_rate"])


def mean_ranks(
    df: pd.DataFrame,
    group_cols: str | Sequence[str],
    method_col: str,
    value_col: str,
    *,
    seed_col: str | None = "seed",
    by: str | Sequence[str] | None = None,
) -> pd.Series | pd.DataFrame:
    """Mean rank of each method (1 = best, highest ``value_col``) over matched blocks.

    A block is one combination of ``by``, ``group_cols`` and ``seed_col`` (e.g. one dataset x
    initial pool x seed); within it the methods are ranked, and ranks are averaged over blocks.
    Only blocks holding every method (of that ``by`` level) are used, so ranks are comparable;
    incomplete blocks are dropped with a warning. Tied methods share the average of the ranks
    they span (two methods tied for best both get 1.5), so a tie neither rewards nor penalises
    either side against the other, matching ``paired_wins``, which leaves ties out of win rates.

    Returns
    -------
    Series (method -> mean rank) when ``by`` is None; else a DataFrame with one row per ``by``
    level and one column per method (e.g. embedder x strategy for a rank heatmap).
    """
    group_cols = [group_cols] if isinstance(group_cols, str) else list(group_cols)
    outer = [] if by is None else ([by] if isinstance(by, str) else list(by))
    keys = [*outer, *group_cols, *([seed_col] if seed_col is not None else [])]
    wide = _matched_table(df, keys, method_col, value_col)
    if outer:
        present = wide.notna().groupby(level=outer, sort=False).transform("any")
        complete = (wide.notna() | ~present).all(axis=1)
    else:
        complete = wide.notna().all(axis=1)
    if not complete.all():
        warnings.warn(
            f"mean_ranks: dropped {int((~complete).sum())} of {len(wide)} blocks that miss a method",
            stacklevel=2,
        )
    wide = wide[complete]
    if wide.empty:
        raise ValueError("no block holds every method; nothing to rank")
    ranks = wide.rank(axis=1, method="average", ascending=False)
    if not outer:
        return ranks.mean(axis=0).rename("mean_rank").rename_axis(method_col)
    result = ranks.groupby(level=outer, sort=False).mean()
    result.columns.name = method_col
    return result
