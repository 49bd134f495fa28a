"""Task-agnostic agreement between a student's and its teacher's sentence embeddings.

No distillation loss targets these, so they say how much of the teacher's geometry a student kept rather
than how well a training loss was fitted:

- **neighbourhood agreement**: for each text, the overlap of its ``k`` nearest neighbours (cosine, itself
  excluded) under the teacher and under the student, as a fraction of ``k``; the mean over texts;
- **linear CKA** (Kornblith et al., 2019): the similarity of the two embedding matrices up to rotation and
  isotropic scaling, 1 for identical geometry.

Both are computed on texts no model trained on (the evaluation split, the out-of-domain set).
"""

from __future__ import annotations

import numpy as np

from kdnas.evaluate.intervals import interval, seeded_rng


def nearest(embeddings: np.ndarray, k: int) -> np.ndarray:
    """Row ``i``: the indices of the ``k`` rows most similar to row ``i`` (dot product), ``i`` excluded."""
    n = len(embeddings)
    if not 0 < k < n:
        raise ValueError(f"k={k} must be between 1 and the number of texts - 1 ({n - 1})")
    x = embeddings.astype(np.float32)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    return np.argpartition(-sims, k - 1, axis=1)[:, :k]


def neighbourhood_overlap(teacher: np.ndarray, student: np.ndarray, k: int = 10) -> np.ndarray:
    """Per text: the fraction of its teacher ``k``-neighbourhood that is also its student one."""
    if len(teacher) != len(student):
        raise ValueError(f"teacher has {len(teacher)} rows, student {len(student)}")
    t, s = nearest(teacher, k), nearest(student, k)
    n = len(teacher)
    t_mask = np.zeros((n, n), dtype=bool)
    rows = np.arange(n)[:, None]
    t_mask[rows, t] = True
    return t_mask[rows, s].sum(axis=1) / k


def linear_cka(x: np.ndarray, y: np.ndarray, dtype: type = np.float64) -> float:
    """Linear CKA of ``(n, d1)`` and ``(n, d2)`` matrices (``dtype``: of the products; float32 is 2x faster)."""
    x = x.astype(dtype) - x.mean(axis=0, dtype=dtype)
    y = y.astype(dtype) - y.mean(axis=0, dtype=dtype)
    cross = float(np.linalg.norm(y.T @ x)) ** 2
    denom = float(np.linalg.norm(x.T @ x)) * float(np.linalg.norm(y.T @ y))
    return cross / denom if denom > 0 else float("nan")


def agreement(teacher: np.ndarray, student: np.ndarray, k: int, n_boot: int, seed: int) -> dict[str, object]:
    """Neighbourhood agreement and linear CKA of one set of texts, with intervals over the texts.

    The neighbourhoods are found among all the texts once; the interval resamples the per-text overlaps (a
    bootstrap). CKA is not bootstrapped: a resample's duplicated rows inflate it (a measured +0.02, more than
    the interval's width). Its interval comes from half-samples instead (McCarthy's half-sampling: ``n/2``
    texts drawn without replacement have about the variance of the full statistic), centred on the
    full-sample value; at most 100 half-samples, each a few float32 matrix products.
    """
    overlap = neighbourhood_overlap(teacher, student, k)
    n = len(teacher)
    cka = linear_cka(teacher, student)
    out: dict[str, object] = {"texts": n, "k": k, "neighbourhood": float(overlap.mean()), "cka": cka}
    if n_boot > 0:
        rng = seeded_rng(seed, "agreement")
        out["neighbourhood_ci"] = interval(overlap[rng.integers(0, n, size=(n_boot, n))].mean(axis=1))
        halves = [rng.choice(n, size=n // 2, replace=False) for _ in range(min(n_boot, 100))]
        spread = np.array([linear_cka(teacher[h], student[h], np.float32) for h in halves])
        ci = interval(spread - np.median(spread))
        out["cka_ci"] = None if ci is None else [cka + ci[0], cka + ci[1]]
    return out
