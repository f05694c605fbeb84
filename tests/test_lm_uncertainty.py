"""ME / PE / confidence from logits (hand values) and the batched forward helpers (tiny Llama)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from alkit import lm_uncertainty as U

H_34 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # entropy of (3/4, 1/4)


def _two_rows():
    # row 0: uniform then (3/4, 1/4); row 1: (3/4, 1/4) then a masked-out step
    logits = torch.tensor([[[0.0, 0.0], [math.log(3), 0.0]], [[math.log(3), 0.0], [5.0, -5.0]]])
    mask = torch.tensor([[True, True], [True, False]])
    return logits, mask


def test_maximum_entropy_hand_values():
    logits, mask = _two_rows()
    np.testing.assert_allclose(U.maximum_entropy(logits, mask).numpy(), [math.log(2) + H_34, H_34], rtol=1e-6)
    np.testing.assert_allclose(
        U.maximum_entropy(logits, mask, reduce="mean").numpy(), [(math.log(2) + H_34) / 2, H_34], rtol=1e-6
    )


def test_predictive_entropy_hand_values():
    logits, mask = _two_rows()
    targets = torch.tensor([[0, 1], [1, 999]])  # 999 sits under the mask and must be ignored
    # row 0: -log(1/2) - log(1/4) = 3 log 2; row 1: -log(1/4)
    np.testing.assert_allclose(
        U.predictive_entropy(logits, targets, mask).numpy(), [3 * math.log(2), math.log(4)], rtol=1e-6
    )
    np.testing.assert_allclose(
        U.predictive_entropy(logits, targets, mask, reduce="mean").numpy(),
        [1.5 * math.log(2), math.log(4)],
        rtol=1e-6,
    )


def test_token_entropy_matches_scipy():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, 11, generator=gen) * 3
    probs = torch.softmax(logits.double(), dim=-1).numpy()
    np.testing.assert_allclose(
        U.token_entropy(logits).numpy(), scipy.stats.entropy(probs, axis=-1), rtol=1e-5, atol=1e-6
    )


def test_empty_response_scores_zero():
    logits = torch.zeros(1, 2, 3)
    mask = torch.zeros(1, 2, dtype=torch.bool)
    assert U.maximum_entropy(logits, mask).item() == 0.0
    assert U.maximum_entropy(logits, mask, reduce="mean").item() == 0.0


def test_binary_confidence_eq4():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.3, 0.6]]))
    is_true, conf = U.binary_confidence(logits, true_id=0, false_id=1)
    assert is_true.tolist() == [True, False]
    np.testing.assert_allclose(conf.numpy(), [0.5, 0.3], rtol=1e-6)
    _, conf = U.binary_confidence(logits, true_id=0, false_id=1, renormalize=True)
    np.testing.assert_allclose(conf.numpy(), [2 / 3, 0.75], rtol=1e-6)


def test_pe_is_flagged_label_dependent():
    assert U.LABEL_DEPENDENT == {"pe"}
    assert U.LABEL_DEPENDENT <= set(U.KINDS)
    assert "LABEL-DEPENDENT" in U.predictive_entropy.__doc__


def test_bad_kind_and_reduce_raise():
    logits, mask = _two_rows()
    with pytest.raises(ValueError, match="sum"):
        U.maximum_entropy(logits, mask, reduce="max")
    with pytest.raises(ValueError, match="me"):
        U.check_kind("bald")


def test_pack_left_layout():
    batch = U.pack_left([[5, 6, 7], [8]], [[1, 2], [3]], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 1, 2], [0, 0, 0, 8, 3]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [0, 0, 0, 1, 1]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4], [0, 0, 0, 0, 1]]
    assert batch["targets"].tolist() == [[1, 2], [8, 3]]
    assert batch["target_mask"].tolist() == [[True, True], [False, True]]
    with pytest.raises(ValueError, match="prompt"):
        U.pack_left([[]], [[1]], pad_id=0)


# --- batched forward passes on a tiny random-init decoder ------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


def _reference(model, prompt, response, kind):
    """Unpadded single-sequence forward: the definition, without batching tricks."""
    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : len(prompt) + len(response) - 1].double()
    log_probs = torch.log_softmax(logits, dim=-1)
    if kind == "me":
        return float(-(log_probs.exp() * log_probs).sum())
    return float(-log_probs[torch.arange(len(response)), torch.tensor(response)].sum())


@pytest.mark.parametrize("kind", ["me", "pe"])
def test_score_responses_equals_unpadded_reference(tiny_lm, kind):
    rng = np.random.default_rng(1)
    prompts = [rng.integers(1, 50, size=n).tolist() for n in (3, 9, 1, 6, 4)]
    responses = [rng.integers(1, 50, size=n).tolist() for n in (4, 1, 5, 0, 2)]
    expected = [
        _reference(tiny_lm, p, r, kind) if r else 0.0 for p, r in zip(prompts, responses, strict=True)
    ]
    scores = U.score_responses(tiny_lm, prompts, responses, kind=kind, pad_id=0, batch_size=2)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)
    # deterministic model (eval): K batched passes average to the single pass
    mc = U.score_responses(tiny_lm, prompts, responses, kind=kind, pad_id=0, batch_size=3, mc_passes=4)
    np.testing.assert_allclose(mc, scores, rtol=1e-5, atol=1e-6)


def test_next_token_logits_equals_unpadded(tiny_lm):
    prompts = [[3, 4, 5, 6], [7], [8, 9]]
    logits = U.next_token_logits(tiny_lm, prompts, pad_id=0, batch_size=3)
    for row, prompt in zip(logits, prompts, strict=True):
        with torch.no_grad():
            ref = tiny_lm(input_ids=torch.tensor([prompt])).logits[0, -1]
        np.testing.assert_allclose(row.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)
