"""STAR (Zhang et al., 2024): LoRA active learning on a decoder LLM, on the shared AL loop.

Every (dataset, adapter, method, seed) is one run of :func:`alkit.loop.run_al` with a fresh
:class:`~alkit.lora.LoraCausalLM` per round. A method is a combination of STAR's switches:

========== ========= ======== =========== ==============
method     score     dynamic  MC dropout  weight decay B
========== ========= ======== =========== ==============
random     -         -        -           -
pe / me    PE / ME   -        -           -
*_dyn      PE / ME   yes      -           -
*_dyn_mc   PE / ME   yes      yes         -
*_dyn_wd   PE / ME   yes      -           yes
*_star     PE / ME   yes      yes         yes
========== ========= ======== =========== ==============

What the configurations have in common is computed once:

- the base model is loaded once per process (``alkit.lora.base_model``);
- base-model uncertainty over each pool is cached on disk (``alkit.star.cached_base_uncertainty``);
- a LoRA fit is cached by its content (model, settings, seed, the ordered labelled rows): the
  warm-start model of round 0 is trained once and shared by every method with the same
  training settings, and so are its test evaluation and its pool scores;
- Random runs are ordinary run records, shared by Table 1, Fig. 1 and Fig. 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from alkit.config import ConfigError, check_choice, check_choices, config_dict
from alkit.io import load_npy, read_json, save_npy, stable_hash, text_hash, write_json
from alkit.paths import cache_dir

NOTEBOOK = "star"
DATASETS = ("boolq", "obqa", "gsm8k")
ADAPTERS = ("lora", "full")
# method -> (score kind, dynamic, mc dropout, weight decay on B)
METHODS: dict[str, tuple[str | None, bool, bool, bool]] = {
    "random": (None, False, False, False),
    **{f"{k}": (k, False, False, False) for k in ("pe", "me")},
    **{f"{k}_dyn": (k, True, False, False) for k in ("pe", "me")},
    **{f"{k}_dyn_mc": (k, True, True, False) for k in ("pe", "me")},
    **{f"{k}_dyn_wd": (k, True, False, True) for k in ("pe", "me")},
    **{f"{k}_star": (k, True, True, True) for k in ("pe", "me")},
}
QUANTIZATIONS = ("none", "4bit", "8bit")


@dataclass(frozen=True)
class StarConfig:
    """Parameters of the star notebook (every field is set by the params file)."""

    model_id: str  # decoder hub id (paper: meta-llama/Llama-2-7b-hf)
    dtype: str  # float32 | bfloat16 (base weights; LoRA weights stay float32)
    quantization: str  # none | 4bit | 8bit (bitsandbytes; paper profile on a GPU)
    datasets: tuple[str, ...]  # boolq | obqa | gsm8k
    seeds: dict[str, list[int]]  # per dataset: one AL run per seed
    methods: dict[str, list[str]]  # per dataset: LoRA methods (keys of METHODS; include random)
    full_ft_methods: dict[str, list[str]]  # per dataset: full fine-tuning methods for Fig. 1(b) ([] = skip)
    pool_size: dict[str, int]  # per dataset: unlabelled pool (random subset of train; 0 = all)
    test_size: dict[str, int]  # per dataset: test rows (random subset; 0 = all)
    warm_start: dict[str, int]  # per dataset: random warm-start labels (paper 500; OBQA 200)
    query_size: dict[str, int]  # per dataset: labels per round (paper 500; OBQA 200)
    n_rounds: int  # query rounds after the warm start (paper 9)
    max_new_tokens: dict[str, int]  # per dataset: greedy generation cap
    lora_rank: int  # paper 64
    lora_alpha: float  # paper 16
    lora_dropout: float  # paper 0.1 (also the MC-dropout rate)
    lora_targets: list[str]  # paper: q,k,v,o,gate,up,down projections
    lr: dict[str, float]  # per dataset: LoRA learning rate (paper: GSM8K 1.5e-4, BoolQ/OBQA 3e-5)
    full_ft_lr: float  # full fine-tuning learning rate (Fig. 1b; the paper does not give it)
    epochs: dict[str, int]  # per dataset (paper: GSM8K 3, BoolQ/OBQA 15)
    batch_size: dict[str, int]  # per dataset (paper: GSM8K 8, BoolQ/OBQA 32)
    max_prompt_tokens: int
    max_answer_tokens: int
    weight_decay_B: float  # beta of Eq. 6 for *_wd / *_star (authors: AdamW decoupled 0.5 on lora_B)
    mc_passes: int  # K of Eq. 7 for *_mc / *_star
    schedule: str  # lambda(t) schedule (alkit.star.LAMBDA_SCHEDULES); authors: linear
    me_on: str  # ME over the "generated" answer (paper) or the "gold" one (authors' code)
    uncertainty_reduce: str  # "sum" over answer tokens (Eqs. 2-3) or "mean"
    probe_top_k: int  # Fig. 3: the k pool examples with the highest base-model ME
    fewshot_k: int  # Fig. 2: in-context demonstrations for the few-shot base model
    data_seed: int  # fixes pool/test subsets and the few-shot demonstrations

    def __post_init__(self) -> None:
        from alkit.lm_uncertainty import ME_ON, REDUCTIONS
        from alkit.models import MODELS
        from alkit.star import LAMBDA_SCHEDULES

        check_choice("model_id", self.model_id, [k for k, v in MODELS.items() if v.kind == "causal-lm"])
        check_choice("dtype", self.dtype, ("float32", "bfloat16"))
        check_choice("quantization", self.quantization, QUANTIZATIONS)
        check_choices("datasets", self.datasets, DATASETS)
        for key in ("seeds", "methods", "full_ft_methods", "pool_size", "test_size", "warm_start",
                    "query_size", "max_new_tokens", "lr", "epochs", "batch_size"):  # fmt: skip
            value = getattr(self, key)
            missing = [d for d in self.datasets if d not in value]
            extra = sorted(set(value) - set(DATASETS))
            if missing or extra:
                raise ConfigError(f"{key}: needs an entry for each dataset {list(self.datasets)} "
                                  f"(missing {missing}, unknown {extra}; valid: {list(DATASETS)})")  # fmt: skip
        for d in self.datasets:
            check_choices(f"methods.{d}", self.methods[d], METHODS)
            if "random" not in self.methods[d]:
                raise ConfigError(f"methods.{d}: must include 'random' (RIPL is measured against it)")
            if self.full_ft_methods[d]:
                check_choices(f"full_ft_methods.{d}", self.full_ft_methods[d], METHODS)
                bad = [m for m in self.full_ft_methods[d] if METHODS[m][3]]
                if bad:
                    raise ConfigError(f"full_ft_methods.{d}: {bad} decay LoRA B, which full fine-tuning has not")
            if not self.seeds[d] or len(set(self.seeds[d])) != len(self.seeds[d]):
                raise ConfigError(f"seeds.{d}: need distinct seeds, got {self.seeds[d]}")
            budget = self.warm_start[d] + self.query_size[d] * self.n_rounds
            if self.pool_size[d] and budget > self.pool_size[d]:
                raise ConfigError(f"pool_size.{d}: warm_start + query_size * n_rounds = {budget} exceeds {self.pool_size[d]}")
            for key in ("warm_start", "query_size", "max_new_tokens", "epochs", "batch_size"):
                if getattr(self, key)[d] < 1:
                    raise ConfigError(f"{key}.{d}: must be >= 1")
            if self.lr[d] <= 0:
                raise ConfigError(f"lr.{d}: must be > 0")
        check_choice("schedule", self.schedule, LAMBDA_SCHEDULES)
        check_choice("me_on", self.me_on, ME_ON)
        check_choice("uncertainty_reduce", self.uncertainty_reduce, REDUCTIONS)
        for key in ("n_rounds", "lora_rank", "mc_passes", "max_prompt_tokens",
                    "max_answer_tokens", "probe_top_k", "fewshot_k"):  # fmt: skip
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}: must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout: must be in [0, 1), got {self.lora_dropout}")
        if self.mc_passes > 1 and self.lora_dropout == 0:
            raise ConfigError("mc_passes > 1 needs lora_dropout > 0 (MC dropout samples the LoRA dropout masks)")
        if self.full_ft_lr <= 0 or self.weight_decay_B < 0:
            raise ConfigError("full_ft_lr must be > 0 and weight_decay_B >= 0")


# --------------------------------------------------------------------------- data


@lru_cache(maxsize=8)
def star_data(dataset: str, pool_size: int, test_size: int, data_seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pool and test tables (random subsets with a fixed seed), indexed 0..n-1 (global ids)."""
    from alkit.data import load

    def subset(split: str, n: int, seed: int) -> pd.DataFrame:
        df = load(dataset, split).df
        if n and n < len(df):
            idx = np.sort(np.random.default_rng(seed).choice(len(df), size=n, replace=False))
            df = df.iloc[idx]
        return df.reset_index(drop=True)

    return subset("train", pool_size, data_seed), subset("test", test_size, data_seed + 1)


def _settings(cfg: dict, adapter: str, wd: bool):
    from alkit.lora import LoraSettings, TrainSettings

    lora = LoraSettings(rank=cfg["lora_rank"], alpha=cfg["lora_alpha"], dropout=cfg["lora_dropout"],
                        target_modules=tuple(cfg["lora_targets"]))  # fmt: skip
    train = TrainSettings(
        lr=cfg["full_ft_lr"] if adapter == "full" else cfg["lr"], epochs=cfg["epochs"], batch_size=cfg["batch_size"],
        weight_decay_B=cfg["weight_decay_B"] if wd else 0.0, max_prompt_tokens=cfg["max_prompt_tokens"],
        max_answer_tokens=cfg["max_answer_tokens"], max_new_tokens=cfg["max_new_tokens"],
    )  # fmt: skip
    return lora, train


# --------------------------------------------------------------------------- content-addressed fits


class MemoLearner:
    """A LoraCausalLM whose fit, evaluation and pool scores are cached by content.

    The key of a fit is (model, dtype, adapter, LoRA and training settings, learner seed,
    dataset, the ordered labelled rows and their answers). Two runs that train on the same
    rows with the same settings — the warm start of every method — share one training.
    Full fine-tuning is not cached (a whole model per fit would be too large to keep).
    """

    def __init__(self, learner, dataset: str):
        self.learner = learner
        self.dataset = dataset
        self.key: str | None = None

    def _dir(self):
        return cache_dir("star_fits") / self.key

    def fit(self, rows: pd.DataFrame, answers) -> MemoLearner:
        from dataclasses import asdict

        answers = list(answers)
        learner = self.learner
        self.key = stable_hash({
            "model": learner.model_id, "dtype": learner.dtype, "adapter": learner.adapter, "seed": learner.seed,
            "lora": asdict(learner.lora), "train": asdict(learner.train), "dataset": self.dataset,
            "rows": text_hash(list(rows["question"])), "answers": text_hash(answers),
        }, n_chars=24)  # fmt: skip
        cacheable = learner.adapter == "lora"
        weights = self._dir() / "adapter.safetensors"
        if cacheable and weights.exists():
            from safetensors.torch import load_file

            state = load_file(str(weights))
            missing = set(state) - {n for n, _ in learner.model.named_parameters()}
            if missing:
                raise RuntimeError(f"cached fit {self.key} does not match the model: {sorted(missing)[:3]}")
            learner.model.load_state_dict(state, strict=False)
            learner.model.eval()
            learner._fitted = True
            return self
        learner.fit(rows, answers)
        if cacheable:
            from safetensors.torch import save_file

            from alkit.io import atomic_write

            state = {n: p.detach().cpu().contiguous() for n, p in learner.model.named_parameters() if p.requires_grad}
            atomic_write(weights, lambda p: save_file(state, str(p)))
        return self

    def _memo(self, name: str, compute, as_json: bool = False):
        if self.learner.adapter != "lora":
            return compute()
        path = self._dir() / (name + (".json" if as_json else ".npy"))
        if path.exists():
            return read_json(path) if as_json else load_npy(path)
        value = compute()
        (write_json if as_json else save_npy)(path, value)
        return value

    def evaluate(self, rows: pd.DataFrame) -> dict[str, float]:
        key = "eval_" + text_hash(list(rows["question"]), n_chars=12)
        return self._memo(key, lambda: self.learner.evaluate(rows), as_json=True)

    def uncertainty(self, rows: pd.DataFrame, kind: str, mc_passes: int, me_on: str, reduce: str) -> np.ndarray:
        key = f"u_{kind}_{mc_passes}_{me_on}_{reduce}_" + text_hash(list(rows["question"]), n_chars=12)
        return self._memo(key, lambda: np.asarray(
            self.learner.uncertainty(rows, kind, mc_passes=mc_passes, me_on=me_on, reduce=reduce), dtype=np.float64))

    def confidence(self, rows: pd.DataFrame):
        return self.learner.confidence(rows)


def base_scores(cfg: dict, pool: pd.DataFrame, kind: str) -> np.ndarray:
    """Uncertainty of the untuned base model over the whole pool, computed once and cached."""
    from alkit.lora import LoraCausalLM
    from alkit.star import base_uncertainty_key, cached_base_uncertainty

    _, train = _settings(cfg, "lora", wd=False)
    key = base_uncertainty_key(cfg["model_id"], list(pool["question"]) + list(pool["answer"]), kind,
                               dtype=cfg["dtype"], me_on=cfg["me_on"], reduce=cfg["uncertainty_reduce"],
                               max_new_tokens=cfg["max_new_tokens"], max_prompt_tokens=cfg["max_prompt_tokens"],
                               n=len(pool))  # fmt: skip

    def compute() -> np.ndarray:
        base = LoraCausalLM.base(cfg["model_id"], cfg["dataset"], train=train, dtype=cfg["dtype"])
        return base.uncertainty(pool, kind, mc_passes=1, me_on=cfg["me_on"], reduce=cfg["uncertainty_reduce"])

    return cached_base_uncertainty(key, compute)


def probe_idx(cfg: dict, pool: pd.DataFrame) -> np.ndarray:
    """Fig. 3's examples: the ``probe_top_k`` pool rows with the highest base-model ME."""
    scores = base_scores(cfg, pool, "me")
    k = min(cfg["probe_top_k"], len(pool))
    return np.sort(np.argsort(-scores, kind="stable")[:k]).astype(np.int64)


# --------------------------------------------------------------------------- one run


def run_configs(cfg: StarConfig) -> list[dict]:
    """One JSON-able config per (dataset, adapter, method, seed); per-dataset sizes flattened."""
    common = {k: v for k, v in config_dict(cfg).items()
              if k in ("model_id", "dtype", "quantization", "n_rounds", "lora_rank", "lora_alpha", "lora_dropout",
                       "lora_targets", "full_ft_lr", "max_prompt_tokens",
                       "max_answer_tokens", "weight_decay_B", "mc_passes", "schedule", "me_on",
                       "uncertainty_reduce", "probe_top_k", "data_seed")}  # fmt: skip
    out = []
    for d in cfg.datasets:
        sizes = {"pool_size": cfg.pool_size[d], "test_size": cfg.test_size[d], "warm_start": cfg.warm_start[d],
                 "query_size": cfg.query_size[d], "max_new_tokens": cfg.max_new_tokens[d], "lr": cfg.lr[d],
                 "epochs": cfg.epochs[d], "batch_size": cfg.batch_size[d]}  # fmt: skip
        for adapter, methods in (("lora", cfg.methods[d]), ("full", cfg.full_ft_methods[d])):
            for method in methods:
                for seed in cfg.seeds[d]:
                    out.append({"dataset": d, "adapter": adapter, "method": method, "seed": seed, **common, **sizes})
    return out


def run_one(config: dict, store) -> pd.DataFrame:
    """One STAR AL run on the shared loop (module level, so process pools can pickle it)."""
    from alkit.loop import run_al
    from alkit.lora import LoraCausalLM
    from alkit.oracles import GoldOracle
    from alkit.star import dynamic_uncertainty
    from alkit.strategies import QueryInputs, get_strategy

    dataset, adapter, method, seed = config["dataset"], config["adapter"], config["method"], config["seed"]
    kind, dynamic, mc, wd = METHODS[method]
    pool, test = star_data(dataset, config["pool_size"], config["test_size"], config["data_seed"])
    lora, train = _settings(config, adapter, wd)
    quant = None if config["quantization"] == "none" else config["quantization"]
    init_idx = np.sort(np.random.default_rng([seed, 11]).choice(len(pool), size=config["warm_start"], replace=False))
    probe = probe_idx(config, pool) if (method == "me" and adapter == "lora") else None

    def make_learner(learner_seed: int) -> MemoLearner:
        return MemoLearner(LoraCausalLM(config["model_id"], dataset, lora=lora, train=train, dtype=config["dtype"],
                                        seed=learner_seed, adapter=adapter, quantization=quant), dataset)  # fmt: skip

    def evaluate(learner: MemoLearner, ctx) -> dict[str, float]:
        result = learner.evaluate(test)
        if probe is not None:  # Fig. 3: ME of the fixed probe rows under every round's model
            ctx.save_array("probe_me", learner.uncertainty(pool.iloc[probe], "me", 1, config["me_on"],
                                                           config["uncertainty_reduce"]))  # fmt: skip
        if dataset == "boolq" and method == "random" and adapter == "lora" and ctx.round_ == config["n_rounds"]:
            labels, conf = learner.confidence(test)  # Fig. 2: the final LoRA model's confidence
            ctx.save_array("confidence", conf)
            ctx.save_array("confidence_correct", (labels == test["target"].to_numpy()).astype(np.int8))
        return {k: v for k, v in result.items() if k in ("accuracy", "mean_gen_tokens", "n_unparsed")}

    def query_inputs(learner: MemoLearner, needs, pool_idx, labeled_idx, ctx) -> QueryInputs:
        if kind is None:
            return QueryInputs()
        k = config["mc_passes"] if mc else 1
        full = learner.uncertainty(pool.iloc[pool_idx], kind, k, config["me_on"], config["uncertainty_reduce"])
        if dynamic:
            full = dynamic_uncertainty(base_scores(config, pool, kind)[pool_idx], full, ctx.round_, config["schedule"])
        scores = np.full(len(pool), np.nan)
        scores[pool_idx] = full
        ctx.save_array("scores", scores)
        return QueryInputs(scores=scores)

    records = run_al(
        X=pool, oracle=GoldOracle(pool["answer"].to_numpy(dtype=object)),
        strategy=get_strategy("random" if kind is None else "precomputed"), make_learner=make_learner,
        pool_idx=np.arange(len(pool), dtype=np.int64), init_idx=init_idx, n_rounds=config["n_rounds"],
        batch_size=config["query_size"], evaluate=evaluate, seed=seed, query_inputs=query_inputs, store=store,
    )  # fmt: skip
    from alkit.models import model_provenance

    records.attrs["provenance"] = {"model": model_provenance(config["model_id"]),
                                   "probe_idx": None if probe is None else probe.tolist()}  # fmt: skip
    return records


def run_star(cfg: StarConfig, *, force: bool = False, progress: bool = True) -> pd.DataFrame:
    """Run every missing STAR run (in process: the base model is loaded once) and return the records."""
    from alkit.sweep import run_grid

    records = run_grid(NOTEBOOK, run_configs(cfg), run_one, n_jobs=1, force=force, progress=progress,
                       desc="star runs")  # fmt: skip
    return records[["dataset", "adapter", "method", "seed", "round", "n_labeled", "accuracy", "mean_gen_tokens",
                    "n_unparsed", "queried_idx", "run"]]  # fmt: skip


# --------------------------------------------------------------------------- probes (Figs. 2 and 3)


def _run_dir(cfg: StarConfig, **select: Any):
    from alkit.sweep import run_dir

    matches = [c for c in run_configs(cfg) if all(c[k] == v for k, v in select.items())]
    if not matches:
        raise ValueError(f"no run matches {select}; the params do not include it")
    return run_dir(NOTEBOOK, matches[0])


def entropy_matrix(cfg: StarConfig, dataset: str) -> pd.DataFrame:
    """Fig. 3: ME of the probe rows, base model (iter0) then each round's LoRA model (iter t = round t-1)."""
    from alkit.loop import RoundStore

    directory = _run_dir(cfg, dataset=dataset, adapter="lora", method="me")
    config = read_json(directory / "config.json")
    pool, _ = star_data(dataset, config["pool_size"], config["test_size"], config["data_seed"])
    probe = probe_idx(config, pool)
    store = RoundStore(directory)
    columns = {"iter0": base_scores(config, pool, "me")[probe]}
    for r in range(config["n_rounds"] + 1):
        if store.has_array(r, "probe_me"):
            columns[f"iter{r + 1}"] = store.load_array(r, "probe_me")
    return pd.DataFrame(columns, index=pd.Index(pool["id"].to_numpy()[probe], name="id"))


def confidence_probe(cfg: StarConfig) -> tuple[pd.DataFrame, dict[str, float]]:
    """Fig. 2: BoolQ test confidence max(p_true, p_false) of the final LoRA model (Random run,
    first seed) and of the few-shot in-context base model; returns (frame, accuracies)."""
    from alkit.loop import RoundStore
    from alkit.lora import LoraCausalLM

    directory = _run_dir(cfg, dataset="boolq", adapter="lora", method="random", seed=cfg.seeds["boolq"][0])
    config = read_json(directory / "config.json")
    store = RoundStore(directory)
    pool, test = star_data("boolq", config["pool_size"], config["test_size"], config["data_seed"])
    lora_conf = store.load_array(config["n_rounds"], "confidence")
    lora_correct = store.load_array(config["n_rounds"], "confidence_correct").astype(bool)

    _, train = _settings(config, "lora", wd=False)
    demos = pool.iloc[np.random.default_rng(config["data_seed"] + 2).choice(len(pool), cfg.fewshot_k, replace=False)]
    path = cache_dir("lm_scores") / (stable_hash({"fewshot": config["model_id"], "dtype": config["dtype"],
                                                  "test": text_hash(list(test["question"])),
                                                  "demos": text_hash(list(demos["question"]))}) + ".npz")  # fmt: skip
    if path.exists():
        saved = np.load(path, allow_pickle=False)
        fs_conf, fs_correct = saved["conf"], saved["correct"].astype(bool)
    else:
        base = LoraCausalLM.base(config["model_id"], "boolq", train=train, dtype=config["dtype"])
        labels, fs_conf = base.confidence(test, demos=demos)
        fs_correct = labels == test["target"].to_numpy()
        from alkit.io import atomic_write

        def write(tmp) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, conf=fs_conf, correct=fs_correct.astype(np.int8))

        atomic_write(path, write)
    frame = pd.concat([
        pd.DataFrame({"model": "LoRA", "correct": lora_correct, "confidence": lora_conf}),
        pd.DataFrame({"model": "Few-shot", "correct": fs_correct, "confidence": fs_conf}),
    ], ignore_index=True)  # fmt: skip
    accuracies = {"LoRA": float(lora_correct.mean()), "Few-shot": float(fs_correct.mean())}
    return frame, accuracies
