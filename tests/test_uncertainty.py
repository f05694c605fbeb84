"""Uncertainty scorers against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from alkit.uncertainty import SCORERS, bald, entropy, least_confidence, margin, mean_probs

HAND = np.array(
    [
        [0.5, 0.5, 0.0],
        [1.0, 0.0, 0.0],
        [0.7, 0.2, 0.1],
        [0.2, 0.3, 0.5],
    ]
)


def _random_probs(shape, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape)
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_entropy_hand_values():
    got = entropy(HAND)
    want = [
        math.log(2),
        0.0,
        -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)),
        -(0.2 * math.log(0.2) + 0.3 * math.log(0.3) + 0.5 * math.log(0.5)),
    ]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(entropy(np.full((1, 4), 0.25)), [math.log(4)], rtol=1e-12)


def test_entropy_matches_scipy():
    probs = _random_probs((50, 7))
    np.testing.assert_allclose(entropy(probs), scipy.stats.entropy(probs, axis=1), rtol=1e-12)


def test_margin_and_least_confidence_hand_values():
    np.testing.assert_allclose(margin(HAND), [1.0, 0.0, 0.5, 0.8], atol=1e-12)
    np.testing.assert_allclose(least_confidence(HAND), [0.5, 0.0, 0.3, 0.5], atol=1e-12)


def test_margin_matches_sort_reference():
    probs = _random_probs((40, 5), seed=1)
    top = np.sort(probs, axis=1)
    np.testing.assert_allclose(margin(probs), 1.0 - (top[:, -1] - top[:, -2]), atol=1e-12)


def test_scorers_average_k_draws():
    probs = _random_probs((10, 3, 4), seed=2)
    avg = probs.mean(axis=2)
    np.testing.assert_allclose(mean_probs(probs), avg)
    assert np.array_equal(mean_probs(HAND), HAND)
    for fn in (entropy, margin, least_confidence):
        np.testing.assert_allclose(fn(probs), fn(avg), rtol=1e-12)


def test_bald_direct_formula():
    probs = np.array(
        [
            [[0.9, 0.1], [0.1, 0.9]],  # class axis then draw axis: draws (0.9, 0.1) and (0.1, 0.9)
            [[0.6, 0.5], [0.4, 0.5]],  # draws (0.6, 0.4) and (0.5, 0.5)
        ]
    )
    h = lambda p: -sum(q * math.log(q) for q in p if q > 0)  # noqa: E731
    want = [
        h([0.5, 0.5]) - (h([0.9, 0.1]) + h([0.1, 0.9])) / 2,
        h([0.55, 0.45]) - (h([0.6, 0.4]) + h([0.5, 0.5])) / 2,
    ]
    np.testing.assert_allclose(bald(probs), want, rtol=1e-12)


def test_bald_vs_scipy_on_random_draws():
    probs = _random_probs((30, 4, 6), seed=3)
    ref = scipy.stats.entropy(probs.mean(axis=2), axis=1) - scipy.stats.entropy(probs, axis=1).mean(axis=1)
    np.testing.assert_allclose(bald(probs), ref, rtol=1e-10, atol=1e-14)
    assert (bald(probs) > 0).all()


def test_bald_zero_when_draws_agree():
    probs = np.repeat(_random_probs((8, 3), seed=4)[:, :, None], 5, axis=2)
    np.testing.assert_array_equal(bald(probs), np.zeros(8))


def test_registry_and_errors():
    assert sorted(SCORERS) == ["bald", "entropy", "least_confidence", "margin"]
    with pytest.raises(ValueError, match=r"\(n, C, K\)"):
        bald(HAND)
    with pytest.raises(ValueError, match="shape"):
        entropy(np.ones(3) / 3)
    with pytest.raises(ValueError, match="sum to 1"):
        entropy(np.array([[0.5, 0.6]]))
    with pytest.raises(ValueError, match="non-negative"):
        least_confidence(np.array([[1.5, -0.5]]))
    with pytest.raises(ValueError, match="at least 2 classes"):
        margin(np.ones((3, 1)))
