"""Query strategies: one contract test over the registry, then each method against a reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import entropy as scipy_entropy
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression

from alkit import strategies
from alkit.strategies import (
    BADGE,
    CAL,
    INIT_STRATEGIES,
    STRATEGIES,
    BertKM,
    CoreSet,
    ProbCover,
    QueryInputs,
    TypiClust,
    Uncertainty,
    badge_gradient_embeddings,
    badge_kmeanspp,
    cal_scores,
    get_strategy,
    kcenter_greedy,
    probcover_graph,
    select_initial,
    top_k,
)
from alkit.uncertainty import entropy

N_ROWS = 400


def _softmax(logits, axis=1):
    z = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


@pytest.fixture(scope="module")
def problem():
    """Normalised blobs with a logistic-regression head fitted on 40 labelled rows."""
    x, y = make_blobs(N_ROWS, n_features=16, centers=5, cluster_std=2.5, random_state=0)
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    rng = np.random.default_rng(0)
    labeled = np.sort(rng.choice(N_ROWS, 40, replace=False))
    pool = rng.permutation(np.setdiff1d(np.arange(N_ROWS), labeled))  # unsorted on purpose
    logits = LogisticRegression(max_iter=2000).fit(x[labeled], y[labeled]).decision_function(x)
    draws = logits[:, :, None] + rng.normal(scale=0.5, size=(N_ROWS, 5, 4))  # K=4 "MC" passes
    inputs = QueryInputs(probs=_softmax(draws), embeddings=x, scores=rng.normal(size=N_ROWS))
    return inputs, pool, labeled


# --- the contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_query_contract(name, problem):
    inputs, pool, labeled = problem
    strategy = get_strategy(name)
    assert strategy.name == name and strategy.needs <= {"probs", "embeddings", "scores"}
    out = strategy.query(inputs, pool, labeled, 25, np.random.default_rng(7))
    assert out.dtype == np.int64 and out.shape == (25,)
    assert np.unique(out).size == 25 and np.isin(out, pool).all()
    np.testing.assert_array_equal(out, strategy.query(inputs, pool, labeled, 25, np.random.default_rng(7)))
    # the whole (small) pool can be taken: a permutation of it
    small = pool[:12]
    np.testing.assert_array_equal(
        np.sort(strategy.query(inputs, small, labeled, 12, np.random.default_rng(1))), np.sort(small)
    )
    # rows outside pool + labelled may hold anything (the loop leaves them NaN)
    sub = pool[:150]
    holes = QueryInputs(probs=inputs.probs.copy(), embeddings=inputs.embeddings, scores=inputs.scores.copy())
    holes.probs[pool[150:]] = np.nan
    holes.scores[pool[150:]] = np.nan
    assert np.isin(strategy.query(holes, sub, labeled, 10, np.random.default_rng(3)), sub).all()
    assert strategy.query(inputs, pool, labeled, 0, np.random.default_rng(0)).dtype == np.int64
    assert strategy.query(inputs, pool, labeled, 0, np.random.default_rng(0)).size == 0
    with pytest.raises(ValueError, match="cannot query n=13"):
        strategy.query(inputs, small, labeled, 13, np.random.default_rng(0))
    with pytest.raises(ValueError, match="pool exhausted"):
        strategy.query(inputs, pool[:0], labeled, 1, np.random.default_rng(0))
    for field in strategy.needs:
        missing = QueryInputs(
            **{f: getattr(inputs, f) for f in ("probs", "embeddings", "scores") if f != field}
        )
        with pytest.raises(ValueError, match=f"inputs.{field}"):
            strategy.query(missing, pool, labeled, 5, np.random.default_rng(0))
    if strategy.needs:
        with pytest.raises(ValueError, match="out of range"):
            strategy.query(inputs, np.append(pool, N_ROWS), labeled, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="disjoint"):
        strategy.query(inputs, pool, np.append(labeled, pool[0]), 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="non-negative int"):
        strategy.query(inputs, pool, labeled, -1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        strategy.query(inputs, pool, labeled, 5, 0)


def test_registry_errors():
    with pytest.raises(ValueError, match=r"unknown strategy 'entropi'.*'bald'.*'typiclust'"):
        get_strategy("entropi")
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['k'\].*\['n_neighbors'\]"):
        get_strategy("cal", k=3)
    with pytest.raises(ValueError, match=r"\['scorer'\]"):
        get_strategy("margin", scorer="entropy")
    with pytest.raises(ValueError, match="unknown scorer"):
        Uncertainty(scorer="variance")
    with pytest.raises(ValueError, match="n_neighbors"):
        CAL(n_neighbors=0)
    with pytest.raises(ValueError, match="delta"):
        ProbCover(delta=-1.0)
    with pytest.raises(ValueError, match="unknown kmeans"):
        TypiClust(kmeans="elkan")
    assert get_strategy("typiclust", max_clusters=7) == TypiClust(max_clusters=7)


def test_bald_needs_draws_and_cal_needs_labels(problem):
    inputs, pool, labeled = problem
    flat = QueryInputs(probs=inputs.probs.mean(axis=2), embeddings=inputs.embeddings)
    with pytest.raises(ValueError, match=r"bald needs inputs.probs of shape \(N, C, K\)"):
        get_strategy("bald").query(flat, pool, labeled, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one labelled"):
        CAL().query(inputs, pool, labeled[:0], 5, np.random.default_rng(0))


# --- top-k and the score-based strategies ---------------------------------------------------


def test_top_k_global_indices_and_random_ties():
    scores = np.array([0.0, 9.0, 5.0, 5.0, 7.0, 1.0])
    pool = np.array([5, 3, 2, 0])  # row 1 (the best score) and row 4 are not in the pool
    firsts = set()
    for seed in range(40):
        out = top_k(scores, pool, 3, np.random.default_rng(seed))
        assert set(out[:2]) == {2, 3} and out[2] == 5
        firsts.add(int(out[0]))
    assert firsts == {2, 3}  # both orders of the tie occur
    with pytest.raises(ValueError, match="NaN"):
        top_k(np.array([np.nan, 1.0]), np.array([0, 1]), 1, np.random.default_rng(0))


def test_uncertainty_ranks_pool_rows_by_score(problem):
    inputs, pool, labeled = problem
    probs2d = inputs.probs.mean(axis=2)
    out = get_strategy("entropy").query(
        QueryInputs(probs=probs2d), pool, labeled, 10, np.random.default_rng(0)
    )
    want = pool[np.argsort(-entropy(probs2d[pool]))[:10]]
    np.testing.assert_array_equal(out, want)
    pre = get_strategy("precomputed").query(inputs, pool, labeled, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(pre, pool[np.argsort(-inputs.scores[pool])[:10]])


# --- CoreSet --------------------------------------------------------------------------------


def _kcenter_brute(x, pool, labeled, n, first=None):
    dist = cdist(x[pool], x[np.concatenate([labeled, pool])])
    min_d = dist[:, : labeled.size].min(axis=1) if labeled.size else np.full(pool.size, np.inf)
    picked = []
    for _ in range(n):
        cur = first if (first is not None and not picked) else int(np.argmax(min_d))
        picked.append(cur)
        min_d = np.minimum(min_d, dist[:, labeled.size + cur])
    return pool[picked]


def test_coreset_equals_brute_force():
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(300, 10)) + 4.0).astype(np.float32)  # off-centre, tie-free
    labeled, pool = np.arange(20), rng.permutation(np.arange(20, 300))
    got = CoreSet().query(QueryInputs(embeddings=x), pool, labeled, 15, np.random.default_rng(0))
    np.testing.assert_array_equal(got, _kcenter_brute(x.astype(np.float64), pool, labeled, 15))
    # empty labelled set: the first centre is rng.integers(len(pool))
    first = int(np.random.default_rng(5).integers(pool.size))
    got = kcenter_greedy(x, pool, np.array([], dtype=np.int64), 15, np.random.default_rng(5))
    np.testing.assert_array_equal(got, _kcenter_brute(x.astype(np.float64), pool, labeled[:0], 15, first))


# --- BADGE ----------------------------------------------------------------------------------


@pytest.mark.parametrize("include_bias", [False, True])
def test_badge_gradient_embeddings_equal_autograd(include_bias):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(6, 4)), rng.normal(size=(3, 4)), rng.normal(size=3)
    probs = _softmax(x @ w.T + b)
    got = badge_gradient_embeddings(probs, x, include_bias=include_bias)
    for i in range(6):
        wt = torch.tensor(w, requires_grad=True)
        bt = torch.tensor(b, requires_grad=True)
        logits = torch.tensor(x[i]) @ wt.T + bt
        label = torch.tensor([int(probs[i].argmax())])
        torch.nn.functional.cross_entropy(logits[None], label).backward()
        want = torch.cat([wt.grad, bt.grad[:, None]], dim=1) if include_bias else wt.grad
        np.testing.assert_allclose(got[i], want.numpy().reshape(-1), rtol=1e-10, atol=1e-12)


def _kmeanspp_explicit(g, n, rng):
    picked = [int(np.argmax(np.linalg.norm(g, axis=1)))]
    d2 = np.full(g.shape[0], np.inf)
    while len(picked) < n:
        d2 = np.minimum(d2, ((g - g[picked[-1]]) ** 2).sum(axis=1))
        d2[picked] = 0.0
        cum = np.cumsum(d2)
        picked.append(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")))
    return np.array(picked)


@pytest.mark.parametrize("include_bias", [False, True])
def test_badge_implicit_kmeanspp_equals_explicit(problem, include_bias):
    inputs, pool, labeled = problem
    g = badge_gradient_embeddings(inputs.probs[pool], inputs.embeddings[pool], include_bias=include_bias)
    for seed in range(3):
        want = pool[_kmeanspp_explicit(g, 20, np.random.default_rng(seed))]
        got = BADGE(include_bias=include_bias).query(inputs, pool, labeled, 20, np.random.default_rng(seed))
        np.testing.assert_array_equal(got, want)


def test_badge_kmeanspp_fills_up_when_all_gradients_coincide():
    probs = np.tile([[0.7, 0.3]], (6, 1))
    emb = np.ones((6, 3), dtype=np.float32)  # six identical gradient embeddings
    out = badge_kmeanspp(probs, emb, 4, np.random.default_rng(0))
    assert out[0] == 0 and np.unique(out).size == 4


# --- CAL ------------------------------------------------------------------------------------


def test_cal_equals_direct_loop(problem):
    inputs, pool, labeled = problem
    x, probs = inputs.embeddings.astype(np.float64), inputs.probs.mean(axis=2)
    want = []
    for i in pool:
        neighbours = labeled[np.argsort(cdist(x[i][None], x[labeled])[0])[:10]]
        want.append(np.mean([scipy_entropy(probs[j], probs[i]) for j in neighbours]))
    got = cal_scores(inputs.probs, inputs.embeddings, pool, labeled, n_neighbors=10)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    out = CAL().query(inputs, pool, labeled, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(out, pool[np.argsort(-np.asarray(want))[:10]])
    # fewer labelled points than neighbours: all of them are used
    few = cal_scores(inputs.probs, inputs.embeddings, pool[:5], labeled[:3], n_neighbors=10)
    ref = [np.mean([scipy_entropy(probs[j], probs[i]) for j in labeled[:3]]) for i in pool[:5]]
    np.testing.assert_allclose(few, ref, rtol=1e-9)


# --- clustering and coverage on well-separated blobs -----------------------------------------


@pytest.fixture(scope="module")
def blobs():
    centres = np.eye(5, 8) * 10.0  # orthogonal directions: unit-sphere distance sqrt(2) apart
    x, y = make_blobs(250, centers=centres, cluster_std=0.4, random_state=1)
    return x.astype(np.float32), y


def test_typiclust_one_pick_per_uncovered_cluster_most_typical(blobs):
    x, y = blobs
    labeled = np.array([np.flatnonzero(y == 0)[0], np.flatnonzero(y == 1)[0]])
    pool = np.setdiff1d(np.arange(x.shape[0]), labeled)
    out = TypiClust().query(QueryInputs(embeddings=x), pool, labeled, 3, np.random.default_rng(0))
    assert sorted(y[out]) == [2, 3, 4]
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    for idx in out:  # the most typical pool point of its blob (k = 20 neighbours)
        members = np.setdiff1d(np.flatnonzero(y == y[idx]), labeled)
        dist = np.sort(cdist(xn[members], xn[members]), axis=1)[:, 1:21]
        assert members[np.argmax(1.0 / (dist.mean(axis=1) + 1e-5))] == idx


def test_select_initial(blobs):
    x, y = blobs
    pool = np.arange(x.shape[0])
    for name in INIT_STRATEGIES:
        out = select_initial(name, x, pool, 5, np.random.default_rng(0))
        assert np.unique(out).size == 5 and np.isin(out, pool).all()
        if name != "random":  # both diversity selectors cover all five blobs
            assert sorted(y[out]) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(
        select_initial("coreset", x, pool, 5, np.random.default_rng(2)),
        kcenter_greedy(x, pool, np.array([], dtype=np.int64), 5, np.random.default_rng(2)),
    )
    assert select_initial("random", None, pool, 3, np.random.default_rng(0)).size == 3
    with pytest.raises(ValueError, match=r"choose from \['random', 'coreset', 'typiclust'\]"):
        select_initial("badge", x, pool, 5, np.random.default_rng(0))


def test_bert_km_picks_point_nearest_each_centroid(blobs):
    x, y = blobs
    pool = np.arange(x.shape[0])
    out = BertKM().query(QueryInputs(embeddings=x), pool, pool[:0], 5, np.random.default_rng(4))
    assert sorted(y[out]) == [0, 1, 2, 3, 4]
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    seed = int(np.random.default_rng(4).integers(2**31 - 1))
    centres = KMeans(5, n_init=1, random_state=seed).fit(xn).cluster_centers_
    np.testing.assert_array_equal(out, np.argmin(cdist(centres, xn), axis=1))


@pytest.mark.parametrize("chunk", [8192, 64])  # 64: several chunks, so mirrored cross-chunk edges
def test_probcover_graph_equals_brute_force(blobs, chunk, monkeypatch):
    monkeypatch.setattr(strategies, "_GRAPH_CHUNK", chunk)
    x, _ = blobs
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    want = cdist(xn, xn) < 0.1
    assert 1 < want.sum(axis=1).mean() < 50  # a non-trivial graph
    np.testing.assert_array_equal(probcover_graph(x, 0.1).toarray(), want)
    with pytest.raises(ValueError, match="smaller delta"):
        probcover_graph(x, 1.9, max_edges=1000)


def test_probcover_one_pick_per_blob(blobs):
    x, y = blobs
    labeled = np.array([np.flatnonzero(y == 0)[0], np.flatnonzero(y == 1)[0]])
    pool = np.setdiff1d(np.arange(x.shape[0]), labeled)
    out = ProbCover().query(QueryInputs(embeddings=x), pool, labeled, 3, np.random.default_rng(0))
    assert sorted(y[out]) == [2, 3, 4]
    out = ProbCover().query(
        QueryInputs(embeddings=x), np.arange(x.shape[0]), labeled[:0], 5, np.random.default_rng(0)
    )
    assert sorted(y[out]) == [0, 1, 2, 3, 4]


def _probcover_dense(x, pool, labeled, n, delta, rng):
    """Greedy max coverage recomputed from a dense ball matrix every step (same rng calls)."""
    nodes = np.concatenate([labeled, pool])
    xn = x[nodes] / np.linalg.norm(x[nodes], axis=1, keepdims=True)
    balls = cdist(xn, xn) < delta
    covered = balls[: labeled.size].any(axis=0)
    candidate = np.arange(nodes.size) >= labeled.size
    picked = []
    while len(picked) < n:
        gain = np.where(candidate, (balls & ~covered).sum(axis=1), -1)
        if gain.max() <= 0:
            picked.extend(rng.choice(np.flatnonzero(candidate), size=n - len(picked), replace=False))
            break
        ties = np.flatnonzero(gain == gain.max())
        cur = int(ties[rng.integers(ties.size)]) if ties.size > 1 else int(ties[0])
        picked.append(cur)
        candidate[cur] = False
        covered |= balls[cur]
    return nodes[picked]


def test_probcover_equals_dense_greedy(problem, monkeypatch):
    monkeypatch.setattr(strategies, "_GRAPH_CHUNK", 100)
    inputs, pool, labeled = problem
    for delta, n in [(0.3, 30), (0.8, 40)]:  # the second covers everything, then draws at random
        got = ProbCover(delta=delta).query(inputs, pool, labeled, n, np.random.default_rng(9))
        want = _probcover_dense(
            inputs.embeddings.astype(np.float64), pool, labeled, n, delta, np.random.default_rng(9)
        )
        np.testing.assert_array_equal(got, want)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_duplicate_embeddings_still_give_unique_picks():
    x = np.ones((10, 4), dtype=np.float32)
    probs = np.tile([[0.6, 0.4]], (10, 1))
    inputs = QueryInputs(probs=probs, embeddings=x)
    for strategy in (CoreSet(), BADGE(), ProbCover(), TypiClust(), BertKM()):
        out = strategy.query(inputs, np.arange(2, 10), np.arange(2), 5, np.random.default_rng(0))
        assert np.unique(out).size == 5 and out.min() >= 2, strategy


def test_typiclust_prefers_largest_uncovered_clusters():
    sizes = [80, 60, 40, 30, 20]
    x, y = make_blobs(sizes, centers=np.eye(5, 8) * 10.0, cluster_std=0.4, random_state=2)
    labeled = np.flatnonzero(y == 0)[:3]
    pool = np.setdiff1d(np.arange(y.size), labeled)
    out = TypiClust().query(
        QueryInputs(embeddings=x.astype(np.float32)), pool, labeled, 2, np.random.default_rng(0)
    )
    assert list(y[out]) == [1, 2]


def test_typicality_is_inverse_mean_euclidean_distance():
    from alkit.strategies import _typicality

    x = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    dist = np.sort(cdist(x.astype(np.float64), x.astype(np.float64)), axis=1)[:, 1:6]
    np.testing.assert_allclose(_typicality(x, 5), 1.0 / (dist.mean(axis=1) + 1e-5), rtol=1e-4)


def test_top_k_equals_full_stable_sort_with_many_ties():
    scores = np.random.default_rng(0).integers(0, 5, size=500).astype(float)
    pool = np.random.default_rng(1).permutation(500)[:300]
    for n in (0, 1, 37, 299, 300):
        rng = np.random.default_rng(n)
        perm = rng.permutation(pool.size)
        want = pool[perm[np.argsort(-scores[pool][perm], kind="stable")[:n]]]
        np.testing.assert_array_equal(top_k(scores, pool, n, np.random.default_rng(n)), want)
