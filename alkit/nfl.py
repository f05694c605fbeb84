"""No Free Lunch in Active Learning (Rauch et al., 2025): the embedding-quality sweep.

Frozen embeddings from a quality ladder of embedders x query strategies x initial-pool
selectors x datasets x seeds, with a logistic-regression head retrained from scratch each
round. Only the paper's abstract is public (see ../shared/papers/NOTES.md): datasets, budgets
and the exact embedders are our choices, recorded in the params files and the discrepancy
register.

The notebook calls, in order: :func:`run_sweep` (embeds, runs the missing runs, returns the
per-round records), :func:`embedding_quality` (full-data head accuracy per dataset x
embedder), the table builders and the figure functions, then :func:`reading`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from alkit.config import ConfigError, check_choices, config_dict

NOTEBOOK = "mteb_sweep"


@dataclass(frozen=True)
class SweepConfig:
    """Parameters of the mteb_sweep notebook (every field is set by the params file)."""

    datasets: tuple[str, ...]  # keys of alkit.data.DATASETS (classification)
    embedders: tuple[str, ...]  # keys of alkit.embeddings.EMBEDDERS, low to high expected quality
    strategies: tuple[str, ...]  # keys of alkit.strategies.STRATEGIES; "random" is the baseline
    init_strategies: tuple[str, ...]  # initial-pool selectors: random | coreset | typiclust
    seeds: tuple[int, ...]  # one AL run per seed (seed set, query tie-breaks)
    n_pool: int  # unlabelled pool: stratified subsample of the train split (0 = all)
    n_test: int  # test rows: stratified subsample of the test split (0 = all)
    n_init: int  # size of the initial labelled pool
    batch_size: int  # labels bought per round
    n_rounds: int  # query rounds after the initial pool
    head_C: float  # inverse L2 strength of the logistic-regression head
    head_max_iter: int  # L-BFGS iterations of the head
    early_rounds: int  # rounds 0..early_rounds count as "early" for the initial-pool figure
    tie_tol: float  # |AUC difference| <= tie_tol is a tie in paired comparisons
    data_seed: int  # fixes the pool/test subsamples (the same for every run)
    embed_batch_size: int  # texts per embedder batch
    n_jobs: int  # parallel runs (joblib processes); 1 = in process

    def __post_init__(self) -> None:
        from alkit.data import DATASETS
        from alkit.models import MODELS
        from alkit.strategies import INIT_STRATEGIES, STRATEGIES

        classification = [k for k, v in DATASETS.items() if v.task == "classification"]
        check_choices("datasets", self.datasets, classification)
        embedders = [k for k, v in MODELS.items() if v.kind not in ("causal-lm", "seq2seq-lm")]
        check_choices("embedders", self.embedders, embedders)
        check_choices("strategies", self.strategies, STRATEGIES)
        check_choices("init_strategies", self.init_strategies, INIT_STRATEGIES)
        if "random" not in self.strategies:
            raise ConfigError("strategies: must include 'random' (every gain is measured against it)")
        if len(set(self.seeds)) != len(self.seeds) or not self.seeds:
            raise ConfigError(f"seeds: need distinct seeds, got {list(self.seeds)}")
        for key in ("n_init", "batch_size", "head_max_iter", "embed_batch_size", "n_jobs"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}: must be >= 1, got {getattr(self, key)}")
        for key in ("n_pool", "n_test", "n_rounds", "early_rounds"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}: must be >= 0, got {getattr(self, key)}")
        if self.n_pool and self.n_init + self.batch_size * self.n_rounds > self.n_pool:
            raise ConfigError(
                f"n_init + batch_size * n_rounds = {self.n_init + self.batch_size * self.n_rounds} "
                f"exceeds n_pool = {self.n_pool}"
            )
        if self.early_rounds > self.n_rounds:
            raise ConfigError(f"early_rounds ({self.early_rounds}) > n_rounds ({self.n_rounds})")
        if self.head_C <= 0:
            raise ConfigError(f"head_C: must be > 0, got {self.head_C}")
        if self.tie_tol < 0:
            raise ConfigError(f"tie_tol: must be >= 0, got {self.tie_tol}")


# --------------------------------------------------------------------------- data + embeddings


@dataclass(frozen=True)
class Prepared:
    """One dataset x embedder, ready for the loop (row i of ``X_pool`` is global id i)."""

    X_pool: np.ndarray  # (n_pool, d) float32
    y_pool: np.ndarray  # (n_pool,) int64
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    label_names: tuple[str, ...]


def _subsample(ds, n: int, seed: int):
    from alkit.data import stratified_subsample

    return ds if n == 0 or n >= len(ds) else stratified_subsample(ds, n, seed)


@lru_cache(maxsize=8)
def _splits(dataset: str, n_pool: int, n_test: int, data_seed: int):
    from alkit.data import load

    train = _subsample(load(dataset, "train"), n_pool, data_seed)
    test = _subsample(load(dataset, "test"), n_test, data_seed + 1)
    return train, test


def prepare(dataset: str, embedder: str, n_pool: int, n_test: int, data_seed: int,
            batch_size: int = 64, progress: bool = False) -> Prepared:  # fmt: skip
    """Embed the pool and test rows (cached on disk by content, so workers only read)."""
    from alkit.embeddings import embed
    from alkit.models import MODELS

    train, test = _splits(dataset, n_pool, n_test, data_seed)
    # TF-IDF+LSA is fitted on pool + test texts (unsupervised, transductive, as classical baselines are).
    fit_texts = list(train.texts) + list(test.texts) if MODELS[embedder].kind == "classical" else None
    X_pool = embed(embedder, train.texts, batch_size=batch_size, progress=progress, fit_texts=fit_texts)
    X_test = embed(embedder, test.texts, batch_size=batch_size, progress=progress, fit_texts=fit_texts)
    n_classes = len(train.label_names)
    return Prepared(X_pool, train.labels, X_test, test.labels, n_classes, tuple(train.label_names))


def run_configs(cfg: SweepConfig) -> list[dict]:
    """One JSON-able config per (dataset, embedder, init, strategy, seed)."""
    shared = {k: v for k, v in config_dict(cfg).items()
              if k in ("n_pool", "n_test", "n_init", "batch_size", "n_rounds", "head_C", "head_max_iter", "data_seed")}  # fmt: skip
    return [
        {"dataset": d, "embedder": e, "init": i, "strategy": s, "seed": seed, **shared}
        for d in cfg.datasets
        for e in cfg.embedders
        for i in cfg.init_strategies
        for s in cfg.strategies
        for seed in cfg.seeds
    ]


def run_one(config: dict, store) -> pd.DataFrame:
    """One AL run of the sweep (a module-level function, so process pools can pickle it)."""
    from alkit.learners import EmbeddingClassifier
    from alkit.loop import classification_evaluator, run_al
    from alkit.models import model_provenance
    from alkit.oracles import GoldOracle
    from alkit.strategies import get_strategy, select_initial

    data = prepare(config["dataset"], config["embedder"], config["n_pool"], config["n_test"], config["data_seed"])
    pool_idx = np.arange(len(data.y_pool), dtype=np.int64)
    # The initial pool has its own generator so that it is shared by every strategy of a seed.
    init_rng = np.random.default_rng([config["seed"], 7])
    init_idx = select_initial(config["init"], data.X_pool, pool_idx, config["n_init"], init_rng)

    def make_learner(seed: int) -> EmbeddingClassifier:
        return EmbeddingClassifier(data.n_classes, C=config["head_C"], max_iter=config["head_max_iter"], seed=seed)

    records = run_al(
        X=data.X_pool,
        oracle=GoldOracle(data.y_pool),
        strategy=get_strategy(config["strategy"]),
        make_learner=make_learner,
        pool_idx=pool_idx,
        init_idx=init_idx,
        n_rounds=config["n_rounds"],
        batch_size=config["batch_size"],
        evaluate=classification_evaluator(data.X_test, data.y_test, data.n_classes),
        seed=config["seed"],
        embeddings=data.X_pool,
        store=store,
    )
    records.attrs["provenance"] = {"embedder": model_provenance(config["embedder"])}
    return records


def run_sweep(cfg: SweepConfig, *, force: bool = False, progress: bool = True) -> pd.DataFrame:
    """Embed every dataset with every embedder, then run the missing AL runs.

    Returns the per-round records of every run with the config columns ``dataset``,
    ``embedder``, ``init``, ``strategy``, ``seed``.
    """
    from alkit.sweep import run_grid

    for dataset in cfg.datasets:
        for embedder in cfg.embedders:
            prepare(dataset, embedder, cfg.n_pool, cfg.n_test, cfg.data_seed, cfg.embed_batch_size, progress)
    return run_grid(NOTEBOOK, run_configs(cfg), run_one, n_jobs=cfg.n_jobs, force=force, progress=progress,
                    desc="mteb_sweep runs")  # fmt: skip


# --------------------------------------------------------------------------- analysis


def embedding_quality(cfg: SweepConfig) -> pd.DataFrame:
    """Full-data head accuracy per dataset x embedder: the head trained on the whole pool.

    This is the workbench's measure of embedding quality for the task (the paper uses MTEB
    rank; the full-pool accuracy is task-specific and needs no leaderboard).
    """
    from alkit.learners import EmbeddingClassifier
    from alkit.metrics import accuracy

    rows = []
    for dataset in cfg.datasets:
        for embedder in cfg.embedders:
            data = prepare(dataset, embedder, cfg.n_pool, cfg.n_test, cfg.data_seed, cfg.embed_batch_size)
            head = EmbeddingClassifier(data.n_classes, C=cfg.head_C, max_iter=max(cfg.head_max_iter, 500))
            head.fit(data.X_pool, data.y_pool)
            rows.append({"dataset": dataset, "embedder": embedder,
                         "full_accuracy": accuracy(data.y_test, head.predict(data.X_test)),
                         "dim": data.X_pool.shape[1], "n_pool": len(data.y_pool), "n_test": len(data.y_test)})  # fmt: skip
    return pd.DataFrame(rows)


def run_aucs(records: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Normalised learning-curve AUC (in percent) of every run."""
    from alkit.metrics import curve_aucs

    aucs = curve_aucs(records, ["dataset", "embedder", "init", "strategy", "seed"], y=metric)
    aucs["auc"] *= 100.0
    return aucs


def auc_table(aucs: pd.DataFrame, init: str = "random") -> pd.DataFrame:
    """Mean AUC (percent) over seeds: rows dataset x embedder, columns strategy."""
    sub = aucs[aucs["init"] == init]
    table = sub.pivot_table(index=["dataset", "embedder"], columns="strategy", values="auc", aggfunc="mean")
    return table.round(2)


def auc_gains(aucs: pd.DataFrame) -> pd.DataFrame:
    """Seed-paired AUC gain of every strategy over Random (same dataset, embedder, init, seed)."""
    keys = ["dataset", "embedder", "init", "seed"]
    random = aucs[aucs["strategy"] == "random"].set_index(keys)["auc"].rename("random_auc")
    out = aucs[aucs["strategy"] != "random"].join(random, on=keys)
    out["gain"] = out["auc"] - out["random_auc"]
    return out


def strategy_ranks(aucs: pd.DataFrame, tie_tol: float) -> pd.DataFrame:
    """Mean rank (1 = best) of each strategy per embedder over seed-level (dataset, init, seed) blocks.

    AUCs within ``tie_tol`` of each other are ties: values are snapped to a ``tie_tol`` grid
    first, and tied strategies share their average rank (neither wins).
    """
    from alkit.metrics import mean_ranks

    aucs = aucs.copy()
    if tie_tol > 0:
        aucs["auc"] = np.round(aucs["auc"] / tie_tol) * tie_tol
    return mean_ranks(aucs, ["dataset", "init"], "strategy", "auc", seed_col="seed", by="embedder")


def paired_win_rates(aucs: pd.DataFrame, tie_tol: float) -> pd.DataFrame:
    """Per embedder and strategy: seed-level paired wins/ties/losses against Random."""
    from alkit.metrics import paired_wins

    parts = [paired_wins(sub, ["dataset", "init"], "strategy", "auc", "seed", baseline="random", tol=tie_tol)
             .assign(embedder=embedder) for embedder, sub in aucs.groupby("embedder", sort=False)]  # fmt: skip
    return pd.concat(parts, ignore_index=True).rename(columns={"method": "strategy"})


def early_accuracy(records: pd.DataFrame, early_rounds: int) -> pd.DataFrame:
    """Mean accuracy over rounds 0..early_rounds per run (for the initial-pool comparison)."""
    early = records[records["round"] <= early_rounds]
    keys = ["dataset", "embedder", "init", "strategy", "seed"]
    return early.groupby(keys, as_index=False)["accuracy"].mean().rename(columns={"accuracy": "early_accuracy"})


def init_gain_table(records: pd.DataFrame, early_rounds: int) -> pd.DataFrame:
    """Early-round accuracy (percent) of each init method per embedder, and its gain over random init."""
    early = early_accuracy(records, early_rounds)
    table = early.pivot_table(index="embedder", columns="init", values="early_accuracy", aggfunc="mean") * 100
    return table


def reading(cfg: SweepConfig, aucs: pd.DataFrame, quality: pd.DataFrame, records: pd.DataFrame) -> str:
    """Check the paper's three findings on this sweep's numbers; return a short text."""
    order = quality.groupby("embedder")["full_accuracy"].mean().sort_values()
    low, high = order.index[0], order.index[-1]
    init_tab = init_gain_table(records, cfg.early_rounds)
    lines = [f"Embedding quality (mean full-data head accuracy): lowest {low} ({100 * order.iloc[0]:.1f}%), "
             f"highest {high} ({100 * order.iloc[-1]:.1f}%)."]  # fmt: skip
    diversity = [c for c in init_tab.columns if c != "random"]
    if "random" in init_tab.columns and diversity:
        gain_hi = max(init_tab.loc[high, c] - init_tab.loc[high, "random"] for c in diversity)
        gain_lo = max(init_tab.loc[low, c] - init_tab.loc[low, "random"] for c in diversity)
        held = gain_hi > 0 and gain_hi > gain_lo
        lines.append(
            f"1. Diversity-based initial pools vs random in the first {cfg.early_rounds + 1} rounds: best gain "
            f"{gain_hi:+.2f} points with {high}, {gain_lo:+.2f} with {low} -> "
            f"{'holds' if held else 'does not hold'} (synergy with high-quality embeddings)."
        )
    ranks = strategy_ranks(aucs, cfg.tie_tol)
    best = ranks.idxmin(axis=1)
    changes = best.nunique() > 1
    lines.append(
        "2. Best strategy by mean rank per embedder: "
        + ", ".join(f"{e}: {s}" for e, s in best.items())
        + f" -> the optimal strategy {'changes' if changes else 'does not change'} with embedding quality."
    )
    gains = auc_gains(aucs)
    spread = gains.groupby(["strategy", "dataset"])["gain"].mean().groupby("strategy").agg(["mean", "std", "min"])
    if {"badge", "margin"} <= set(spread.index):
        b, m = spread.loc["badge"], spread.loc["margin"]
        robust = b["min"] > m["min"]
        lines.append(
            f"3. Across datasets, BADGE's mean AUC gain over Random is {b['mean']:+.2f} (worst dataset "
            f"{b['min']:+.2f}); Margin's {m['mean']:+.2f} (worst {m['min']:+.2f}) -> BADGE "
            f"{'is' if robust else 'is not'} the more robust of the two here."
        )
        g = gains.merge(quality, on=["dataset", "embedder"])
        corr = g[g["strategy"] == "badge"][["gain", "full_accuracy"]].corr(method="spearman").iloc[0, 1]
        lines.append(f"   Spearman correlation of BADGE's gain with embedding quality: {corr:+.2f}.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- figures


def short_name(embedder: str) -> str:
    """``sentence-transformers/all-MiniLM-L6-v2`` -> ``all-MiniLM-L6-v2`` for axis labels."""
    return embedder.split("/")[-1]


def figure_learning_curves(records: pd.DataFrame, init: str = "random"):
    """Accuracy vs labels, one panel per dataset x embedder, mean +/- 95% bootstrap CI over seeds."""
    from alkit.plots import facet_learning_curves

    sub = records[records["init"] == init].copy()
    sub["embedder"] = sub["embedder"].map(short_name)
    return facet_learning_curves(sub, row="dataset", col="embedder", y="accuracy", hue="strategy", ci=0.95)


def figure_strategy_ranks(ranks: pd.DataFrame):
    import matplotlib.pyplot as plt

    from alkit.plots import plot_heatmap, use_style

    use_style()
    ranks = ranks.rename(index=short_name)
    ranks.index.name = "embedder (low to high quality)"
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * ranks.shape[1], 1.2 + 0.5 * ranks.shape[0]), layout="constrained")
    plot_heatmap(ranks, ax=ax, cmap="viridis_r", cbar_label="mean rank (1 = best)")
    ax.set_title("Strategy rank by AUC, seed-level paired")
    return fig


def figure_quality_vs_gain(gains: pd.DataFrame, quality: pd.DataFrame):
    """Embedding quality (full-data head accuracy) vs AUC gain over Random, per strategy."""
    import matplotlib.pyplot as plt

    from alkit.plots import method_colors, plot_scatter_with_labels, use_style

    use_style()
    mean_gain = gains.groupby(["dataset", "embedder", "strategy"], as_index=False)["gain"].mean()
    df = mean_gain.merge(quality, on=["dataset", "embedder"])
    df["full-data accuracy (%)"] = 100 * df["full_accuracy"]
    df["AUC gain over Random (points)"] = df["gain"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    colors = method_colors(sorted(df["strategy"].unique()))
    plot_scatter_with_labels(df, "full-data accuracy (%)", "AUC gain over Random (points)", hue="strategy", ax=ax,
                             colors=colors)  # fmt: skip
    for strategy, sub in df.groupby("strategy"):
        if len(sub) >= 2 and sub["full-data accuracy (%)"].nunique() > 1:
            slope, intercept = np.polyfit(sub["full-data accuracy (%)"], sub["AUC gain over Random (points)"], 1)
            xs = np.linspace(sub["full-data accuracy (%)"].min(), sub["full-data accuracy (%)"].max(), 2)
            ax.plot(xs, slope * xs + intercept, color=colors[strategy], linewidth=1, alpha=0.7)
    ax.axhline(0, color="0.4", linewidth=0.8, linestyle=":")
    ax.set_title("Embedding quality vs query-strategy gain (each point: dataset x embedder)")
    return fig


def figure_initial_pools(records: pd.DataFrame, early_rounds: int):
    """Early-round accuracy by initial-pool method and embedder (mean over datasets, strategies, seeds)."""
    import matplotlib.pyplot as plt

    from alkit.metrics import bootstrap_ci
    from alkit.plots import plot_bars, use_style

    use_style()
    early = early_accuracy(records, early_rounds)
    # Per (embedder, init, seed): mean over datasets and strategies, then a CI over seeds.
    per_seed = early.groupby(["embedder", "init", "seed"], as_index=False)["early_accuracy"].mean()
    rows = []
    for (embedder, init), sub in per_seed.groupby(["embedder", "init"], sort=False):
        mean, lo, hi = bootstrap_ci(100 * sub["early_accuracy"].to_numpy(), rng=0)
        rows.append({"embedder": short_name(embedder), "init": init, "accuracy": mean, "lo": lo, "hi": hi})
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    plot_bars(df, "embedder", "accuracy", hue="init", ax=ax, err=("lo", "hi"))
    ax.set_ylabel(f"mean accuracy, rounds 0-{early_rounds} (%)")
    ax.set_title("Initial pool selection by embedding quality")
    return fig
