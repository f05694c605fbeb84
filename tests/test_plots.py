"""Plots and tables: artists drawn for tiny frames, files written under $ALKIT_FIGURES, exact markdown."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from scipy.stats import gaussian_kde  # noqa: E402

from alkit import plots, tables  # noqa: E402
from alkit.metrics import bootstrap_ci  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def curves() -> pd.DataFrame:
    """Two strategies x three sizes x two seeds."""
    rows = []
    for strategy, shift in (("Random", 0.0), ("entropy", 0.1)):
        for seed in (0, 1):
            for n, acc in ((10, 0.5), (20, 0.6), (40, 0.7)):
                rows.append((strategy, seed, n, acc + shift + 0.02 * seed))
    return pd.DataFrame(rows, columns=["strategy", "seed", "n_labeled", "accuracy"])


# ---------------------------------------------------------------------------- style and colours


def test_use_style_sets_shared_rcparams():
    plots.use_style()
    assert matplotlib.rcParams["savefig.dpi"] == 150
    assert matplotlib.rcParams["savefig.bbox"] == "tight"
    assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"] == list(plots.PALETTE)


def test_method_colors_are_stable_across_figures():
    a = plots.method_colors(["Random", "PE", "PE+STAR", "ME", "ME+STAR"])
    b = plots.method_colors(["me_star", "random", "pe_star"])
    assert a["Random"] == b["random"] == plots.BASELINE_COLOR
    assert a["PE+STAR"] == b["pe_star"] and a["ME+STAR"] == b["me_star"]
    assert len(set(a.values())) == 5
    unknown = [f"method{i}" for i in range(len(plots.PALETTE))]
    colors = plots.method_colors(unknown)
    assert len(set(colors.values())) == len(plots.PALETTE)  # distinct while the palette lasts
    assert plots.method_colors(unknown[::-1]) == colors  # independent of the order given
    assert plots.method_colors(["method3"])["method3"] in plots.PALETTE


# ---------------------------------------------------------------------------- save_figure


def test_save_figure_writes_pdf_and_png_under_figures_dir():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    paths = plots.save_figure(fig, "star", "fig5_curves")
    root = Path(os.environ["ALKIT_FIGURES"])
    assert paths == [root / "star" / "fig5_curves.pdf", root / "star" / "fig5_curves.png"]
    assert paths[0].read_bytes()[:5] == b"%PDF-"
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"CreationDate" not in paths[0].read_bytes()
    first = [p.read_bytes() for p in paths]
    plots.save_figure(fig, "star", "fig5_curves")
    assert [p.read_bytes() for p in paths] == first  # reruns give identical bytes
    written = sorted(p.name for p in (root / "star").iterdir())
    assert written == ["fig5_curves.pdf", "fig5_curves.png", "manifest.json"]  # manifest: alkit.index


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", ".hidden"])
def test_save_figure_rejects_paths_as_ids(bad):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="figure_id"):
        plots.save_figure(fig, "star", bad)


# ---------------------------------------------------------------------------- learning curves


def test_learning_curves_mean_lines_and_bootstrap_bands(curves):
    ax = plots.plot_learning_curves(curves)
    assert [line.get_label() for line in ax.lines] == ["Random", "entropy"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.61, 0.71, 0.81])
    assert ax.lines[0].get_linestyle() == "--"  # the passive baseline is dashed
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    # Band edges are bootstrap_ci of the two seeds at each size.
    _, lo, hi = bootstrap_ci([0.7, 0.72])
    verts = bands[1].get_paths()[0].vertices
    at_20 = verts[np.isclose(verts[:, 0], 20)][:, 1]
    assert min(at_20) == pytest.approx(lo) and max(at_20) == pytest.approx(hi)
    assert ax.get_legend() is not None and ax.get_xlabel() == "labelled examples"


def test_learning_curves_band_options(curves):
    _, ax = plt.subplots()
    assert plots.plot_learning_curves(curves, ax=ax, ci=None) is ax
    assert len(ax.collections) == 0 and len(ax.lines) == 2
    ax = plots.plot_learning_curves(curves[curves.seed == 0])
    assert len(ax.collections) == 0  # one seed: nothing to draw a band from
    ax = plots.plot_learning_curves(curves[curves.strategy == "Random"], ci="sd")
    verts = ax.collections[0].get_paths()[0].vertices
    sd = np.std([0.5, 0.52], ddof=1)
    at_10 = verts[np.isclose(verts[:, 0], 10)][:, 1]
    assert min(at_10) == pytest.approx(0.51 - sd) and max(at_10) == pytest.approx(0.51 + sd)


def test_learning_curves_bad_input(curves):
    with pytest.raises(KeyError, match="macro_f1"):
        plots.plot_learning_curves(curves, y="macro_f1")
    with pytest.raises(ValueError, match="several rows"):
        plots.plot_learning_curves(pd.concat([curves, curves]))
    with pytest.raises(ValueError, match="ci must be"):
        plots.plot_learning_curves(curves, ci=95)


def test_facet_learning_curves_grid_and_shared_legend(curves):
    df = pd.concat([curves.assign(dataset=d, embedder=e) for d in ("sst2", "trec") for e in ("bert", "gte")])
    df = df[~((df.dataset == "trec") & (df.embedder == "gte"))]  # one empty panel
    fig = plots.facet_learning_curves(df, row="dataset", col="embedder")
    axes = np.array(fig.axes).reshape(2, 2)
    assert [len(ax.lines) for ax in axes.ravel()] == [2, 2, 2, 0]
    assert axes[1, 1].texts[0].get_text() == "no data"
    assert [ax.get_legend() for ax in axes.ravel()] == [None] * 4
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Random", "entropy"]
    assert axes[0, 1].get_title() == "sst2 | gte"


# ---------------------------------------------------------------------------- other figure types


def test_heatmap_annotates_finite_cells():
    matrix = pd.DataFrame(
        [[1.0, 2.5, np.nan], [3.25, 1.5, 2.0]],
        index=pd.Index(["bert", "gte"], name="embedder"),
        columns=pd.Index(["random", "margin", "badge"], name="strategy"),
    )
    ax = plots.plot_heatmap(matrix, fmt=".1f", cbar_label="mean rank")
    assert sorted(t.get_text() for t in ax.texts) == ["1.0", "1.5", "2.0", "2.5", "3.2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["random", "margin", "badge"]
    assert ax.get_ylabel() == "embedder"
    assert ax.images[0].get_array().mask.sum() == 1
    assert ax.figure.axes[1].get_ylabel() == "mean rank"  # the colorbar


def test_scatter_with_labels_and_diagonal():
    df = pd.DataFrame({"r0": [0.1, 0.5, 0.9], "r1": [0.2, 0.4, 0.8], "set": ["a", "b", "a"], "id": [7, 8, 9]})
    ax = plots.plot_scatter_with_labels(df, "r0", "r1", hue="set", label="id", diagonal=True)
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(p.get_offsets()) for p in points] == [2, 1]
    assert sorted(t.get_text() for t in ax.texts) == ["7", "8", "9"]
    assert len(ax.lines) == 1 and list(ax.lines[0].get_xdata()) == [0.1, 0.9]


def test_density_kde_and_histogram_fallback():
    rng = np.random.default_rng(0)
    lora = rng.beta(8, 2, 50)
    groups = {"LoRA": lora, "ICL": [0.7, 0.7, 0.7], "two": [0.2, 0.3], "none": []}
    ax = plots.plot_density(groups, support=(0, 1))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "LoRA (n=50)", "ICL (n=3)", "two (n=2)", "none (n=0)",
    ]  # fmt: skip
    kde_line = ax.lines[0]
    np.testing.assert_allclose(kde_line.get_ydata(), gaussian_kde(lora)(kde_line.get_xdata()))
    assert kde_line.get_xdata()[0] == 0 and kde_line.get_xdata()[-1] == 1
    assert len(ax.patches) == 2  # one step-filled histogram per fallback group
    with pytest.raises(ValueError, match="non-finite"):
        plots.plot_density({"bad": [0.1, np.nan, 0.3]})


def test_bars_grouped_with_interval_errors():
    df = pd.DataFrame(
        {
            "dataset": ["a", "a", "b", "b", "c"],
            "method": ["x", "y", "x", "y", "x"],
            "v": [1.0, 2.0, 3.0, 2.5, 1.5],
            "lo": [0.8, 1.7, 2.5, 2.2, 1.1],
            "hi": [1.1, 2.4, 3.2, 2.8, 1.8],
        }
    )
    ax = plots.plot_bars(df, "dataset", "v", hue="method", err=("lo", "hi"))
    assert len(ax.patches) == 5  # (c, y) is missing: a gap, not a bar
    assert sorted(p.get_height() for p in ax.patches) == [1.0, 1.5, 2.0, 2.5, 3.0]
    x_bars = [c for c in ax.containers if isinstance(c, BarContainer)][0]
    assert [round(p.get_x() + p.get_width() / 2, 6) for p in x_bars.patches] == [-0.2, 0.8, 1.8]
    segments = x_bars.errorbar.lines[2][0].get_segments()
    np.testing.assert_allclose([s[:, 1] for s in segments], [[0.8, 1.1], [2.5, 3.2], [1.1, 1.8]])
    with pytest.raises(ValueError, match="aggregate"):
        plots.plot_bars(pd.concat([df, df]), "dataset", "v", hue="method")


# ---------------------------------------------------------------------------- tables


def test_save_table_writes_csv_and_exact_markdown():
    df = pd.DataFrame(
        {"AUC": [27.37, 28.4], "RIPL": [np.nan, 1.41834], "n": [3, 3], "note": ["a|b", "ok"]},
        index=pd.Index(["Random", "PE+STAR"], name="method"),
    )
    paths = tables.save_table(df, "star", "table1", caption="GSM8K")
    root = Path(os.environ["ALKIT_FIGURES"])
    assert paths == [root / "star" / "table1.csv", root / "star" / "table1.md"]
    assert paths[1].read_text() == (
        "Table: GSM8K\n"
        "\n"
        "| method  |   AUC | RIPL |   n | note |\n"
        "| ------- | ----: | ---: | --: | ---- |\n"
        "| Random  | 27.37 |      |   3 | a\\|b |\n"
        "| PE+STAR | 28.40 | 1.42 |   3 | ok   |\n"
    )
    # The CSV keeps full precision and the named index.
    back = pd.read_csv(paths[0], index_col="method")
    pd.testing.assert_frame_equal(back, df)


def test_markdown_without_named_index_and_formats():
    df = pd.DataFrame({"x": [1.23456], "flag": [True]})
    assert tables.to_markdown(df, floatfmt=".3f") == "|     x | flag |\n| ----: | ---- |\n| 1.235 | True |\n"
    wide = pd.DataFrame(
        [[27.37, 0.0]],
        columns=pd.MultiIndex.from_tuples([("gsm8k", "AUC"), ("gsm8k", "RIPL")]),
        index=pd.Index(["Random"], name="method"),
    )
    assert tables.to_markdown(wide).splitlines()[0] == "| method | gsm8k / AUC | gsm8k / RIPL |"
    with pytest.raises(ValueError, match="table_id"):
        tables.save_table(df, "star", "../t")


def test_format_mean_ci():
    assert tables.format_mean_ci(81.23, 79.9, 82.5) == "81.2 ± 1.3"
    assert tables.format_mean_ci(0.5, 0.5, 0.5, ".2f") == "0.50 ± 0.00"
    assert tables.format_mean_ci(0.5, np.nan, np.nan, ".2f") == "0.50"
    assert tables.format_mean_ci(np.nan, 0.1, 0.2) == "n/a"
    with pytest.raises(ValueError, match="above"):
        tables.format_mean_ci(1.0, 2.0, 0.0)
