"""A causal LM fine-tuned with LoRA (or fully) for STAR; the only module that imports peft.

One learner per AL round, as the paper does (LoRA is re-initialised every round). The base
model is loaded once per process and cached; each learner deep-copies the module tree while
*sharing* the frozen base tensors (``copy.deepcopy`` with a memo holding them), then wraps the
copy with freshly initialised, seeded LoRA weights. A round therefore costs no reload and no
extra memory for the base weights; ``adapter="full"`` (Fig. 1b) copies the weights for real.

Paper settings (Appendix B): r=64, alpha=16, dropout 0.1 on q,k,v,o,gate,up,down; AdamW;
batch 8 / lr 1.5e-4 / 3 epochs (GSM8K), batch 32 / lr 3e-5 / 15 epochs (BoolQ, OBQA).
Weight decay on B (Eq. 6) is AdamW's decoupled decay in a ``lora_B``-only parameter group
(the authors: 0.5 on B, 0 on A); ``l2_B`` optionally adds the coupled penalty
``l2_B / 2 * ||B||^2`` to the loss instead (an ablation; Eq. 6 itself is decoupled).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from alkit import prompts as P
from alkit.lm_uncertainty import (
    ME_ON,
    binary_confidence,
    check_kind,
    next_token_logits,
    pack_left,
    response_logits,
    score_responses,
)

ADAPTERS = ("lora", "full", "none")  # "none": the frozen base model (few-shot ICL, mu_base)
DTYPES = ("float32", "bfloat16")
LORA_INITS = {"kaiming": True, "gaussian": "gaussian"}  # peft init_lora_weights values
LR_SCHEDULES = ("linear", "constant")
PAPER_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _fail(cond: bool, message: str) -> None:
    if cond:
        raise ValueError(message)


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyperparameters (peft ``LoraConfig``); defaults are the paper's (Appendix B).

    ``init="kaiming"`` is peft's default (A Kaiming-uniform, B zero), what the authors ran;
    ``"gaussian"`` draws A from N(0, 1/r) (the paper's text says A ~ N(0, 1)).
    """

    rank: int = 64
    alpha: float = 16.0
    dropout: float = 0.1
    target_modules: tuple[str, ...] = PAPER_TARGET_MODULES
    init: str = "kaiming"

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        _fail(self.rank <= 0, f"LoraSettings.rank must be > 0, got {self.rank}")
        _fail(self.alpha <= 0, f"LoraSettings.alpha must be > 0, got {self.alpha}")
        _fail(not 0.0 <= self.dropout < 1.0, f"LoraSettings.dropout must be in [0, 1), got {self.dropout}")
        _fail(len(self.target_modules) == 0, "LoraSettings.target_modules must not be empty")
        _fail(
            self.init not in LORA_INITS, f"LoraSettings.init {self.init!r}; choose from {sorted(LORA_INITS)}"
        )


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation and decoding settings; defaults are the paper's GSM8K ones.

    ``micro_batch_size`` splits each batch for memory (gradients are accumulated with exact
    token weighting, so the update equals the full batch's). ``append_eos`` ends each training
    answer with EOS so that generation stops (the authors' code does not; it always decodes
    ``max_new_tokens``). Prompts longer than ``max_prompt_tokens`` keep their last tokens
    (authors: left truncation at 128); answers are cut at ``max_answer_tokens`` (authors: 256).
    """

    lr: float = 1.5e-4
    epochs: int = 3
    batch_size: int = 8
    micro_batch_size: int | None = None
    weight_decay_B: float = 0.0
    l2_B: float = 0.0
    lr_schedule: str = "linear"
    warmup_ratio: float = 0.0
    max_grad_norm: float | None = None
    max_prompt_tokens: int = 512
    max_answer_tokens: int = 256
    max_new_tokens: int = 256
    eval_batch_size: int = 16
    prompt_style: str = "paper"
    append_eos: bool = True

    def __post_init__(self) -> None:
        _fail(not self.lr > 0, f"TrainSettings.lr must be > 0, got {self.lr}")
        _fail(self.epochs < 1, f"TrainSettings.epochs must be >= 1, got {self.epochs}")
        _fail(self.batch_size < 1, f"TrainSettings.batch_size must be >= 1, got {self.batch_size}")
        _fail(
            self.micro_batch_size is not None and self.micro_batch_size < 1, "micro_batch_size must be >= 1"
        )
        _fail(self.weight_decay_B < 0 or self.l2_B < 0, "weight_decay_B and l2_B must be >= 0")
        _fail(
            self.lr_schedule not in LR_SCHEDULES,
            f"lr_schedule {self.lr_schedule!r}; choose from {list(LR_SCHEDULES)}",
        )
        _fail(not 0.0 <= self.warmup_ratio < 1.0, f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        _fail(self.max_grad_norm is not None and self.max_grad_norm <= 0, "max_grad_norm must be > 0 or None")
        for name in ("max_prompt_tokens", "max_answer_tokens", "max_new_tokens", "eval_batch_size"):
            _fail(getattr(self, name) < 1, f"TrainSettings.{name} must be >= 1, got {getattr(self, name)}")
        _fail(
            self.prompt_style not in P.STYLES,
            f"prompt_style {self.prompt_style!r}; choose from {list(P.STYLES)}",
        )


# --- base-model cache -------------------------------------------------------------------------------

_BASE_MODELS: dict[tuple[str, str, str | None], tuple[Any, Any]] = {}


def _freeze(model) -> None:
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)


def register_base_model(
    model_id: str, model, tokenizer, *, dtype: str = "float32", quantization=None
) -> None:
    """Put an already-built (model, tokenizer) in the cache under ``model_id`` (tests, notebooks)."""
    _freeze(model)
    _BASE_MODELS[(model_id, dtype, quantization)] = (model, tokenizer)


def base_model(model_id: str, *, dtype: str = "float32", quantization: str | None = None) -> tuple[Any, Any]:
    """The frozen base (model, tokenizer), loaded through ``alkit.models`` once per process."""
    _fail(dtype not in DTYPES, f"unknown dtype {dtype!r}; choose from {list(DTYPES)}")
    key = (model_id, dtype, quantization)
    if key not in _BASE_MODELS:
        from alkit.models import load_causal_lm

        model, tokenizer = load_causal_lm(model_id, dtype=dtype, quantization=quantization)
        register_base_model(model_id, model, tokenizer, dtype=dtype, quantization=quantization)
    return _BASE_MODELS[key]


def clear_base_models() -> None:
    _BASE_MODELS.clear()


def fresh_model(base, adapter: str, lora: LoraSettings, seed: int):
    """A trainable model for one round: LoRA (seeded init) on a weight-sharing copy of ``base``,
    a full copy (``"full"``), or ``base`` itself (``"none"``, never trained)."""
    _fail(adapter not in ADAPTERS, f"unknown adapter {adapter!r}; choose from {list(ADAPTERS)}")
    if adapter == "none":
        return base
    if adapter == "full":
        model = copy.deepcopy(base)
        model.requires_grad_(True)
        return model.eval()
    from peft import LoraConfig, TaskType, get_peft_model

    shared = {id(t): t for t in chain(base.parameters(), base.buffers())}
    model = copy.deepcopy(base, shared)  # new modules, same frozen tensors
    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        init_lora_weights=LORA_INITS[lora.init],
    )
    with _seeded(seed), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model = get_peft_model(model, config)
    return model.eval()  # peft returns a model in train mode; dropout stays off until fit/MC


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's generators inside the block only (LoRA init, dropout masks); CUDA too."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def lora_dropout_modules(model) -> list[torch.nn.Module]:
    """peft's per-adapter dropout layers (``...lora_dropout.<adapter>``), excluding Identity."""
    return [
        m for name, m in model.named_modules() if ".lora_dropout." in name and isinstance(m, torch.nn.Dropout)
    ]


@contextmanager
def mc_dropout(model, active: bool) -> Iterator[None]:
    """Eval mode everywhere; with ``active``, the LoRA dropouts (only) sample masks (Eq. 7)."""
    was_training = model.training
    model.eval()
    if active:
        modules = lora_dropout_modules(model)
        _fail(not modules, "MC dropout needs LoRA dropout layers (adapter='lora' with dropout > 0)")
        for module in modules:
            module.train()
    try:
        yield
    finally:
        model.train(was_training)


def make_optimizer(model, train: TrainSettings) -> torch.optim.AdamW:
    """AdamW over trainable parameters; decoupled decay ``weight_decay_B`` on ``lora_B`` only."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    lora_b = [p for n, p in named if "lora_B" in n]
    groups = [{"params": [p for n, p in named if "lora_B" not in n], "weight_decay": 0.0}]
    if lora_b:
        groups.append({"params": lora_b, "weight_decay": train.weight_decay_B})
    return torch.optim.AdamW(groups, lr=train.lr)


def answer_loss(model, batch: dict[str, torch.Tensor], n_answer_tokens: int) -> torch.Tensor:
    """Summed NLL of the answer tokens of a :func:`pack_left` batch / ``n_answer_tokens``."""
    logits = response_logits(model, batch)
    mask = batch["target_mask"].to(logits.device)
    targets = batch["targets"].to(logits.device)
    return F.cross_entropy(logits[mask].float(), targets[mask], reduction="sum") / n_answer_tokens


def train_step(model, optimizer, prompts, completions, *, pad_id: int, train: TrainSettings) -> float:
    """One optimiser update on a batch of (prompt ids, completion ids); returns the loss."""
    n_tokens = sum(len(c) for c in completions)
    _fail(n_tokens == 0, "a training batch needs at least one answer token")
    optimizer.zero_grad(set_to_none=True)
    micro = train.micro_batch_size or len(prompts)
    # Micro-batches of similar length waste less compute on padding; the token-weighted sum of
    # their losses equals the full batch's loss whatever the grouping.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(completions[i]))
    total = 0.0
    for start in range(0, len(order), micro):
        idx = order[start : start + micro]
        batch = pack_left([prompts[i] for i in idx], [completions[i] for i in idx], pad_id)
        loss = answer_loss(model, batch, n_tokens)
        if start == 0 and train.l2_B > 0:
            loss = loss + 0.5 * train.l2_B * sum(
                (p.float() ** 2).sum() for n, p in model.named_parameters() if "lora_B" in n
            )
        loss.backward()
        total += loss.item()
    if train.max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(
            [p for p in model.parameters() if p.requires_grad], train.max_grad_norm
        )
    optimizer.step()
    return total


class LoraCausalLM:
    """Decoder + LoRA learner for GSM8K / BoolQ / OBQA (STAR). A fresh one per AL round.

    Parameters
    ----------
    model_id : str
        Hub id resolved by ``alkit.models`` (or registered with :func:`register_base_model`).
    dataset : {"gsm8k", "boolq", "obqa"}
        Selects the Table 4 template and the answer extraction.
    lora, train : LoraSettings, TrainSettings
    dtype : {"float32", "bfloat16"}
        Base weights' dtype; LoRA weights stay float32 (peft's autocast). bf16 is ~2x faster
        for batched scoring on CPU, slower for one-at-a-time generation.
    seed : int
        LoRA init, batch order, training dropout and MC-dropout masks.
    adapter : {"lora", "full", "none"}
        ``"full"``: full fine-tuning (Fig. 1b; ``lora`` ignored); ``"none"``: the frozen base
        model (few-shot in-context scoring, base-model uncertainty), cannot be fitted.
    """

    def __init__(
        self,
        model_id: str,
        dataset: str,
        *,
        lora: LoraSettings | None = None,
        train: TrainSettings | None = None,
        dtype: str = "float32",
        seed: int = 0,
        adapter: str = "lora",
        quantization: str | None = None,
    ) -> None:
        self.dataset = P.canonical_dataset(dataset)
        self.lora = lora if lora is not None else LoraSettings()
        self.train = train if train is not None else TrainSettings()
        _fail(not isinstance(self.lora, LoraSettings), "lora must be a LoraSettings")
        _fail(not isinstance(self.train, TrainSettings), "train must be a TrainSettings")
        _fail(adapter not in ADAPTERS, f"unknown adapter {adapter!r}; choose from {list(ADAPTERS)}")
        _fail(
            adapter == "full" and self.train.weight_decay_B > 0,
            "weight_decay_B acts on LoRA B; adapter='full' has none",
        )
        self.model_id, self.dtype, self.seed, self.adapter = model_id, dtype, int(seed), adapter
        self._base, self.tokenizer = base_model(model_id, dtype=dtype, quantization=quantization)
        self.eos_id = self.tokenizer.eos_token_id
        _fail(
            self.eos_id is None and self.train.append_eos, "tokenizer has no EOS token; set append_eos=False"
        )
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.eos_id if self.eos_id is not None else 0)
        self.model = fresh_model(self._base, adapter, self.lora, self.seed)
        self.losses_: list[float] = []
        self._fitted = False

    @classmethod
    def base(
        cls,
        model_id: str,
        dataset: str,
        *,
        train: TrainSettings | None = None,
        dtype: str = "float32",
        seed: int = 0,
    ) -> LoraCausalLM:
        """The untuned base model behind the same scoring API (``adapter="none"``)."""
        return cls(model_id, dataset, train=train, dtype=dtype, seed=seed, adapter="none")

    @property
    def n_trainable(self) -> int:
        return (
            sum(p.numel() for p in self.model.parameters() if p.requires_grad)
            if self.adapter != "none"
            else 0
        )

    # --- tokenisation ---
    def _encode_prompt(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        limit = self.train.max_prompt_tokens
        if len(ids) <= limit:
            return ids
        bos = self.tokenizer.bos_token_id
        keep_bos = bos is not None and ids[0] == bos
        return ([bos] + ids[len(ids) - limit + 1 :]) if keep_bos else ids[len(ids) - limit :]

    def _encode_answer(self, text: str, eos: bool) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) > self.train.max_answer_tokens:
            return ids[: self.train.max_answer_tokens]  # cut: no EOS, it did not end here
        return ids + [self.eos_id] if eos else ids

    def _prompts(self, rows: pd.DataFrame, demos: pd.DataFrame | None = None) -> list[str]:
        _require(rows, ("question",))
        style = self.train.prompt_style
        if demos is None:
            return [P.build_prompt(self.dataset, q, style=style) for q in rows["question"]]
        _require(demos, ("question", "answer"))
        shots = list(zip(demos["question"], demos["answer"], strict=True))
        return [P.few_shot_prompt(self.dataset, shots, q, style=style) for q in rows["question"]]

    # --- training ---
    def fit(self, rows: pd.DataFrame, answers: Sequence[str]) -> LoraCausalLM:
        """Train on ``prompt -> answer`` (loss on answer tokens only); re-initialises first."""
        _fail(self.adapter == "none", "adapter='none' is the frozen base model; it cannot be fitted")
        answers = list(answers)
        _fail(len(rows) != len(answers), f"{len(rows)} rows but {len(answers)} answers")
        _fail(len(answers) == 0, "fit needs at least one example")
        _require(rows, ("question",))
        if self._fitted:
            self.model = fresh_model(self._base, self.adapter, self.lora, self.seed)
        style, train = self.train.prompt_style, self.train
        pairs = [
            P.training_pair(self.dataset, q, a, style=style)
            for q, a in zip(rows["question"], answers, strict=True)
        ]
        prompt_ids = [self._encode_prompt(p) for p, _ in pairs]
        answer_ids = [self._encode_answer(c, eos=train.append_eos) for _, c in pairs]
        n_batches = math.ceil(len(pairs) / train.batch_size)
        optimizer = make_optimizer(self.model, train)
        scheduler = _scheduler(optimizer, train, n_batches * train.epochs)
        rng = np.random.default_rng(self.seed)
        self.losses_ = []
        self.model.train()
        with _seeded(self.seed + 1):
            for _ in range(train.epochs):
                order = rng.permutation(len(pairs))
                for b in range(n_batches):
                    idx = order[b * train.batch_size : (b + 1) * train.batch_size]
                    loss = train_step(
                        self.model,
                        optimizer,
                        [prompt_ids[i] for i in idx],
                        [answer_ids[i] for i in idx],
                        pad_id=self.pad_id,
                        train=train,
                    )
                    scheduler.step()
                    self.losses_.append(loss)
        self.model.eval()
        self._fitted = True
        return self

    # --- generation and evaluation ---
    @torch.no_grad()
    def _generate_ids(self, prompt_ids: list[list[int]]) -> list[list[int]]:
        """Greedy continuations (token ids, EOS and padding removed), left-padded batches."""
        out: list[list[int]] = [[] for _ in prompt_ids]
        order = sorted(range(len(prompt_ids)), key=lambda i: -len(prompt_ids[i]))
        device = next(self.model.parameters()).device
        with mc_dropout(self.model, active=False):
            for start in range(0, len(order), self.train.eval_batch_size):
                idx = order[start : start + self.train.eval_batch_size]
                batch = pack_left([prompt_ids[i] for i in idx], [[] for _ in idx], self.pad_id)
                generated = self.model.generate(
                    input_ids=batch["input_ids"].to(device),
                    attention_mask=batch["attention_mask"].to(device),
                    max_new_tokens=self.train.max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=self.pad_id,
                    eos_token_id=self.eos_id,
                )[:, batch["input_ids"].shape[1] :].tolist()
                for i, ids in zip(idx, generated, strict=True):
                    out[i] = ids[: ids.index(self.eos_id)] if self.eos_id in ids else ids
        return out

    def generate(self, rows: pd.DataFrame, demos: pd.DataFrame | None = None) -> tuple[list[str], list[int]]:
        """Greedy completions of each row's prompt: (texts, numbers of generated tokens)."""
        ids = self._generate_ids([self._encode_prompt(p) for p in self._prompts(rows, demos)])
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True) if ids else []
        if demos is not None:  # the base model continues with a next "demonstration": cut it
            texts = [t.split(P.DEMO_SEPARATOR)[0] for t in texts]
        return texts, [len(i) for i in ids]

    def predict(self, rows: pd.DataFrame, demos: pd.DataFrame | None = None) -> list[str | None]:
        """Extracted short answers by greedy decoding (``None`` where no answer is found)."""
        texts, _ = self.generate(rows, demos)
        return [P.extract_answer(self.dataset, t) for t in texts]

    def evaluate(self, rows: pd.DataFrame, demos: pd.DataFrame | None = None) -> dict[str, float]:
        """Accuracy of :meth:`predict` against ``rows.target``, with n and mean generated length."""
        _require(rows, ("question", "target"))
        texts, lengths = self.generate(rows, demos)
        preds = [P.extract_answer(self.dataset, t) for t in texts]
        hits = [P.answers_match(self.dataset, p, t) for p, t in zip(preds, rows["target"], strict=True)]
        return {
            "accuracy": float(np.mean(hits)) if hits else float("nan"),
            "n": len(hits),
            "mean_gen_tokens": float(np.mean(lengths)) if lengths else float("nan"),
            "n_unparsed": sum(p is None for p in preds),
        }

    # --- uncertainty ---
    def uncertainty(
        self,
        rows: pd.DataFrame,
        kind: str,
        mc_passes: int = 1,
        *,
        me_on: str = "generated",
        reduce: str = "sum",
    ) -> np.ndarray:
        """Per-row ME or PE, shape (n,), higher = more uncertain (see :mod:`alkit.lm_uncertainty`).

        ``kind="pe"`` reads ``rows.answer`` (label-dependent). ``kind="me"`` scores the greedy
        generation (``me_on="generated"``, the paper; generated once without dropout) or the
        gold answer (``me_on="gold"``, the authors' code). ``mc_passes > 1`` activates the LoRA
        dropouts and averages K passes (Eq. 7); ``mc_passes = 1`` is deterministic.
        """
        check_kind(kind)
        _fail(me_on not in ME_ON, f"unknown me_on {me_on!r}; choose from {list(ME_ON)}")
        _fail(mc_passes < 1, f"mc_passes must be >= 1, got {mc_passes}")
        prompt_ids = [self._encode_prompt(p) for p in self._prompts(rows)]
        if kind == "pe" or me_on == "gold":
            _require(rows, ("answer",))
            responses = [self._encode_answer(c, eos=False) for c in self._completions(rows)]
        else:
            responses = self._generate_ids(prompt_ids)
        with mc_dropout(self.model, active=mc_passes > 1), _seeded(self.seed + 2):
            return score_responses(
                self.model,
                prompt_ids,
                responses,
                kind=kind,
                pad_id=self.pad_id,
                reduce=reduce,
                batch_size=self.train.eval_batch_size,
                mc_passes=mc_passes,
            )

    def _completions(self, rows: pd.DataFrame) -> list[str]:
        style = self.train.prompt_style
        return [
            P.training_pair(self.dataset, q, a, style=style)[1]
            for q, a in zip(rows["question"], rows["answer"], strict=True)
        ]

    def confidence(
        self, rows: pd.DataFrame, demos: pd.DataFrame | None = None, *, renormalize: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """BoolQ prediction and confidence ``max(p_true, p_false)`` (Eq. 4), one forward pass.

        The prompt (with ``demos`` prepended for few-shot in-context scoring) is followed by
        "the correct answer is"; p is read at the next token (first token of " true"/" false").
        Returns ``(labels (n,) of "true"/"false", conf (n,) float64)``.
        """
        prefix = P.confidence_prefix(self.dataset)
        texts = [p + prefix for p in self._prompts(rows, demos)]
        true_id, false_id = (
            self.tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in P.BOOLQ_LABELS
        )
        _fail(true_id == false_id, "tokenizer maps ' true' and ' false' to the same first token")
        logits = next_token_logits(
            self.model,
            [self._encode_prompt(t) for t in texts],
            pad_id=self.pad_id,
            batch_size=self.train.eval_batch_size,
        )
        if len(texts) == 0:
            return np.array([], dtype=object), np.array([], dtype=np.float64)
        is_true, conf = binary_confidence(logits, true_id, false_id, renormalize=renormalize)
        labels = np.where(is_true.numpy(), P.BOOLQ_LABELS[0], P.BOOLQ_LABELS[1]).astype(object)
        return labels, conf.double().numpy()


def _require(rows: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise KeyError(f"rows lack column(s) {missing}; have {list(rows.columns)}")


def _scheduler(optimizer, train: TrainSettings, n_steps: int):
    from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

    warmup = int(train.warmup_ratio * n_steps)
    if train.lr_schedule == "linear":
        return get_linear_schedule_with_warmup(optimizer, num_warmup_steps=warmup, num_training_steps=n_steps)
    return get_constant_schedule_with_warmup(optimizer, num_warmup_steps=warmup)
