"""STAR's dynamic mixing, lambda schedules, base-score cache, reference tables and register."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alkit import reference as R
from alkit import star as S

# --- min-max and schedules ------------------------------------------------------------------------


def test_minmax_hand_values():
    np.testing.assert_allclose(S.minmax(np.array([2.0, 4.0, 3.0, 6.0])), [0.0, 0.5, 0.25, 1.0])
    np.testing.assert_array_equal(S.minmax(np.array([3.0, 3.0])), [0.0, 0.0])
    assert S.minmax(np.array([])).shape == (0,)
    with pytest.raises(ValueError, match="NaN"):
        S.minmax(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="1-d"):
        S.minmax(np.ones((2, 2)))


def test_linear_schedule_is_the_authors_and_clips_at_zero():
    lam = S.get_schedule("linear")
    np.testing.assert_allclose(
        [lam(t) for t in range(11)], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0], atol=1e-12
    )
    assert S.get_schedule("linear", step=0.25)(1) == 0.5


def test_other_schedules_hand_values():
    assert S.get_schedule("constant")(7) == 0.5
    assert S.get_schedule("constant", value=0.0)(0) == 0.0
    cos = S.get_schedule("cosine", horizon=4)
    np.testing.assert_allclose(
        [cos(t) for t in range(5)], [0.5 * (1 + math.cos(math.pi * k / 4)) for k in (1, 2, 3, 4, 4)]
    )
    np.testing.assert_allclose(cos(1), 0.5)
    np.testing.assert_allclose(S.get_schedule("exp", tau=2.0)(1), math.exp(-1.0))


@pytest.mark.parametrize("name", sorted(S.LAMBDA_SCHEDULES))
def test_every_schedule_is_monotone_in_unit_interval(name):
    lam = S.get_schedule(name)
    values = np.array([lam(t) for t in range(30)])
    assert ((0 <= values) & (values <= 1)).all()
    assert (np.diff(values) <= 1e-12).all()


def test_schedule_errors_name_choices():
    with pytest.raises(ValueError, match="linear"):
        S.get_schedule("sigmoid")
    with pytest.raises(ValueError, match="step"):
        S.get_schedule("linear", tau=3.0)
    with pytest.raises(ValueError, match="value"):
        S.get_schedule("constant", value=1.5)
    with pytest.raises(ValueError, match="t must be"):
        S.get_schedule("linear")(-1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        S.dynamic_uncertainty([1.0, 2.0], [1.0, 2.0], 0, schedule=lambda t: 1.5)


def test_dynamic_uncertainty_hand_values():
    base = np.array([0.0, 10.0, 5.0])  # minmax -> 0, 1, 0.5
    full = np.array([30.0, 10.0, 20.0])  # minmax -> 1, 0, 0.5
    # t = 0: lambda = 0.9
    np.testing.assert_allclose(S.dynamic_uncertainty(base, full, 0), [0.1, 0.9, 0.5])
    # t = 6: lambda = 0.3
    np.testing.assert_allclose(S.dynamic_uncertainty(base, full, 6), [0.7, 0.3, 0.5])
    # t = 9 and later: the fine-tuned model only
    np.testing.assert_allclose(S.dynamic_uncertainty(base, full, 12), S.minmax(full))
    np.testing.assert_allclose(
        S.dynamic_uncertainty(base, full, 0, schedule=S.get_schedule("constant", value=1.0)), S.minmax(base)
    )
    with pytest.raises(ValueError, match="shape"):
        S.dynamic_uncertainty(base, full[:2], 0)


# --- base-score cache ----------------------------------------------------------------------------


def test_cached_base_uncertainty_computes_once(tmp_path, monkeypatch):
    monkeypatch.setenv("ALKIT_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return np.array([0.5, 1.5, 2.5])

    key = S.base_uncertainty_key("org/model", ["a", "b", "c"], "me", n=3, mc_passes=1, me_on="generated")
    first = S.cached_base_uncertainty(key, compute)
    second = S.cached_base_uncertainty(dict(key), compute)
    np.testing.assert_array_equal(first, second)
    assert len(calls) == 1
    assert len(list((tmp_path / "lm_scores").glob("*.npy"))) == 1
    assert not list((tmp_path / "lm_scores").glob("*.tmp"))  # atomic write leaves no temp file
    other = S.base_uncertainty_key("org/model", ["a", "b", "X"], "me", n=3, mc_passes=1, me_on="generated")
    S.cached_base_uncertainty(other, compute)
    assert len(calls) == 2  # a different pool content is a different key
    with pytest.raises(ValueError, match="n=3"):
        S.cached_base_uncertainty(S.base_uncertainty_key("m", "0123abcd", "pe", n=3), lambda: np.zeros(2))
    with pytest.raises(ValueError, match="n="):
        S.base_uncertainty_key("m", "0123abcd", "pe")
    assert S.base_uncertainty_key("m", ["a", "b"], "me")["n"] == 2
    # a precomputed content hash is used as is; the texts are hashed
    assert S.base_uncertainty_key("m", "0123abcd", "pe", n=3)["content"] == "0123abcd"
    assert (
        S.base_uncertainty_key("m", ["a"], "pe", n=1)["content"]
        != S.base_uncertainty_key("m", ["b"], "pe", n=1)["content"]
    )


# --- reference tables ----------------------------------------------------------------------------


def _interval_ripl(auc: float, random_auc: float) -> tuple[float, float]:
    """Range of RIPL (percent) when both AUCs are only known to +-0.005 (printed rounding)."""
    values = [
        100 * (auc + da - random_auc - dr) / (100 - random_auc - dr)
        for da in (-0.005, 0.005)
        for dr in (-0.005, 0.005)
    ]
    return min(values) - 0.005, max(values) + 0.005


@pytest.mark.parametrize("loader", [R.star_table1, R.star_table2])
def test_star_tables_load(loader):
    table = loader()
    assert set(R.TABLE_COLUMNS) <= set(table.columns)
    assert set(table["dataset"]) == {"gsm8k", "boolq", "obqa"}
    assert table.groupby("method").size().eq(3).all()
    assert table["auc"].between(0, 100).all()


def test_star_table1_values_spot_checks():
    t1 = R.star_table1().set_index(["method", "dataset"])
    assert t1.loc[("random", "gsm8k"), "auc"] == 27.37 and math.isnan(t1.loc[("random", "boolq"), "ripl"])
    assert t1.loc[("me_star", "obqa"), ["auc", "ripl"]].tolist() == [66.17, 7.47]
    assert t1.loc[("pe", "boolq"), ["auc", "ripl"]].tolist() == [58.39, -5.24]
    # the paper's text: ME w/ STAR on GSM8K "achieves an AUC of 28.83 and a RIPL of 2.01"
    assert t1.loc[("me_star", "gsm8k"), ["auc", "ripl"]].tolist() == [28.83, 2.01]


def test_ripl_recomputed_from_auc_within_rounding():
    inconsistent = set()
    for name, table in (("table1", R.star_table1()), ("table2", R.star_table2())):
        random_auc = R.star_table1().query("method == 'random'").set_index("dataset")["auc"]
        for row in table.dropna(subset=["ripl"]).itertuples():
            lo, hi = _interval_ripl(row.auc, random_auc[row.dataset])
            if not lo <= row.ripl <= hi:
                inconsistent.add((name, row.method, row.dataset))
    documented = {
        (c["table"], c["method"], c["dataset"]) for c in R.load_reference("star")["ripl_inconsistent"]
    }
    assert inconsistent == documented
    assert len(documented) == 6 and {n for n, _, _ in documented} == {"table2"}  # Table 1 is consistent
    # the documented cells do follow from the implied baseline 27.30
    t2 = R.star_table2().set_index(["method", "dataset"])
    for _, method, dataset in documented:
        lo, hi = _interval_ripl(t2.loc[(method, dataset), "auc"], 27.30)
        assert lo <= t2.loc[(method, dataset), "ripl"] <= hi


def test_table2_plain_rows_repeat_table1():
    t1 = R.star_table1().set_index(["method", "dataset"])
    t2 = R.star_table2().set_index(["method", "dataset"])
    for method in ("pe", "me"):
        for dataset in ("gsm8k", "boolq", "obqa"):
            assert (
                t1.loc[(method, dataset), ["auc", "ripl"]].tolist()
                == t2.loc[(method, dataset), ["auc", "ripl"]].tolist()
            )


# --- discrepancy register --------------------------------------------------------------------------


def test_discrepancies_load_and_cover_the_known_star_topics():
    frame = R.load_discrepancies()
    assert list(frame.columns) == list(R.DISCREPANCY_COLUMNS)
    assert frame["follows"].isin(R.FOLLOWS).all()
    assert not frame[list(R.DISCREPANCY_COLUMNS)].isna().any().any()
    star = R.load_discrepancies("star")
    topics = " ".join(star["topic"]).lower()
    for needle in (
        "learning rate",
        "seeds",
        "mc dropout",
        "weight decay",
        "lambda",
        "maximum entropy",
        "boolq",
        "base model",
        "evaluation",
    ):
        assert needle in topics, needle
    assert set(R.load_discrepancies("mteb_sweep")["paper"]) == {"nfl"}
    with pytest.raises(ValueError, match="star"):
        R.load_discrepancies("bert")


def test_discrepancies_markdown_renders_every_row():
    text = R.discrepancies_markdown("star")
    lines = text.strip().split("\n")
    assert lines[0].startswith("| topic |")
    assert len(lines) == 2 + len(R.load_discrepancies("star"))
    assert all(line.count(" | ") == 5 for line in lines[2:])  # no stray pipes inside cells


def test_load_reference_errors_and_copies():
    with pytest.raises(KeyError, match="star"):
        R.load_reference("nonexistent")
    ref = R.load_reference("star")
    ref["table1"].clear()
    assert isinstance(R.star_table1(), pd.DataFrame) and len(R.star_table1()) == 15
