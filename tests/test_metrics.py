"""Metrics against hand-computed values and reference implementations (scikit-learn, scipy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from alkit import metrics as m

# ---------------------------------------------------------------------------- per-round metrics


def test_accuracy_hand_and_validation():
    assert m.accuracy([0, 1, 1, 0], [0, 1, 0, 0]) == 0.75
    with pytest.raises(ValueError, match="y_true has 2 items but y_pred has 3|has 2 items"):
        m.accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        m.accuracy([], [])


def test_macro_f1_hand_values_and_absent_class():
    y_true, y_pred = [0, 0, 1, 1], [0, 1, 1, 1]
    # class 0: P=1, R=1/2, F=2/3; class 1: P=2/3, R=1, F=4/5; class 2 never occurs: F=0.
    assert m.macro_f1(y_true, y_pred) == pytest.approx((2 / 3 + 4 / 5) / 2, abs=1e-12)
    assert m.macro_f1(y_true, y_pred, labels=[0, 1, 2]) == pytest.approx((2 / 3 + 4 / 5 + 0) / 3, abs=1e-12)


def test_macro_f1_matches_sklearn_and_rejects_unknown_labels():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    ref = f1_score(y_true, y_pred, labels=list(range(6)), average="macro", zero_division=0)
    assert m.macro_f1(y_true, y_pred, labels=range(6)) == pytest.approx(ref, abs=1e-12)
    with pytest.raises(ValueError, match=r"\[4\]"):
        m.macro_f1([0, 1], [0, 4], labels=[0, 1, 2])


def test_exact_match_normalisation_and_multiple_refs():
    assert m.normalize_answer("  The  Cat, sat! ") == "cat sat"
    preds = ["The cat.", "b", "3.5"]
    refs = ["cat", ["a", "B!"], "35"]
    assert m.exact_match(preds, refs) == 1.0  # normalisation drops the decimal point: 3.5 == 35
    assert m.exact_match(preds, refs, normalize=False) == 0.0
    assert m.exact_match(["1", "2"], ["1", "3"], normalize=False) == 0.5
    with pytest.raises(ValueError, match="2 references"):
        m.exact_match(["a", "b"], ["a"])


def test_rouge_l_hand_values():
    # LCS("the cat sat", "the cat sat on the mat") = 3: P = 3/3, R = 3/6, F = 2/3.
    assert m.rouge_l(["the cat sat"], ["the cat sat on the mat"]) == pytest.approx(2 / 3, abs=1e-12)
    # Stemming makes "killed" match "kill": F = 1; without it LCS = 3 of 4 tokens each: F = 3/4.
    pred, ref = ["police killed the gunman"], ["police kill the gunman"]
    assert m.rouge_l(pred, ref) == pytest.approx(1.0)
    assert m.rouge_l(pred, ref, use_stemmer=False) == pytest.approx(0.75)
    # Best reference per prediction, then the mean over predictions: (1 + 0) / 2.
    assert m.rouge_l(["a b", "x"], [["c", "a b"], "y"]) == pytest.approx(0.5)


def test_ece_hand_example():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    y_true = np.array([0, 1, 1, 0])
    # 5 right-closed bins. (0.8,1]: {0.9 right} -> 1/4*|1-0.9|; (0.6,0.8]: {0.8 wrong, 0.7 right}
    # -> 2/4*|0.5-0.75|; (0.4,0.6]: {0.6 right} -> 1/4*|1-0.6|. Sum 0.025 + 0.125 + 0.1 = 0.25.
    assert m.expected_calibration_error(probs, y_true, n_bins=5) == pytest.approx(0.25, abs=1e-12)
    # One bin: |accuracy - mean confidence| = |0.75 - 0.75| = 0.
    assert m.expected_calibration_error(probs, y_true, n_bins=1) == pytest.approx(0.0, abs=1e-12)


def test_ece_mc_draws_are_averaged_and_input_is_checked():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    draws = np.stack([probs + 0.05 * np.array([1, -1]), probs - 0.05 * np.array([1, -1])], axis=2)
    y_true = [0, 1, 1, 0]
    assert m.expected_calibration_error(draws, y_true, 5) == pytest.approx(
        m.expected_calibration_error(probs, y_true, 5), abs=1e-12
    )
    with pytest.raises(ValueError, match="sum to 1"):
        m.expected_calibration_error(np.array([[0.5, 0.6]]), [0])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        m.expected_calibration_error(probs, [0, 1, 2, 0])


# ---------------------------------------------------------------------------- curve summaries


def test_learning_curve_auc_hand_curves():
    assert m.learning_curve_auc([0, 1, 2], [0, 1, 1]) == 0.75
    assert m.learning_curve_auc([0, 1, 2], [0, 1, 1], normalize=False) == 1.5
    # Uneven steps: 500 * (0.2 + 0.4) / 2 + 1000 * 0.4 = 550 over a range of 1500.
    assert m.learning_curve_auc([500, 1000, 2000], [0.2, 0.4, 0.4]) == pytest.approx(550 / 1500)
    assert m.learning_curve_auc([100, 250, 1000, 5000], [0.8] * 4) == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([0, 2, 1], [0, 1, 1], "strictly increasing"),
        ([0, 1, 1], [0, 1, 1], "strictly increasing"),
        ([0, 1], [0, 1, 1], "n_labeled has 2 items"),
        ([0], [1], "at least 2 points"),
        ([0, 1], [0, np.nan], "finite"),
    ],
)
def test_learning_curve_auc_validation(x, y, message):
    with pytest.raises(ValueError, match=message):
        m.learning_curve_auc(x, y)


def test_ripl_star_pe_gsm8k():
    value = m.ripl(27.30, 27.37)
    assert value == pytest.approx(-0.07 / 72.63 * 100, abs=1e-12)  # -0.0963789...
    assert round(value, 4) == -0.0964
    # Rounded it is -0.10; STAR's Table 1 prints -0.09, i.e. the paper truncated this entry.
    assert round(value, 2) == -0.10
    # The same number from AUCs as fractions.
    assert m.ripl(0.2730, 0.2737, max_score=1.0) == pytest.approx(value, abs=1e-9)


# STAR Table 1 (AUC, RANDOM AUC, printed RIPL). Two entries (-0.09, -0.28) are truncated rather
# than rounded, hence a tolerance of 0.01. (Table 2's GSM8K column is consistent with a random
# AUC of 27.30 instead, so it is not checked here.)
STAR_TABLE1 = [
    (27.30, 27.37, -0.09), (28.40, 27.37, 1.42), (27.16, 27.37, -0.28), (28.83, 27.37, 2.01),
    (58.39, 60.46, -5.24), (61.84, 60.46, 3.49), (60.65, 60.46, 0.48), (61.91, 60.46, 3.67),
    (63.05, 63.44, -1.07), (64.86, 63.44, 3.88), (63.36, 63.44, -0.22), (66.17, 63.44, 7.47),
]  # fmt: skip


@pytest.mark.parametrize(("auc", "random_auc", "printed"), STAR_TABLE1)
def test_ripl_reproduces_star_table1(auc, random_auc, printed):
    assert abs(m.ripl(auc, random_auc) - printed) <= 0.01 + 1e-9


def test_ripl_validation_and_from_curves():
    with pytest.raises(ValueError, match="undefined"):
        m.ripl(100.0, 100.0)
    with pytest.raises(ValueError, match="outside"):
        m.ripl(0.5, 120.0)
    # Normalised AUCs 0.75 (curve) and 0.5 (random): (0.75 - 0.5) / (1 - 0.5) * 100 = 50.
    assert m.ripl_from_curves([0, 1, 2], [0.5, 1.0, 0.5], [0.5, 0.5, 0.5]) == pytest.approx(50.0)
    assert m.ripl_from_curves([0, 1, 2], [50, 100, 50], [50, 50, 50], max_score=100.0) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="outside"):  # percent curves with the fraction scale
        m.ripl_from_curves([0, 1, 2], [50, 100, 50], [50, 50, 50])


def test_curve_aucs_per_group():
    df = pd.DataFrame(
        {
            "strategy": ["a"] * 3 + ["b"] * 3,
            "n_labeled": [2, 0, 1, 0, 1, 2],  # unsorted rows are sorted by x per curve
            "accuracy": [1, 0, 1, 0.5, 0.5, 0.5],
        }
    )
    out = m.curve_aucs(df, "strategy")
    assert out.to_dict("list") == {"strategy": ["a", "b"], "auc": [0.75, 0.5]}
    with pytest.raises(KeyError, match="missing|not in the frame"):
        m.curve_aucs(df, ["dataset"])


# ---------------------------------------------------------------------------- comparisons over seeds


def test_bootstrap_ci_matches_scipy_and_brackets_the_mean():
    values = np.array([0.60, 0.62, 0.61, 0.63, 0.90])  # skewed: percentile != basic interval
    mean, lo, hi = m.bootstrap_ci(values, n_boot=2000, level=0.95, rng=7)
    ref = stats.bootstrap(
        (values,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(7)
    ).confidence_interval
    assert mean == pytest.approx(values.mean())
    assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert values.min() <= lo < mean < hi <= values.max()
    assert m.bootstrap_ci(values, rng=7) == m.bootstrap_ci(values, rng=7)
    _, lo90, hi90 = m.bootstrap_ci(values, level=0.90, rng=7)
    assert lo <= lo90 and hi90 <= hi


def test_bootstrap_ci_degenerate_inputs():
    assert m.bootstrap_ci([0.8]) == (0.8, 0.8, 0.8)
    assert m.bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="non-empty and finite"):
        m.bootstrap_ci([])
    with pytest.raises(ValueError, match="level"):
        m.bootstrap_ci([1.0, 2.0], level=95)


@pytest.fixture
def runs() -> pd.DataFrame:
    """Two datasets x two seeds x three methods; c is missing one run (dataset y, seed 1)."""
    rows = [
        # dataset, seed, method, auc
        ("x", 0, "a", 0.70), ("x", 0, "b", 0.60), ("x", 0, "c", 0.70),
        ("x", 1, "a", 0.50), ("x", 1, "b", 0.55), ("x", 1, "c", 0.40),
        ("y", 0, "a", 0.80), ("y", 0, "b", 0.80), ("y", 0, "c", 0.90),
        ("y", 1, "a", 0.30), ("y", 1, "b", 0.20),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["dataset", "seed", "method", "auc"])


def test_paired_wins_hand_counts(runs):
    out = m.paired_wins(runs, "dataset", "method", "auc", "seed").set_index(["method", "opponent"])
    # a vs b: x0 win, x1 loss, y0 tie, y1 win -> 2 wins, 1 tie, 1 loss; rate 2/3 (tie excluded).
    assert out.loc[("a", "b"), ["n_pairs", "wins", "ties", "losses"]].tolist() == [4, 2, 1, 1]
    assert out.loc[("a", "b"), "win_rate"] == pytest.approx(2 / 3)
    assert out.loc[("b", "a"), ["wins", "ties", "losses"]].tolist() == [1, 1, 2]
    # a vs c: only the three blocks that hold c pair up: x0 tie, x1 win, y0 loss.
    assert out.loc[("a", "c"), ["n_pairs", "wins", "ties", "losses"]].tolist() == [3, 1, 1, 1]
    assert out.loc[("a", "c"), "win_rate"] == pytest.approx(0.5)
    assert len(out) == 6  # every ordered pair


def test_paired_wins_baseline_and_tolerance(runs):
    out = m.paired_wins(runs, ["dataset"], "method", "auc", "seed", baseline="b", tol=0.06)
    assert out["opponent"].unique().tolist() == ["b"]
    assert out["method"].tolist() == ["a", "c"]
    a = out.iloc[0]
    # |diff| <= 0.06 is a tie now: x1 (-0.05) and y0 (0) tie; x0 (+0.1) and y1 (+0.1) are wins.
    assert (a.wins, a.ties, a.losses, a.win_rate) == (2, 2, 0, 1.0)
    with pytest.raises(ValueError, match="choose from"):
        m.paired_wins(runs, "dataset", "method", "auc", "seed", baseline="zzz")
    with pytest.raises(ValueError, match="several rows"):
        m.paired_wins(runs, [], "method", "auc", "seed")  # seeds repeat across datasets
    with pytest.raises(KeyError, match="emb"):
        m.paired_wins(runs, "emb", "method", "auc", "seed")


def test_mean_ranks_hand_values(runs):
    with pytest.warns(UserWarning, match="dropped 1 of 4 blocks"):
        ranks = m.mean_ranks(runs, "dataset", "method", "auc")
    # x0: a=c tie for best (1.5, 1.5), b 3; x1: b 1, a 2, c 3; y0: c 1, a=b (2.5, 2.5).
    # y1 lacks c and is dropped. Means: a (1.5+2+2.5)/3, b (3+1+2.5)/3, c (1.5+3+1)/3.
    expected = pd.Series({"a": 6 / 3, "b": 6.5 / 3, "c": 5.5 / 3})
    assert ranks.index.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(ranks.to_numpy(), expected.to_numpy())
    # Reference: scipy's average ranks of the negated values, block by block.
    blocks = [[0.70, 0.60, 0.70], [0.50, 0.55, 0.40], [0.80, 0.80, 0.90]]
    ref = np.mean([stats.rankdata(-np.array(b), method="average") for b in blocks], axis=0)
    np.testing.assert_allclose(ranks.to_numpy(), ref)


def test_mean_ranks_by_outer_level(runs):
    # Per dataset: y has no c at all in seed 1, but c exists in y, so block y1 is still dropped.
    with pytest.warns(UserWarning):
        table = m.mean_ranks(runs, [], "method", "auc", by="dataset")
    assert table.index.tolist() == ["x", "y"]
    np.testing.assert_allclose(table.loc["x"].to_numpy(), [(1.5 + 2) / 2, (3 + 1) / 2, (1.5 + 3) / 2])
    np.testing.assert_allclose(table.loc["y"].to_numpy(), [2.5, 2.5, 1.0])
    # A level where a method never ran ranks the methods it has (b only in dataset z).
    extra = pd.DataFrame({"dataset": ["z", "z"], "seed": [0, 0], "method": ["a", "b"], "auc": [0.1, 0.2]})
    table = m.mean_ranks(pd.concat([runs[runs.dataset == "x"], extra]), [], "method", "auc", by="dataset")
    assert table.loc["z"].tolist()[:2] == [2.0, 1.0] and np.isnan(table.loc["z", "c"])
