"""Uncertainty of a causal LM's responses (STAR Sec. 3.2, Eq. 2-4, 7): pure torch + batching.

Pure functions take logits already aligned with the response: ``logits[:, i]`` is the
next-token distribution that produced response token ``i`` (so a forward pass over
``prompt + response`` contributes positions ``len(prompt) - 1 ... len(prompt) + N - 2``).

- Maximum Entropy (ME, Eq. 2): ``sum_i H(p(. | s_<i, x))`` over the response's ``N`` tokens,
  the full-vocabulary entropy at each step. Label-independent when the response is the model's
  own greedy generation (the paper's definition, our default); the authors' code evaluates it on
  the *gold* answer instead (``me_on="gold"``), which makes it label-dependent too.
- Predictive Entropy (PE, Eq. 3): ``-log p(s_bar | x) = -sum_i log p(z_bar_i | s_bar_<i, x)``
  of the GOLD answer ``s_bar``. **PE is LABEL-DEPENDENT: the acquisition function reads the
  labels of the pool it is choosing from** -- a property of the paper's method, not a leak of
  ours; notebooks must say so (``LABEL_DEPENDENT``).
- Prediction confidence (Eq. 4): ``max(p_true, p_false)`` from one forward pass (BoolQ).

Both entropies are SUMS over tokens as printed in Eq. 2-3 (and coded by the authors);
``reduce="mean"`` divides by the response length (length-normalised variant). The EOS token is
a stop signal, not part of ``s``: it is never scored. Natural logarithms (nats).

MC dropout (Eq. 7): ``mu_f = 1/K sum_k ME(LLM(x | A_k, B_k))``. The ``K`` passes are batched
by repeating each row ``K`` times in one forward pass (dropout masks are drawn per element, so
each copy gets its own); which dropout modules are active is the caller's business
(:func:`alkit.lora.mc_dropout` turns on the LoRA dropouts only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

KINDS = ("me", "pe")
LABEL_DEPENDENT = frozenset({"pe"})  # scores that read the gold answer of the example scored
REDUCTIONS = ("sum", "mean")
ME_ON = ("generated", "gold")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown uncertainty kind {kind!r}; choose from {list(KINDS)}")


def _check_reduce(reduce: str) -> None:
    if reduce not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduce!r}; choose from {list(REDUCTIONS)}")


def _reduce(per_token: torch.Tensor, mask: torch.Tensor, reduce: str) -> torch.Tensor:
    _check_reduce(reduce)
    mask = mask.to(per_token.dtype)
    total = (per_token * mask).sum(dim=-1)
    if reduce == "sum":
        return total
    # An empty response (immediate EOS) scores 0 under both reductions.
    return total / mask.sum(dim=-1).clamp(min=1.0)


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``softmax(logits)`` over the last axis: (..., V) -> (...), in float32."""
    log_probs = F.log_softmax(logits.float(), dim=-1)
    return -(log_probs.exp() * log_probs).sum(dim=-1)


def maximum_entropy(logits: torch.Tensor, mask: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
    """ME, Eq. 2.

    Parameters
    ----------
    logits : tensor of shape (n, T, V)
        Response-aligned next-token logits.
    mask : bool tensor of shape (n, T)
        True on the response's tokens (rows may have different lengths).
    reduce : {"sum", "mean"}
        ``"sum"`` is Eq. 2; ``"mean"`` divides by the number of response tokens.

    Returns
    -------
    tensor of shape (n,)
    """
    return _reduce(token_entropy(logits), mask, reduce)


def predictive_entropy(
    logits: torch.Tensor, target_ids: torch.Tensor, mask: torch.Tensor, reduce: str = "sum"
) -> torch.Tensor:
    """PE, Eq. 3: negative log-likelihood of the gold answer tokens. LABEL-DEPENDENT.

    Parameters
    ----------
    logits : tensor of shape (n, T, V)
    target_ids : long tensor of shape (n, T)
        Gold answer token ids (any value where ``mask`` is False).
    mask : bool tensor of shape (n, T)
    reduce : {"sum", "mean"}

    Returns
    -------
    tensor of shape (n,)
    """
    log_probs = F.log_softmax(logits.float(), dim=-1)
    safe_ids = torch.where(mask, target_ids, torch.zeros_like(target_ids))
    nll = -log_probs.gather(-1, safe_ids.unsqueeze(-1)).squeeze(-1)
    return _reduce(nll, mask, reduce)


def binary_confidence(
    logits: torch.Tensor, true_id: int, false_id: int, renormalize: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 4: ``CF = max(p_true, p_false)`` from next-token logits of shape (n, V).

    ``p`` is the full-vocabulary softmax as in the paper; ``renormalize=True`` uses
    ``p_true / (p_true + p_false)`` instead. Returns ``(pred_is_true (n,) bool, conf (n,))``.
    """
    probs = F.softmax(logits.float(), dim=-1)
    p_true, p_false = probs[:, true_id], probs[:, false_id]
    if renormalize:
        total = p_true + p_false
        p_true, p_false = p_true / total, p_false / total
    return p_true >= p_false, torch.maximum(p_true, p_false)


# --- batched forward passes -----------------------------------------------------------------------


def pack_left(
    prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]], pad_id: int
) -> dict[str, torch.Tensor]:
    """Left-pad ``prompt + response`` token lists so every response ends at the last column.

    Returns ``input_ids``, ``attention_mask``, ``position_ids`` (n, L) -- positions count real
    tokens only, so padding never shifts them -- and ``targets``/``target_mask`` (n, R) where
    ``R = max response length``: column ``j`` is the token at sequence position ``L - R + j``,
    predicted by the logits at ``L - R - 1 + j``, i.e. by the first ``R`` of the last ``R + 1``
    logits (``logits_to_keep = R + 1``).
    """
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    seqs = [list(p) + list(r) for p, r in zip(prompts, responses, strict=True)]
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token (the response is predicted from it)")
    n, length = len(seqs), max(len(s) for s in seqs)
    n_resp = max((len(r) for r in responses), default=0)
    input_ids = torch.full((n, length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((n, length), dtype=torch.long)
    target_mask = torch.zeros((n, n_resp), dtype=torch.bool)
    for i, (seq, resp) in enumerate(zip(seqs, responses, strict=True)):
        input_ids[i, length - len(seq) :] = torch.tensor(seq, dtype=torch.long)
        attention_mask[i, length - len(seq) :] = 1
        if len(resp):
            target_mask[i, n_resp - len(resp) :] = True
    position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "position_ids": position_ids,
        "targets": input_ids[:, length - n_resp :].clone(),
        "target_mask": target_mask,
    }


def response_logits(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Response-aligned logits (n, R, V) for a :func:`pack_left` batch (one forward pass)."""
    n_resp = batch["targets"].shape[1]
    device = next(model.parameters()).device
    out = model(
        input_ids=batch["input_ids"].to(device),
        attention_mask=batch["attention_mask"].to(device),
        position_ids=batch["position_ids"].to(device),
        logits_to_keep=n_resp + 1,
        use_cache=False,
    )
    return out.logits[:, :n_resp]


def _repeat(batch: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    return {key: value.repeat_interleave(k, dim=0) for key, value in batch.items()}


@torch.no_grad()
def score_responses(
    model,
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    *,
    kind: str,
    pad_id: int,
    reduce: str = "sum",
    batch_size: int = 8,
    mc_passes: int = 1,
) -> np.ndarray:
    """ME or PE of each ``response`` given its ``prompt`` (token id lists), shape (n,) float64.

    ``kind="me"`` is the entropy along ``response`` (generated or gold: the caller decides);
    ``kind="pe"`` is the NLL of ``response`` (pass the gold answer: label-dependent). With
    ``mc_passes = K > 1`` each row is repeated ``K`` times in the same forward pass and the K
    scores are averaged (Eq. 7); the model's dropout state is left as the caller set it.
    Rows are processed longest-first in chunks of ``batch_size`` (x K) rows.
    """
    check_kind(kind)
    _check_reduce(reduce)
    if mc_passes < 1:
        raise ValueError(f"mc_passes must be >= 1, got {mc_passes}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(prompts)
    scores = np.zeros(n, dtype=np.float64)
    order = sorted(range(n), key=lambda i: -(len(prompts[i]) + len(responses[i])))
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        batch = pack_left([prompts[i] for i in idx], [responses[i] for i in idx], pad_id)
        if batch["targets"].shape[1] == 0:
            continue  # every response empty: score 0
        batch = _repeat(batch, mc_passes)
        logits = response_logits(model, batch)
        mask = batch["target_mask"].to(logits.device)
        if kind == "me":
            per_pass = maximum_entropy(logits, mask, reduce)
        else:
            per_pass = predictive_entropy(logits, batch["targets"].to(logits.device), mask, reduce)
        scores[idx] = per_pass.view(len(idx), mc_passes).mean(dim=1).double().cpu().numpy()
    return scores


@torch.no_grad()
def next_token_logits(
    model, prompts: Sequence[Sequence[int]], *, pad_id: int, batch_size: int = 8
) -> torch.Tensor:
    """Logits (n, V) of the token following each prompt (for Eq. 4), float32 on CPU."""
    rows: list[torch.Tensor] = [torch.empty(0)] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    for start in range(0, len(prompts), batch_size):
        idx = order[start : start + batch_size]
        batch = pack_left([prompts[i] for i in idx], [[] for _ in idx], pad_id)
        device = next(model.parameters()).device
        out = model(
            input_ids=batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
            position_ids=batch["position_ids"].to(device),
            logits_to_keep=1,
            use_cache=False,
        )
        for row, i in zip(out.logits[:, -1].float().cpu(), idx, strict=True):
            rows[i] = row
    return torch.stack(rows) if rows else torch.empty(0, 0)
