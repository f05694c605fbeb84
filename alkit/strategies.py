"""Query strategies: which pool rows to label next.

A strategy sees arrays, never a model. ``QueryInputs`` carries the row-aligned arrays (row i =
dataset row i, for every global index), ``pool_idx``/``labeled_idx`` say which rows are
unlabelled/labelled, and ``query`` returns ``n`` unique members of ``pool_idx`` (global ids),
in the order they were chosen. Hyperparameters live in the (frozen dataclass) constructor.

Contract shared by every strategy (checked in ``_Base.query`` before any compute): a needed
input that is missing, a wrong shape, indices outside the arrays, overlapping or duplicated
indices, ``n > len(pool_idx)`` or an empty pool ("pool exhausted") raise ValueError; ``n == 0``
returns an empty int64 array; the same ``rng`` state gives the same output.

Heavy lifting sits in public functions (``kcenter_greedy``, ``badge_kmeanspp``, ``cal_scores``,
``probcover_graph``, ...) so that notebooks and tests can call them directly.

Threads: loops that run one thin product per pick (k-center greedy, BADGE's k-means++, the
k-means seeding, TypiClust's per-cluster typicality) and sklearn's OpenMP k-means run on one
thread (threadpoolctl). Threads synchronise on every call and spin when the cores are busy: on
a shared 2-core machine two threads made CoreSet at 10k x 384 take 1.2 s instead of 0.15 s, and
MiniBatchKMeans 3-8x slower. Large single products (CAL's, ProbCover's) keep all threads.
Benchmarks: ``benchmarks/bench_strategies.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.special import xlogy
from threadpoolctl import threadpool_limits

from alkit.types import Embeddings, Indices, Probs, Scores, as_indices
from alkit.uncertainty import SCORERS, mean_probs

INIT_STRATEGIES = ("random", "coreset", "typiclust")
"""Strategies valid for choosing the initial labelled pool (they need no model)."""

_CHUNK_ELEMS = 1 << 24  # float32 scratch per matmul chunk: 64 MB keeps peak memory flat


@dataclass(frozen=True)
class QueryInputs:
    """What a strategy may look at; rows are aligned to GLOBAL indices (row i = dataset row i).

    probs : ndarray of shape (N, C) or (N, C, K), optional
        Current model's class probabilities (K stochastic passes for BALD).
    embeddings : ndarray of shape (N, d), optional
    scores : ndarray of shape (N,), optional
        Precomputed informativeness (e.g. LM uncertainty), higher = query first.
    """

    probs: Probs | None = None
    embeddings: Embeddings | None = None
    scores: Scores | None = None

    def __post_init__(self) -> None:
        for field in ("probs", "embeddings", "scores"):
            value = getattr(self, field)
            if value is not None and not isinstance(value, np.ndarray):  # lists, tensors-as-arrays
                object.__setattr__(self, field, np.asarray(value))


class QueryStrategy(Protocol):
    name: ClassVar[str]
    needs: ClassVar[frozenset[str]]  # subset of {"probs", "embeddings", "scores"}

    def query(
        self, inputs: QueryInputs, pool_idx: Indices, labeled_idx: Indices, n: int, rng: np.random.Generator
    ) -> Indices: ...


_NDIMS = {"probs": (2, 3), "embeddings": (2,), "scores": (1,)}
_EMPTY = np.empty(0, dtype=np.int64)


class _Base:
    """Validation shared by all strategies; subclasses implement ``_select`` on clean inputs."""

    name: ClassVar[str]
    needs: ClassVar[frozenset[str]] = frozenset()

    def query(
        self,
        inputs: QueryInputs,
        pool_idx: npt.ArrayLike,
        labeled_idx: npt.ArrayLike,
        n: int,
        rng: np.random.Generator,
    ) -> Indices:
        """Return ``n`` unique members of ``pool_idx`` (int64, in selection order)."""
        pool, labeled = as_indices(pool_idx), as_indices(labeled_idx)
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"{self.name}: n must be a non-negative int; got {n!r}")
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"{self.name}: rng must be a numpy.random.Generator; got {type(rng).__name__}")
        if not isinstance(inputs, QueryInputs):
            raise ValueError(f"{self.name}: inputs must be a QueryInputs; got {type(inputs).__name__}")
        both = np.concatenate([pool, labeled])
        if both.size and both.min() < 0:
            raise ValueError(f"{self.name}: indices must be non-negative global row ids")
        if _has_duplicates(both):
            raise ValueError(f"{self.name}: pool_idx and labeled_idx must be disjoint and duplicate-free")
        for field in sorted(self.needs):
            value = getattr(inputs, field)
            if value is None:
                raise ValueError(f"{self.name} needs inputs.{field}, which is None")
            if np.ndim(value) not in _NDIMS[field]:
                raise ValueError(
                    f"{self.name}: inputs.{field} must have ndim in {_NDIMS[field]}; "
                    f"got shape {np.shape(value)}"
                )
            if both.size and both.max() >= len(value):
                raise ValueError(
                    f"{self.name}: index {both.max()} is out of range for inputs.{field} "
                    f"with {len(value)} rows (rows must be aligned to global indices)"
                )
        self._check(inputs, pool, labeled)
        if n == 0:
            return _EMPTY.copy()
        if pool.size == 0:
            raise ValueError(f"{self.name}: pool exhausted (pool_idx is empty)")
        if n > pool.size:
            raise ValueError(f"{self.name}: cannot query n={n} from a pool of {pool.size}")
        return as_indices(self._select(inputs, pool, labeled, int(n), rng))

    def _check(self, inputs: QueryInputs, pool: Indices, labeled: Indices) -> None:
        """Strategy-specific input checks (before compute); default: none."""

    def _select(
        self, inputs: QueryInputs, pool: Indices, labeled: Indices, n: int, rng: np.random.Generator
    ) -> Indices:
        raise NotImplementedError


def _has_duplicates(idx: Indices) -> bool:
    # bincount is ~50x faster than np.unique for row ids, which are bounded by the row count
    if idx.size < 2:
        return False
    if idx.max() <= 8 * idx.size + 1_000_000:
        return bool(np.bincount(idx).max() > 1)
    ordered = np.sort(idx)
    return bool((ordered[1:] == ordered[:-1]).any())


def _positive_int(owner: str, **values: Any) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{owner}: {key} must be a positive int; got {value!r}")


def top_k(scores: Scores, pool_idx: Indices, n: int, rng: np.random.Generator) -> Indices:
    """The ``n`` highest-scoring members of ``pool_idx``, ties broken uniformly at random.

    Parameters
    ----------
    scores : ndarray of shape (N,)
        Global-aligned scores (``scores[i]`` belongs to dataset row i); higher = query first.
    pool_idx : ndarray of shape (m,)
    n : int, 0 <= n <= m
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (n,), int64, best first.
    """
    scores, pool = np.asarray(scores, dtype=np.float64), as_indices(pool_idx)
    if scores.ndim != 1:
        raise ValueError(f"scores must have shape (N,); got {scores.shape}")
    if pool.size and (pool.min() < 0 or pool.max() >= scores.size):
        raise ValueError(f"pool_idx out of range for scores with {scores.size} rows")
    if not 0 <= n <= pool.size:
        raise ValueError(f"n must be in [0, {pool.size}]; got {n}")
    return _top_k_pool(scores[pool], pool, n, rng)


def _top_k_pool(pool_scores: np.ndarray, pool: Indices, n: int, rng: np.random.Generator) -> Indices:
    """``top_k`` with scores already aligned to ``pool`` (position j scores ``pool[j]``)."""
    if np.isnan(pool_scores).any():
        raise ValueError("scores contain NaN for some pool rows")
    # A random permutation followed by a stable sort breaks ties uniformly at random. Only the
    # rows scoring at least the n-th best value (ties included) need sorting.
    perm = rng.permutation(pool.size)
    permuted = pool_scores[perm]
    if 0 < n < pool.size:
        nth_best = np.partition(permuted, pool.size - n)[pool.size - n]
        cand = np.flatnonzero(permuted >= nth_best)
    else:
        cand = np.arange(pool.size)
    order = cand[np.argsort(-permuted[cand], kind="stable")[:n]]
    return pool[perm[order]]


# --- uncertainty and given scores -------------------------------------------------------------


@dataclass(frozen=True)
class RandomSampling(_Base):
    """Uniform sampling without replacement (the passive-learning baseline)."""

    name: ClassVar[str] = "random"
    needs: ClassVar[frozenset[str]] = frozenset()

    def _select(self, inputs, pool, labeled, n, rng):
        return rng.choice(pool, size=n, replace=False)


@dataclass(frozen=True)
class Uncertainty(_Base):
    """Top-n by an ``alkit.uncertainty`` scorer: entropy, margin, least_confidence or bald.

    ``bald`` needs probs of shape (N, C, K) (K stochastic passes); the others score the mean
    over K when given 3-d probs. The instance's ``name`` is its scorer.
    """

    scorer: str = "entropy"
    needs: ClassVar[frozenset[str]] = frozenset({"probs"})

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise ValueError(f"unknown scorer {self.scorer!r}; choose from {sorted(SCORERS)}")

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.scorer

    def _check(self, inputs, pool, labeled):
        if self.scorer == "bald" and np.ndim(inputs.probs) != 3:
            raise ValueError(
                "bald needs inputs.probs of shape (N, C, K) from K stochastic passes "
                f"(e.g. MC dropout); got shape {np.shape(inputs.probs)}"
            )

    def _select(self, inputs, pool, labeled, n, rng):
        return _top_k_pool(SCORERS[self.scorer](inputs.probs[pool]), pool, n, rng)


@dataclass(frozen=True)
class Precomputed(_Base):
    """Top-n of ``inputs.scores``: for externally computed scores such as LM uncertainties."""

    name: ClassVar[str] = "precomputed"
    needs: ClassVar[frozenset[str]] = frozenset({"scores"})

    def _select(self, inputs, pool, labeled, n, rng):
        return _top_k_pool(np.asarray(inputs.scores, dtype=np.float64)[pool], pool, n, rng)


# --- CoreSet ----------------------------------------------------------------------------------


def kcenter_greedy(
    embeddings: Embeddings, pool_idx: Indices, labeled_idx: Indices, n: int, rng: np.random.Generator
) -> Indices:
    """k-center greedy (Sener & Savarese 2018), Euclidean distance.

    Repeatedly picks the pool point whose distance to its nearest centre (labelled points and
    points picked so far) is largest. With no labelled points the first centre is a uniformly
    random pool point. One (m, d) @ (d,) product per pick updates the min-distance vector via
    ``||a||^2 + ||b||^2 - 2 a.b`` in float32.

    Parameters
    ----------
    embeddings : ndarray of shape (N, d), global-aligned
    pool_idx : ndarray of shape (m,); labeled_idx : ndarray of shape (l,)
    n : int, 1 <= n <= m

    Returns
    -------
    ndarray of shape (n,), int64, in pick order.
    """
    pool, labeled = as_indices(pool_idx), as_indices(labeled_idx)
    if not 0 <= n <= pool.size:
        raise ValueError(f"n must be in [0, {pool.size}]; got {n}")
    if n == 0:
        return _EMPTY.copy()
    x_pool = np.asarray(embeddings[pool], dtype=np.float32)
    # Distances are translation invariant; centring shrinks the norms and hence the float32
    # cancellation error of ||a||^2 + ||b||^2 - 2ab for embeddings far from the origin.
    centre = x_pool.mean(axis=0)
    x_pool -= centre
    sq_pool = np.einsum("ij,ij->i", x_pool, x_pool)
    min_d2 = np.full(pool.size, np.inf, dtype=np.float32)
    step = max(1, _CHUNK_ELEMS // max(pool.size, 1))
    for start in range(0, labeled.size, step):
        x_lab = np.asarray(embeddings[labeled[start : start + step]], dtype=np.float32) - centre
        d2 = x_pool @ x_lab.T  # in place from here on: no further (m, step) temporaries
        d2 *= -2.0
        d2 += np.einsum("ij,ij->i", x_lab, x_lab)
        np.minimum(min_d2, d2.min(axis=1) + sq_pool, out=min_d2)
    cur = int(np.argmax(min_d2)) if labeled.size else int(rng.integers(pool.size))
    picked = [cur]
    with threadpool_limits(1, user_api="blas"):  # one thin product per pick: see "Threads"
        while len(picked) < n:
            d2 = sq_pool + sq_pool[cur] - 2.0 * (x_pool @ x_pool[cur])
            np.minimum(min_d2, d2, out=min_d2)
            min_d2[picked] = -np.inf  # float error can leave a centre at a tiny positive distance
            cur = int(np.argmax(min_d2))
            picked.append(cur)
    return pool[picked]


@dataclass(frozen=True)
class CoreSet(_Base):
    """CoreSet by k-center greedy on the embeddings (Sener & Savarese 2018); see ``kcenter_greedy``."""

    name: ClassVar[str] = "coreset"
    needs: ClassVar[frozenset[str]] = frozenset({"embeddings"})

    def _select(self, inputs, pool, labeled, n, rng):
        return kcenter_greedy(inputs.embeddings, pool, labeled, n, rng)


# --- BADGE ------------------------------------------------------------------------------------


def _residuals(probs: Probs) -> np.ndarray:
    """``p - onehot(argmax p)``, shape (n, C): the loss gradient w.r.t. the logits at the
    hypothesised label ``argmax p``."""
    res = mean_probs(probs).copy()
    res[np.arange(res.shape[0]), res.argmax(axis=1)] -= 1.0
    return res


def badge_gradient_embeddings(probs: Probs, embeddings: Embeddings, include_bias: bool = False) -> np.ndarray:
    """BADGE gradient embeddings, materialised: ``g_i = (p_i - onehot(argmax p_i)) (x) x_i``.

    This is the gradient of the cross-entropy loss of a linear softmax head (weights W of shape
    (C, d), logits ``W x + b``) at the hypothesised label ``argmax p_i``, flattened row-major
    from shape (C, d). With ``include_bias`` the bias gradient is included by appending a
    constant 1 to ``x`` (shape (C, d + 1)). Memory is n * C * d floats: use for small inputs;
    ``BADGE`` itself never builds this matrix.

    Parameters
    ----------
    probs : ndarray of shape (n, C) or (n, C, K)
    embeddings : ndarray of shape (n, d)

    Returns
    -------
    ndarray of shape (n, C * d) or (n, C * (d + 1)), float64
    """
    res = _residuals(probs)
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != res.shape[0]:
        raise ValueError(f"embeddings must have shape ({res.shape[0]}, d); got {x.shape}")
    if include_bias:
        x = np.hstack([x, np.ones((x.shape[0], 1))])
    return (res[:, :, None] * x[:, None, :]).reshape(x.shape[0], -1)


def badge_kmeanspp(
    probs: Probs, embeddings: Embeddings, n: int, rng: np.random.Generator, include_bias: bool = False
) -> np.ndarray:
    """k-means++ seeding on BADGE gradient embeddings without materialising them.

    As in the authors' code, the first centre is the point of largest gradient norm; each next
    centre is drawn with probability proportional to D^2, its squared distance to the nearest
    chosen centre (``u = rng.random() * sum(D^2)``, then a search in the cumulative sum). Since
    g_i = r_i (x) x_i, ``||g_i - g_j||^2 = ||r_i||^2 ||x_i||^2 + ||r_j||^2 ||x_j||^2
    - 2 (r_i . r_j)(x_i . x_j)``: one (m, d) @ (d,) and one (m, C) @ (C,) product per centre.
    If every remaining D^2 is 0 (duplicates), the rest are drawn uniformly at random.

    Parameters
    ----------
    probs : ndarray of shape (m, C) or (m, C, K); embeddings : ndarray of shape (m, d)
        Rows are the candidates (positions, not global ids).

    Returns
    -------
    ndarray of shape (n,), int64 positions into the m rows, in pick order.
    """
    res = _residuals(probs)
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != res.shape[0]:
        raise ValueError(f"embeddings must have shape ({res.shape[0]}, d); got {x.shape}")
    if not 0 <= n <= x.shape[0]:
        raise ValueError(f"n must be in [0, {x.shape[0]}]; got {n}")
    if n == 0:
        return _EMPTY.copy()
    bias = 1.0 if include_bias else 0.0
    g_sq = np.einsum("ij,ij->i", res, res) * (np.einsum("ij,ij->i", x, x).astype(np.float64) + bias)
    cur = int(np.argmax(g_sq))
    picked = [cur]
    d2 = np.full(x.shape[0], np.inf)
    with threadpool_limits(1, user_api="blas"):  # one thin product per pick: see "Threads"
        while len(picked) < n:
            dot = (x @ x[cur]).astype(np.float64) + bias
            np.minimum(d2, np.maximum(g_sq + g_sq[cur] - 2.0 * (res @ res[cur]) * dot, 0.0), out=d2)
            d2[picked] = 0.0  # chosen centres must never be drawn again (float residue)
            cum = np.cumsum(d2)
            if cum[-1] <= 0.0:
                rest = np.setdiff1d(np.arange(x.shape[0]), picked)
                picked.extend(rng.choice(rest, size=n - len(picked), replace=False).tolist())
                break
            cur = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
            picked.append(cur)
    return np.asarray(picked, dtype=np.int64)


@dataclass(frozen=True)
class BADGE(_Base):
    """BADGE (Ash et al. 2020): k-means++ seeding on gradient embeddings of the last layer.

    Here the last layer is the logistic-regression head on frozen embeddings. ``include_bias``
    (default False, like the authors' code, which uses the penultimate features only) adds the
    bias gradient. Never builds the (m, C*d) matrix; see ``badge_kmeanspp``.
    """

    include_bias: bool = False
    name: ClassVar[str] = "badge"
    needs: ClassVar[frozenset[str]] = frozenset({"probs", "embeddings"})

    def _select(self, inputs, pool, labeled, n, rng):
        pos = badge_kmeanspp(inputs.probs[pool], inputs.embeddings[pool], n, rng, self.include_bias)
        return pool[pos]


# --- CAL --------------------------------------------------------------------------------------


def cal_scores(
    probs: Probs,
    embeddings: Embeddings,
    pool_idx: Indices,
    labeled_idx: Indices,
    n_neighbors: int = 10,
    eps: float = 1e-12,
) -> Scores:
    """CAL scores (Margatina et al. 2021): mean KL(p_neighbour || p_candidate) over neighbours.

    For each pool candidate, its ``min(n_neighbors, l)`` nearest labelled examples (Euclidean,
    exact: a float32 matmul top-k in chunks of pool rows) are found; the score is the mean KL
    divergence from their predicted distributions to the candidate's. Candidate probabilities
    are floored at ``eps`` so a zero does not make the KL infinite (the authors work from
    log-softmax logits). Rows are global indices into ``probs`` and ``embeddings``.

    Returns
    -------
    ndarray of shape (m,), aligned with ``pool_idx``.
    """
    pool, labeled = as_indices(pool_idx), as_indices(labeled_idx)
    if labeled.size == 0:
        raise ValueError("cal needs at least one labelled example (labeled_idx is empty)")
    k = min(n_neighbors, labeled.size)
    x_lab = np.asarray(embeddings[labeled], dtype=np.float32)
    sq_lab = np.einsum("ij,ij->i", x_lab, x_lab)
    neigh = np.empty((pool.size, k), dtype=np.int64)
    # A numpy matmul + argpartition beat sklearn's brute kneighbors (and faiss) by ~1.6x here.
    step = max(1, min(8192, _CHUNK_ELEMS // labeled.size))
    for start in range(0, pool.size, step):
        d2 = np.asarray(embeddings[pool[start : start + step]], dtype=np.float32) @ x_lab.T
        d2 *= -2.0
        d2 += sq_lab  # + ||x_pool||^2 would not change any row's ranking
        neigh[start : start + step] = np.argpartition(d2, k - 1, axis=1)[:, :k]
    p_lab, p_pool = mean_probs(probs[labeled]), mean_probs(probs[pool])
    # KL(q || p) = sum q log q - sum q log p; the mean over neighbours is linear in q, so
    # sum_k KL(q_k || p) / k = mean_k(sum q_k log q_k) - sum(mean_k q_k) log p.
    neg_ent_lab = xlogy(p_lab, p_lab).sum(axis=1)
    q_mean = p_lab[neigh].mean(axis=1)
    return neg_ent_lab[neigh].mean(axis=1) - (q_mean * np.log(np.maximum(p_pool, eps))).sum(axis=1)


@dataclass(frozen=True)
class CAL(_Base):
    """Contrastive Active Learning (Margatina et al. 2021): top-n of ``cal_scores``."""

    n_neighbors: int = 10
    name: ClassVar[str] = "cal"
    needs: ClassVar[frozenset[str]] = frozenset({"probs", "embeddings"})

    def __post_init__(self) -> None:
        _positive_int("cal", n_neighbors=self.n_neighbors)

    def _check(self, inputs, pool, labeled):
        if labeled.size == 0:
            raise ValueError("cal needs at least one labelled example (labeled_idx is empty)")

    def _select(self, inputs, pool, labeled, n, rng):
        scores = cal_scores(inputs.probs, inputs.embeddings, pool, labeled, self.n_neighbors)
        return _top_k_pool(scores, pool, n, rng)


# --- clustering strategies --------------------------------------------------------------------


def _l2_normalise(x: np.ndarray, copy: bool = True) -> np.ndarray:
    """Rows scaled to unit length, float32; ``copy=False`` may reuse a float32 input's memory."""
    x = np.array(x, dtype=np.float32, copy=copy or None)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))  # no (m, d) temporary, unlike np.linalg.norm
    x /= np.maximum(norms, np.finfo(np.float32).tiny)[:, None]
    return x


KMeansKind = Literal["auto", "full", "minibatch"]


def _kmeans(
    x: np.ndarray,
    n_clusters: int,
    rng: np.random.Generator,
    kind: KMeansKind,
    batch_size: int,
    need_labels: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Labels (m,) (None unless ``need_labels``) and centres (k, d). "auto" follows the
    TypiClust authors: full Lloyd k-means up to 50 clusters, MiniBatchKMeans above.

    Seeding is scikit-learn's greedy k-means++ on a random sample of max(3072, 3k) rows (the
    sample MiniBatchKMeans seeds on by default), in float64: sklearn seeds float32 data by
    upcasting in small blocks (8 of 10 s at 100k x 768). Everything runs on ONE thread: on a
    shared machine sklearn's OpenMP k-means ran 3-8x slower with 2 threads than with 1 (threads
    spin at barriers when the cores are busy), while one thread alone meets the time budget.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans, kmeans_plusplus

    seed = int(rng.integers(2**31 - 1))
    n_sample = min(x.shape[0], max(3072, 3 * n_clusters))
    sample = np.sort(np.random.default_rng(seed).choice(x.shape[0], size=n_sample, replace=False))
    with threadpool_limits(1):
        init, _ = kmeans_plusplus(x[sample].astype(np.float64), n_clusters, random_state=seed)
        init = init.astype(x.dtype)
        if kind == "full" or (kind == "auto" and n_clusters <= 50):
            km = KMeans(n_clusters, init=init, n_init=1, random_state=seed).fit(x)
        else:  # the final pass that labels every row is skipped when labels are not needed
            km = MiniBatchKMeans(
                n_clusters,
                init=init,
                n_init=1,
                batch_size=batch_size,
                compute_labels=need_labels,
                random_state=seed,
            ).fit(x)
    return (km.labels_ if need_labels else None), km.cluster_centers_


def _check_kmeans_args(owner: str, kmeans: str, batch_size: int) -> None:
    if kmeans not in ("auto", "full", "minibatch"):
        raise ValueError(f"{owner}: unknown kmeans {kmeans!r}; choose from ['auto', 'full', 'minibatch']")
    _positive_int(owner, batch_size=batch_size)


@dataclass(frozen=True)
class BertKM(_Base):
    """BERT-KM (as used by Yuan et al. 2020 and the SIGnAL baselines): k-means with n clusters
    on the L2-normalised pool embeddings; the pool point nearest each centroid is picked (the
    next-nearest unpicked one if two centroids share a nearest point)."""

    kmeans: KMeansKind = "auto"
    batch_size: int = 5000
    name: ClassVar[str] = "bert_km"
    needs: ClassVar[frozenset[str]] = frozenset({"embeddings"})

    def __post_init__(self) -> None:
        _check_kmeans_args("bert_km", self.kmeans, self.batch_size)

    def _select(self, inputs, pool, labeled, n, rng):
        from sklearn.neighbors import NearestNeighbors

        x = _l2_normalise(inputs.embeddings[pool], copy=False)
        _, centres = _kmeans(x, n, rng, self.kmeans, self.batch_size, need_labels=False)
        # n candidates per centroid guarantee a free one for each of the n centroids.
        near = (
            NearestNeighbors(n_neighbors=n, algorithm="brute")
            .fit(x)
            .kneighbors(centres.astype(np.float32), return_distance=False)
        )
        taken: set[int] = set()
        picked = []
        for row in near:
            pos = next(int(p) for p in row if int(p) not in taken)
            taken.add(pos)
            picked.append(pos)
        return pool[picked]


def _typicality(x: np.ndarray, n_neighbors: int) -> np.ndarray:
    """1 / (mean Euclidean distance to the ``n_neighbors`` nearest other rows + 1e-5), shape (s,).

    Exact, by float32 matmuls in row chunks. Clusters are mostly small, and for small products
    BLAS threads cost more (sync) than they save, hence one thread below 4096 rows.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    size = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x)
    mean_dist = np.empty(size)
    step = max(1, _CHUNK_ELEMS // size)
    with threadpool_limits(1 if size <= 4096 else None, user_api="blas"):
        for start in range(0, size, step):
            rows = np.arange(start, min(start + step, size))
            d2 = x[rows] @ x.T
            d2 *= -2.0
            d2 += sq
            d2 += sq[rows, None]
            d2[rows - start, rows] = -np.inf  # the point itself sorts first, then is dropped
            nearest = np.partition(d2, (0, n_neighbors), axis=1)[:, 1 : n_neighbors + 1]  # 0: self
            mean_dist[rows] = np.sqrt(np.maximum(nearest, 0.0)).mean(axis=1)
    return 1.0 / (mean_dist + 1e-5)


@dataclass(frozen=True)
class TypiClust(_Base):
    """TypiClust (Hacohen et al. 2022): the most typical point of the largest uncovered clusters.

    The labelled and pool embeddings (L2-normalised if ``normalize``) are clustered into
    ``min(l + n, max_clusters)`` k-means clusters. Clusters larger than ``min_cluster_size`` are
    visited in order (fewest labelled points, then largest), cycling if n exceeds their number;
    from each, the unpicked pool point of highest typicality is chosen, typicality being
    1 / mean distance to its ``min(n_neighbors, size // 2)`` nearest neighbours among the
    cluster's unlabelled points (recomputed after each pick, as the authors do). The paper's
    Euclidean distance is used (the authors' code averages squared distances from faiss).
    If every eligible cluster runs out of pool points, all clusters become eligible.
    """

    max_clusters: int = 500
    min_cluster_size: int = 5
    n_neighbors: int = 20
    normalize: bool = True
    kmeans: KMeansKind = "auto"
    batch_size: int = 5000
    name: ClassVar[str] = "typiclust"
    needs: ClassVar[frozenset[str]] = frozenset({"embeddings"})

    def __post_init__(self) -> None:
        _positive_int("typiclust", max_clusters=self.max_clusters, n_neighbors=self.n_neighbors)
        if (
            isinstance(self.min_cluster_size, bool)
            or not isinstance(self.min_cluster_size, int)
            or self.min_cluster_size < 0
        ):
            raise ValueError(
                f"typiclust: min_cluster_size must be an int >= 0; got {self.min_cluster_size!r}"
            )
        _check_kmeans_args("typiclust", self.kmeans, self.batch_size)

    def _select(self, inputs, pool, labeled, n, rng):
        nodes = np.concatenate([labeled, pool])  # labelled first: positions < l are labelled
        x = inputs.embeddings[nodes]
        x = _l2_normalise(x, copy=False) if self.normalize else np.asarray(x, dtype=np.float32)
        n_clusters = min(labeled.size + n, self.max_clusters, nodes.size)
        labels, _ = _kmeans(x, n_clusters, rng, self.kmeans, self.batch_size)
        sizes = np.bincount(labels, minlength=n_clusters)
        n_lab = np.bincount(labels[: labeled.size], minlength=n_clusters)
        by_need = np.lexsort((-sizes, n_lab))  # fewest labelled first, then largest
        order = by_need[sizes[by_need] > self.min_cluster_size]
        if order.size == 0:
            order = by_need
        free = np.zeros(nodes.size, dtype=bool)
        free[labeled.size :] = True
        picked: list[int] = []
        step = misses = 0
        while len(picked) < n:
            members = np.flatnonzero(free & (labels == order[step % order.size]))
            step += 1
            if members.size == 0:
                misses += 1
                if misses >= order.size:  # every eligible cluster is used up
                    order, step, misses = by_need, 0, 0
                continue
            misses = 0
            k = min(self.n_neighbors, members.size // 2)
            best = members[int(np.argmax(_typicality(x[members], k)))] if k > 0 else members[0]
            free[best] = False
            picked.append(int(best))
        return nodes[picked]


# --- ProbCover --------------------------------------------------------------------------------


def probcover_graph(embeddings: Embeddings, delta: float, max_edges: int = 50_000_000) -> sp.csr_matrix:
    """Delta-ball graph: edge i -> j iff ||x_i - x_j|| < delta on L2-normalised rows (exact).

    faiss IndexFlatIP range searches (``x_i . x_j > 1 - delta^2 / 2``) in chunks of rows, each
    chunk against the rows from its own start on, with the cross-chunk edges mirrored: half the
    flops of an all-pairs search, a symmetric graph, and never an m x m matrix. O(m^2 d) flops:
    about 100 CPU-seconds at 100k x 768. (An IVF index was tried and dropped: its range search
    does not use BLAS, so it saved at most half the time, e.g. nlist=1264, nprobe=8: 71 s vs
    145 s, while missing 14% of the edges.)
    Self-loops are included (ball(i) holds i).

    Parameters
    ----------
    embeddings : ndarray of shape (m, d)

    Returns
    -------
    scipy.sparse.csr_matrix of shape (m, m), bool; row i = ball(i). More than ``max_edges``
    edges raises ValueError (delta too large for the data: balls would hold most points).
    """
    return _ball_graph(_l2_normalise(embeddings), delta, max_edges)


_GRAPH_CHUNK = 8192


def _ball_graph(x: np.ndarray, delta: float, max_edges: int) -> sp.csr_matrix:
    import faiss

    m, dim = x.shape
    threshold = 1.0 - delta**2 / 2.0
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    n_edges = 0
    for start in range(0, m, _GRAPH_CHUNK):
        stop = min(start + _GRAPH_CHUNK, m)
        index = faiss.IndexFlatIP(dim)
        index.add(x[start:])  # the pairs with earlier rows were found by earlier chunks
        lims, _, found = index.range_search(x[start:stop], threshold)
        src = np.repeat(np.arange(start, stop, dtype=np.int32), np.diff(lims).astype(np.int64))
        dst = found.astype(np.int32) + np.int32(start)
        cross = dst >= stop  # found once, from this chunk: mirror them
        rows += [src, dst[cross]]
        cols += [dst, src[cross]]
        n_edges += src.size + int(cross.sum())
        if n_edges > max_edges:
            raise ValueError(
                f"probcover: delta={delta} gives more than {max_edges} edges "
                f"({n_edges / stop:.0f} per point so far); use a smaller delta"
            )
    data = np.ones(n_edges, dtype=bool)
    return sp.csr_matrix((data, (np.concatenate(rows), np.concatenate(cols))), shape=(m, m))


@dataclass(frozen=True)
class ProbCover(_Base):
    """ProbCover (Yehuda et al. 2022): greedy maximum coverage of delta-balls.

    Balls around labelled points count as covered. Each pick is the pool point whose ball holds
    the most uncovered points (ties broken at random with ``rng``); its ball becomes covered.
    Once everything reachable is covered, the rest are drawn uniformly, as in the authors' code.
    ``delta`` is the ball radius on L2-normalised embeddings; 0.6 (cosine similarity > 0.82)
    is a fixed default in place of the paper's purity-based choice (purity needs k-means
    pseudo-labels and a sweep). The graph is exact, see ``probcover_graph``.
    """

    delta: float = 0.6
    max_edges: int = 50_000_000
    name: ClassVar[str] = "probcover"
    needs: ClassVar[frozenset[str]] = frozenset({"embeddings"})

    def __post_init__(self) -> None:
        if not (isinstance(self.delta, int | float) and 0.0 < self.delta <= 2.0):
            raise ValueError(f"probcover: delta must be in (0, 2] (unit-sphere distance); got {self.delta!r}")
        _positive_int("probcover", max_edges=self.max_edges)

    def _select(self, inputs, pool, labeled, n, rng):
        nodes = np.concatenate([labeled, pool])
        x = _l2_normalise(inputs.embeddings[nodes], copy=False)
        balls = _ball_graph(x, self.delta, self.max_edges)
        covered = np.zeros(nodes.size, dtype=bool)
        covered[balls[: labeled.size].indices] = True
        n_uncovered = balls @ (~covered).astype(np.int64)
        candidate = np.zeros(nodes.size, dtype=bool)
        candidate[labeled.size :] = True
        picked: list[int] = []
        while len(picked) < n:
            gain = np.where(candidate, n_uncovered, -1)
            best = gain.max()
            if best <= 0:  # everything reachable is covered
                rest = rng.choice(np.flatnonzero(candidate), size=n - len(picked), replace=False)
                picked.extend(rest.tolist())
                break
            ties = np.flatnonzero(gain == best)
            cur = int(ties[rng.integers(ties.size)]) if ties.size > 1 else int(ties[0])
            picked.append(cur)
            candidate[cur] = False
            ball = balls.indices[balls.indptr[cur] : balls.indptr[cur + 1]]
            new = ball[~covered[ball]]
            covered[new] = True
            # every ball holding a newly covered point j has one uncovered point fewer; the graph
            # is symmetric, so those balls are centred on the members of ball(j)
            n_uncovered -= np.bincount(balls[new].indices, minlength=nodes.size)
        return nodes[picked]


# --- registry ---------------------------------------------------------------------------------

STRATEGIES: dict[str, type] = {
    "random": RandomSampling,
    **{scorer: Uncertainty for scorer in SCORERS},
    "coreset": CoreSet,
    "badge": BADGE,
    "cal": CAL,
    "bert_km": BertKM,
    "typiclust": TypiClust,
    "probcover": ProbCover,
    "precomputed": Precomputed,
}
"""Strategy name -> class. The four uncertainty names share ``Uncertainty`` (scorer preset)."""

_PRESETS: dict[str, dict[str, Any]] = {scorer: {"scorer": scorer} for scorer in SCORERS}


def get_strategy(name: str, **kwargs: Any) -> QueryStrategy:
    """Build a registered strategy; unknown names or hyperparameters raise ValueError."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}")
    cls, preset = STRATEGIES[name], _PRESETS.get(name, {})
    valid = [f.name for f in fields(cls) if f.name not in preset]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown} for strategy {name!r}; valid: {valid}")
    return cls(**preset, **kwargs)


def select_initial(
    name: str, embeddings: Embeddings | None, pool_idx: Indices, n: int, rng: np.random.Generator
) -> Indices:
    """Choose the initial labelled set (nothing labelled yet) with "random", "coreset" or
    "typiclust"; returns n unique members of ``pool_idx``."""
    if name not in INIT_STRATEGIES:
        raise ValueError(f"unknown initial-pool strategy {name!r}; choose from {list(INIT_STRATEGIES)}")
    inputs = QueryInputs(embeddings=embeddings)
    return get_strategy(name).query(inputs, pool_idx, _EMPTY, n, rng)
