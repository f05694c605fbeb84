"""STAR report: tables checked against hand-computed AUC / RIPL, figures by their artists, reading verdicts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from alkit import reference  # noqa: E402
from alkit import star_report as S  # noqa: E402
from alkit.metrics import bootstrap_ci  # noqa: E402
from alkit.star_experiment import METHODS  # noqa: E402

N_LABELED = (10, 20, 40)
SEED_SHIFT = {0: 0.01, 1: -0.01}  # two seeds, symmetric, so the seed mean is the listed curve

# Mean curves (accuracy at 10, 20, 40 labels). Normalised trapezoid over [10, 40]:
# AUC = (10 (y0 + y1) / 2 + 20 (y1 + y2) / 2) / 30 = (y0 + 3 y1 + 2 y2) / 6.
BOOLQ = {
    "random": (0.50, 0.50, 0.50),  # AUC 50
    "pe": (0.44, 0.50, 0.53),  # (0.44 + 1.50 + 1.06) / 6 = 0.50 -> RIPL 0
    "me": (0.50, 0.50, 0.47),  # 2.94 / 6 = 0.49 -> RIPL (49 - 50) / 50 = -2
    "pe_dyn": (0.50, 0.50, 0.56),  # 52 -> 4
    "pe_dyn_mc": (0.50, 0.60, 0.60),  # 58.333 -> 16.667
    "pe_dyn_wd": (0.50, 0.50, 0.62),  # 54 -> 8
    "pe_star": (0.50, 0.60, 0.70),  # 61.667 -> 23.333
    "me_dyn": (0.50, 0.50, 0.53),  # 51 -> 2
    "me_dyn_mc": (0.50, 0.55, 0.55),  # 54.167 -> 8.333
    "me_dyn_wd": (0.50, 0.50, 0.59),  # 53 -> 6
    "me_star": (0.56, 0.56, 0.56),  # 56 -> 12
}
BOOLQ_AUC = {"random": 50.0, "pe": 50.0, "me": 49.0, "pe_dyn": 52.0, "pe_dyn_mc": 175 / 3, "pe_dyn_wd": 54.0,
             "pe_star": 185 / 3, "me_dyn": 51.0, "me_dyn_mc": 325 / 6, "me_dyn_wd": 53.0, "me_star": 56.0}  # fmt: skip
BOOLQ_RIPL = {"pe": 0.0, "me": -2.0, "pe_dyn": 4.0, "pe_dyn_mc": 50 / 3, "pe_dyn_wd": 8.0, "pe_star": 70 / 3,
              "me_dyn": 2.0, "me_dyn_mc": 25 / 3, "me_dyn_wd": 6.0, "me_star": 12.0}  # fmt: skip
OBQA = {"random": (0.60, 0.60, 0.60), "me_star": (0.70, 0.70, 0.70)}  # AUC 60 and 70 -> RIPL 25


def make_records(curves: dict[tuple[str, str, str], tuple[float, ...]], seeds=(0, 1)) -> pd.DataFrame:
    rows = []
    for (dataset, adapter, method), curve in curves.items():
        for seed in seeds:
            for rnd, (n, acc) in enumerate(zip(N_LABELED, curve, strict=True)):
                rows.append((dataset, adapter, method, seed, rnd, n, acc + SEED_SHIFT[seed], "extra"))
    cols = ["dataset", "adapter", "method", "seed", "round", "n_labeled", "accuracy", "run"]
    return pd.DataFrame(rows, columns=cols)


@pytest.fixture
def records() -> pd.DataFrame:
    curves = {("boolq", "lora", m): c for m, c in BOOLQ.items()}
    curves |= {("obqa", "lora", m): c for m, c in OBQA.items()}
    curves |= {("boolq", "full", "random"): (0.5, 0.5, 0.5), ("boolq", "full", "me"): (0.5, 0.6, 0.7)}
    return make_records(curves)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- AUC and tables


def test_aucs_are_percent_normalised_trapezoids(records):
    out = S.aucs(records)
    assert list(out.columns) == ["dataset", "adapter", "method", "seed", "auc"]
    assert len(out) == 2 * (len(BOOLQ) + len(OBQA) + 2)
    lora = out[(out["dataset"] == "boolq") & (out["adapter"] == "lora")].set_index(["method", "seed"])["auc"]
    for method, auc in BOOLQ_AUC.items():  # seed shifts of +-0.01 move the AUC by +-1 point
        np.testing.assert_allclose([lora[(method, 0)], lora[(method, 1)]], [auc + 1, auc - 1], atol=1e-9)
    full_me = out.query("adapter == 'full' and method == 'me' and seed == 0")["auc"].item()
    np.testing.assert_allclose(full_me, (0.51 + 3 * 0.61 + 2 * 0.71) / 6 * 100)


def test_aucs_rejects_bad_records(records):
    with pytest.raises(ValueError, match="percent"):
        S.aucs(records.assign(accuracy=records["accuracy"] * 100))
    with pytest.raises(ValueError, match="unknown method"):
        S.aucs(records.replace({"method": {"me": "bald"}}))
    with pytest.raises(KeyError, match="n_labeled"):
        S.aucs(records.drop(columns="n_labeled"))
    with pytest.raises(ValueError, match="several rows"):
        S.aucs(pd.concat([records, records.iloc[:1]]))
    short = records.drop(records.index[(records["method"] == "pe") & (records["round"] == 2)])
    with pytest.raises(ValueError, match="different budgets"):
        S.aucs(short)


def test_table1_matches_hand_computed_auc_ripl_and_reference(records):
    t1 = S.table1(records)
    assert list(t1.index) == ["RANDOM", "PE", "PE w/ STAR", "ME", "ME w/ STAR"]
    assert t1.index.name == "method"
    assert list(t1.columns) == [f"{d} {c}" for d in ("boolq", "obqa")
                                for c in ("AUC", "RIPL", "AUC (paper)", "RIPL (paper)")]  # fmt: skip
    keys = dict(zip(t1.index, ["random", "pe", "pe_star", "me", "me_star"], strict=True))
    for label, method in keys.items():
        np.testing.assert_allclose(t1.at[label, "boolq AUC"], BOOLQ_AUC[method], atol=1e-9)
        if method != "random":
            np.testing.assert_allclose(t1.at[label, "boolq RIPL"], BOOLQ_RIPL[method], atol=1e-9)
    assert t1.at["RANDOM", "boolq RIPL"] == "-" and t1.at["RANDOM", "boolq RIPL (paper)"] == "-"
    np.testing.assert_allclose(t1.at["ME w/ STAR", "obqa AUC"], 70.0)
    np.testing.assert_allclose(t1.at["ME w/ STAR", "obqa RIPL"], (70 - 60) / (100 - 60) * 100)
    assert np.isnan(t1.at["PE", "obqa AUC"]) and np.isnan(t1.at["PE", "obqa RIPL"])  # not run
    paper = reference.star_table1().set_index(["dataset", "method"])
    for label, method in keys.items():
        for d in ("boolq", "obqa"):
            assert t1.at[label, f"{d} AUC (paper)"] == paper.at[(d, method), "auc"]
            if method != "random":
                assert t1.at[label, f"{d} RIPL (paper)"] == paper.at[(d, method), "ripl"]
    assert t1.at["ME w/ STAR", "obqa RIPL (paper)"] == 7.47 and t1.at["PE", "boolq AUC (paper)"] == 58.39


def test_table1_takes_a_custom_paper_frame_and_needs_random(records):
    paper = pd.DataFrame({"dataset": ["boolq"], "method": ["me"], "auc": [1.5], "ripl": [2.5]})
    t1 = S.table1(records, paper=paper)
    assert t1.at["ME", "boolq AUC (paper)"] == 1.5 and t1.at["ME", "boolq RIPL (paper)"] == 2.5
    assert np.isnan(t1.at["PE", "boolq AUC (paper)"])
    with pytest.raises(ValueError, match="random"):
        S.table1(records[~((records["dataset"] == "obqa") & (records["method"] == "random"))])


def test_table1_reproduces_the_papers_ripl_from_its_aucs():
    """Constant curves at the paper's AUCs: our AUC is the paper's, our RIPL its printed value +-0.01
    (the paper truncates some cells: -0.0964 is printed -0.09, -0.289 is -0.28)."""
    t1ref = reference.star_table1()
    curves = {(r.dataset, "lora", r.method): (r.auc / 100,) * 3 for r in t1ref.itertuples()}
    t1 = S.table1(make_records(curves, seeds=(0,)).assign(accuracy=lambda f: f["accuracy"] - 0.01))
    assert [c.split()[0] for c in t1.columns[::4]] == ["gsm8k", "boolq", "obqa"]  # the paper's order
    for d in ("gsm8k", "boolq", "obqa"):
        np.testing.assert_allclose(t1[f"{d} AUC"], t1[f"{d} AUC (paper)"], atol=1e-9)
        ours = t1[f"{d} RIPL"].iloc[1:].astype(float)
        np.testing.assert_allclose(ours, t1[f"{d} RIPL (paper)"].iloc[1:].astype(float), atol=0.01)


def test_table2_rows_values_and_paper_columns(records):
    t2 = S.table2(records)
    assert t2.index.names == ["base", "method"]
    assert list(t2.index) == [(b, n) for b in ("PE", "ME") for n in (b, "+Dynamic", "+MC dropout", "+L2 weight decay")]
    for base, method, label in S.TABLE2_ROWS:
        np.testing.assert_allclose(t2.at[(base, label), "boolq AUC"], BOOLQ_AUC[method], atol=1e-9)
        np.testing.assert_allclose(t2.at[(base, label), "boolq RIPL"], BOOLQ_RIPL[method], atol=1e-9)
    assert t2.at[("PE", "+MC dropout"), "boolq AUC (paper)"] == 61.30
    assert t2.at[("PE", "+MC dropout"), "boolq RIPL (paper)"] == 2.12
    assert t2.at[("ME", "+L2 weight decay"), "obqa AUC (paper)"] == 64.72
    assert np.isnan(t2.at[("ME", "+Dynamic"), "obqa AUC"])  # not run on obqa


def test_table2_keys_match_reference_components():
    """Our *_dyn_mc is the paper's "+Monte-Carlo dropout" row: same base, same components."""
    paper = reference.star_table2().drop_duplicates("method").set_index("method")
    names = {"dynamic": 1, "mc_dropout": 2, "weight_decay_B": 3}
    for ours, theirs in S.PAPER_TABLE2_KEYS.items():
        flags = METHODS[ours]
        assert paper.at[theirs, "base"] == flags[0]
        assert {names[c] for c in paper.at[theirs, "components"]} == {i for i in (1, 2, 3) if flags[i]}


def test_table1_long_ci_and_paired_ripl(records):
    long = S.table1_long(records)
    assert list(zip(long["dataset"], long["method"], strict=True)) == [
        ("boolq", m) for m in ("random", "pe", "pe_star", "me", "me_star")] + [("obqa", "random"), ("obqa", "me_star")]
    row = long.set_index(["dataset", "method"]).loc[("boolq", "me_star")]
    assert row["n_seeds"] == 2 and row["label"] == "ME w/ STAR"
    mean, lo, hi = bootstrap_ci([57.0, 55.0])
    np.testing.assert_allclose([row["auc"], row["auc_lo"], row["auc_hi"]], [mean, lo, hi])
    assert row["auc_ci"] == f"{mean:.2f} ± {(hi - lo) / 2:.2f}"
    np.testing.assert_allclose(row["ripl"], 12.0)
    paired = [(57 - 51) / 49 * 100, (55 - 49) / 51 * 100]  # seed s against Random's seed s
    np.testing.assert_allclose(row["ripl_paired"], np.mean(paired))
    np.testing.assert_allclose([row["ripl_paired_lo"], row["ripl_paired_hi"]], bootstrap_ci(paired)[1:])
    assert row["n_pairs"] == 2
    assert np.isnan(long.set_index(["dataset", "method"]).at[("boolq", "random"), "ripl_paired"])
    with pytest.raises(ValueError, match="unknown methods"):
        S.table1_long(records, methods=["nope"])


def test_method_label():
    assert S.method_label("pe_dyn_mc") == "PE +Dynamic +MC dropout"
    assert S.method_label("me_star") == "ME w/ STAR"
    with pytest.raises(ValueError, match="choose from"):
        S.method_label("star")


# --------------------------------------------------------------------------- figures


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_fig1_panels_lines_and_not_run(records):
    fig = S.fig1_al_vs_passive(records)
    assert len(fig.axes) == 4  # 2 rows x (boolq, obqa)
    (a_boolq, a_obqa), (b_boolq, b_obqa) = np.asarray(fig.axes).reshape(2, 2)
    assert a_boolq.get_title() == "(a) LoRA: BoolQ" and b_boolq.get_title() == "(b) full fine-tuning: BoolQ"
    assert [ln.get_label() for ln in a_boolq.get_lines()] == ["RANDOM", "ME"]
    assert a_boolq.get_lines()[0].get_linestyle() == "--"
    np.testing.assert_allclose(a_boolq.get_lines()[1].get_ydata(), [50, 50, 47], atol=1e-9)  # seed mean, %
    np.testing.assert_allclose(b_boolq.get_lines()[1].get_ydata(), [50, 60, 70], atol=1e-9)
    assert "ME not run" in _texts(a_obqa)  # obqa LoRA has Random and ME w/ STAR, no ME
    assert _texts(b_obqa) == ["not run"] and not b_obqa.get_lines()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["RANDOM", "ME"]
    fig = S.fig1_al_vs_passive(records, al_method="pe_star")
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["RANDOM", "PE w/ STAR"]
    with pytest.raises(ValueError, match="al_method"):
        S.fig1_al_vs_passive(records, al_method="random")


def test_fig5_one_panel_per_dataset_table1_methods(records):
    fig = S.fig5_learning_curves(records)
    assert [ax.get_title() for ax in fig.axes] == ["BoolQ", "OpenBookQA"]
    boolq = fig.axes[0]
    assert [ln.get_label() for ln in boolq.get_lines()] == ["RANDOM", "PE", "PE w/ STAR", "ME", "ME w/ STAR"]
    assert [ln.get_linestyle() for ln in boolq.get_lines()] == ["--", "-", "-", "-", "-"]
    np.testing.assert_allclose(boolq.get_lines()[2].get_ydata(), [50, 60, 70], atol=1e-9)
    assert len(boolq.collections) == 5  # one CI band per method (two seeds)
    assert [ln.get_label() for ln in fig.axes[1].get_lines()] == ["RANDOM", "ME w/ STAR"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["RANDOM", "PE", "PE w/ STAR", "ME", "ME w/ STAR"]


def _confidence(lora_wrong, fewshot_wrong):
    frames = []
    for model, wrong in (("LoRA", lora_wrong), ("Few-shot", fewshot_wrong)):
        frames.append(pd.DataFrame({"model": model, "correct": False, "confidence": wrong}))
        frames.append(pd.DataFrame({"model": model, "correct": True, "confidence": [0.99, 0.95, 0.51]}))
    return pd.concat(frames, ignore_index=True)


LORA_WRONG = [0.9, 0.85, 0.8, 0.95, 0.7]
FEWSHOT_WRONG = [0.55, 0.6, 0.52, 0.65, 0.58, 0.5]
ACC = {"LoRA": 0.7336, "Few-shot": 0.4541}


def test_fig2_density_of_wrong_predictions_with_accuracies():
    fig = S.fig2_confidence_density(_confidence(LORA_WRONG, FEWSHOT_WRONG), ACC)
    (ax,) = fig.axes
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["LoRA (acc 73.4%) (n=5)", "Few-shot (acc 45.4%) (n=6)"]
    kde_line = ax.get_lines()[0]
    np.testing.assert_allclose(kde_line.get_ydata(), stats.gaussian_kde(LORA_WRONG)(kde_line.get_xdata()))
    assert kde_line.get_xdata()[0] == 0.5 and kde_line.get_xdata()[-1] == 1.0
    medians = [ln.get_xdata()[0] for ln in ax.get_lines()[2:]]
    np.testing.assert_allclose(medians, [np.median(LORA_WRONG), np.median(FEWSHOT_WRONG)])
    with pytest.raises(KeyError, match="Few-shot"):
        S.fig2_confidence_density(_confidence(LORA_WRONG, FEWSHOT_WRONG), {"LoRA": 0.7})
    with pytest.raises(ValueError, match="fraction"):
        S.fig2_confidence_density(_confidence(LORA_WRONG, FEWSHOT_WRONG), {"LoRA": 73.4, "Few-shot": 45.4})


def _entropy_matrix(n_iters: int, seed: int = 0, gap: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=40)
    tuned = rng.normal(size=40)
    cols = {"iter0": base}
    for t in range(1, n_iters + 1):
        cols[f"iter{t}"] = (tuned if gap else base) + 0.3 * t * rng.normal(size=40) / n_iters
    return pd.DataFrame(cols, index=pd.Index(np.arange(100, 140), name="id"))


def test_fig3_heatmap_is_spearman_and_scatters():
    em = _entropy_matrix(7)
    fig = S.fig3_entropy_correlation(em)
    heat, early, late = fig.axes[:3]
    assert len(fig.axes) == 4  # three panels and the heatmap's colour bar
    rho = stats.spearmanr(em.to_numpy()).statistic
    np.testing.assert_allclose(np.asarray(heat.images[0].get_array()), rho, atol=1e-12)
    assert "Spearman" in heat.get_title() and "top-40" in heat.get_title()
    assert [t.get_text() for t in heat.texts][:2] == ["1.00", format(rho[0, 1], ".2f")]
    np.testing.assert_allclose(early.collections[0].get_offsets(), em[["iter0", "iter1"]].to_numpy())
    np.testing.assert_allclose(late.collections[0].get_offsets(), em[["iter5", "iter6"]].to_numpy())
    assert late.get_title() == "(c) iter5 vs iter6"
    diagonal = early.get_lines()[0]
    np.testing.assert_allclose(diagonal.get_xdata(), diagonal.get_ydata())  # y = x
    pearson = S.fig3_entropy_correlation(em, method="pearson").axes[0]
    np.testing.assert_allclose(np.asarray(pearson.images[0].get_array()), np.corrcoef(em.to_numpy().T), atol=1e-12)
    assert "Pearson" in pearson.get_title()


def test_fig3_falls_back_to_last_two_iterations_and_validates():
    em = _entropy_matrix(3)
    late = S.fig3_entropy_correlation(em).axes[2]
    assert late.get_title().startswith("(c) iter2 vs iter3") and "iter5/iter6 not run" in late.get_title()
    with pytest.raises(ValueError, match="pearson"):
        S.fig3_entropy_correlation(em, method="kendall")
    with pytest.raises(KeyError, match="iter0"):
        S.fig3_entropy_correlation(em.drop(columns="iter0"))
    with pytest.raises(KeyError, match="iter0, iter1"):
        S.fig3_entropy_correlation(em.rename(columns={"iter3": "round3"}))


# --------------------------------------------------------------------------- reading


def _lines(text: str) -> list[str]:
    lines = text.splitlines()
    assert len(lines) == 5 and all(line.startswith(f"- {i}. ") for i, line in enumerate(lines, 1))
    return lines


def test_reading_holds_on_inputs_built_to_agree(records):
    text = S.reading(records, _entropy_matrix(7), _confidence(LORA_WRONG, FEWSHOT_WRONG), ACC)
    lines = _lines(text)
    assert all(line.endswith("— holds") for line in lines), text
    assert "mean |RIPL| of PE/ME 1.00 vs mean RIPL of STAR 20.11" in lines[0]  # (0 + 2) / 2; (70/3 + 12 + 25) / 3
    assert "paper 1.23 vs 3.66" in lines[0]
    assert "boolq PE w/ STAR +23.33, boolq ME w/ STAR +12.00, obqa ME w/ STAR +25.00" in lines[1]
    assert "mean AUC gain +4.75 vs +2.00 (MC larger in 2/2 cells" in lines[2]  # (19/3 + 19/6) / 2
    assert f"LoRA {np.median(LORA_WRONG):.3f} vs Few-shot {np.median(FEWSHOT_WRONG):.3f}" in lines[3]
    em = _entropy_matrix(7)
    early = stats.spearmanr(em["iter0"], em["iter1"]).statistic
    later = stats.spearmanr(em["iter5"], em["iter6"]).statistic
    assert f"base-vs-iter1 {early:.3f} vs iter5-vs-iter6 {later:.3f}" in lines[4]


def test_reading_does_not_hold_on_inputs_built_to_disagree(records):
    flip = records.copy()
    swap = {"pe_dyn_mc": "pe_dyn_wd", "pe_dyn_wd": "pe_dyn_mc", "me_dyn_mc": "me_dyn_wd", "me_dyn_wd": "me_dyn_mc"}
    flip["method"] = flip["method"].replace(swap)  # weight decay now gains more than MC dropout
    # PE w/ STAR below Random (AUC 45, RIPL -10) and plain PE far from Random (RIPL -40 vs mean STAR 9).
    flip.loc[flip["method"] == "pe_star", "accuracy"] -= flip.loc[flip["method"] == "pe_star", "accuracy"] - 0.45
    flip.loc[flip["method"] == "pe", "accuracy"] = 0.30 + flip.loc[flip["method"] == "pe", "seed"].map(SEED_SHIFT)
    em = _entropy_matrix(7, gap=False)  # iter1 tracks the base model, late iterations drift apart
    em["iter6"] = -em["iter5"]
    lines = _lines(S.reading(flip, em, _confidence(FEWSHOT_WRONG, LORA_WRONG), ACC))
    assert all(line.endswith("— does not hold") for line in lines), lines
    assert "boolq PE w/ STAR -10.00" in lines[1]


def test_reading_says_not_checked_when_inputs_lack_a_claim(records):
    few = records[records["method"].isin(["random", "me_star"])]
    conf = _confidence(LORA_WRONG, FEWSHOT_WRONG).query("model == 'LoRA'")
    lines = _lines(S.reading(few, _entropy_matrix(1), conf, {"LoRA": 0.7}))
    assert lines[1].endswith("— holds")
    for i in (0, 2, 3, 4):
        assert "not checked" in lines[i]
