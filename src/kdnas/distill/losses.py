"""Hidden-state distillation losses.

The loss is *normalised*: the squared error over non-padding tokens divided by the teacher's total
variance (squared deviation from each dimension's mean). 0 means the student reproduces the teacher; 1
means it is no better than predicting each dimension's mean. It is ``1 - R^2``, comparable across teachers
and layers, so ``1 - loss`` can enter the search reward.
"""

from __future__ import annotations

import math

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


def masked_sse_sst(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared error and teacher total sum of squares over valid tokens.

    Args:
        pred, target: ``(B, T, H)``.
        mask: ``(B, T)``, 1 for real tokens.
    """
    m = mask.to(target.dtype).unsqueeze(-1)  # (B, T, 1)
    n = m.sum().clamp_min(1.0)
    sse = ((pred - target) ** 2 * m).sum()
    mean = (target * m).sum(dim=(0, 1)) / n  # (H,)
    sst = (((target - mean) ** 2) * m).sum()
    return sse, sst


def normalised_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``SSE / SST`` over valid tokens of one batch (see module docstring)."""
    sse, sst = masked_sse_sst(pred.float(), target.float(), mask)
    return sse / (sst + eps)


class NormalisedMSE(Metric):
    """The normalised loss accumulated over a whole split, with the mean taken over the whole split.

    Keeps per-dimension sums of the target and its square (float64), so the total variance is exact for
    any number of batches: ``SST = sum(t^2) - (sum t)^2 / n``.
    """

    full_state_update = False
    higher_is_better = False
    # the states add_state registers (torchmetrics types them as Tensor | Module otherwise)
    sse: torch.Tensor
    sum_t: torch.Tensor
    sum_t2: torch.Tensor
    n: torch.Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.add_state("sse", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sum_t", default=torch.zeros(dim, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sum_t2", default=torch.zeros(dim, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
        valid = mask.bool()
        p, t = pred[valid].double(), target[valid].double()  # (N, H)
        self.sse += ((p - t) ** 2).sum()
        self.sum_t += t.sum(0)
        self.sum_t2 += (t**2).sum(0)
        self.n += t.shape[0]

    def compute(self) -> torch.Tensor:
        n = self.n.clamp_min(1.0)
        sst = (self.sum_t2 - self.sum_t**2 / n).sum()
        return (self.sse / sst.clamp_min(1e-12)).float()


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, T, H)`` -> ``(B, H)`` mean over real tokens."""
    m = mask.to(states.dtype).unsqueeze(-1)
    return (states * m).sum(1) / m.sum(1).clamp_min(1.0)


def sentence_relation_kl(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, temperature: float = 0.05
) -> torch.Tensor:
    """KL(teacher || student) between in-batch cosine-similarity distributions of mean-pooled sentences.

    Each row is a softmax over the batch of one sentence's similarities at ``temperature`` (self excluded).
    It compares geometry, not coordinates, so student and teacher widths may differ.
    """
    s = torch.nn.functional.normalize(mean_pool(student.float(), mask), dim=-1)
    t = torch.nn.functional.normalize(mean_pool(teacher.float(), mask), dim=-1)
    eye = torch.eye(s.shape[0], dtype=torch.bool, device=s.device)
    s_logits = (s @ s.T / temperature).masked_fill(eye, -1e4)
    t_logits = (t @ t.T / temperature).masked_fill(eye, -1e4)
    return torch.nn.functional.kl_div(
        s_logits.log_softmax(-1), t_logits.log_softmax(-1), log_target=True, reduction="batchmean"
    )


CROSSLINGUAL_TARGETS = ("source", "teacher")


def crosslingual_relation_kl(
    student: torch.Tensor,
    teacher: torch.Tensor,
    mask: torch.Tensor,
    n_pairs: int,
    temperature: float = 0.05,
    target: str = "source",
) -> torch.Tensor:
    """Cross-lingual relation distillation over a paired batch (rows ``[sources; translations]``).

    The student's similarities between translation ``i`` and English source ``j`` (and, symmetrically,
    source ``i`` and translation ``j``) must match a teacher distribution over ``j`` (KL at
    ``temperature``):

    - ``target="source"``: the teacher's similarities between sources ``i`` and ``j``: each translation
      should sit where the teacher puts its English source, so a student can align languages that the
      teacher itself aligns less well;
    - ``target="teacher"``: the teacher's own similarities between translation ``i`` and source ``j``:
      plain distillation of its cross-lingual geometry, which keeps whatever language signal it has.

    Compares geometry, not coordinates, so student and teacher widths may differ.
    """
    if target not in CROSSLINGUAL_TARGETS:
        raise ValueError(f"crosslingual target {target!r} is not one of {list(CROSSLINGUAL_TARGETS)}")
    s = torch.nn.functional.normalize(mean_pool(student.float(), mask), dim=-1)
    t = torch.nn.functional.normalize(mean_pool(teacher.float(), mask), dim=-1)
    s_src, s_tgt = s[:n_pairs], s[n_pairs : 2 * n_pairs]
    t_src, t_tgt = t[:n_pairs], t[n_pairs : 2 * n_pairs]
    t_cross = t_src @ t_src.T if target == "source" else t_tgt @ t_src.T  # (translation i, source j)
    s_cross = s_tgt @ s_src.T

    def kl(s_logits: torch.Tensor, t_logits: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.kl_div(
            (s_logits / temperature).log_softmax(-1), (t_logits / temperature).log_softmax(-1),
            log_target=True, reduction="batchmean",
        )

    return 0.5 * (kl(s_cross, t_cross) + kl(s_cross.T, t_cross.T))


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Linear centred kernel alignment (Kornblith et al., 2019) between ``(N, D_x)`` and ``(N, D_y)`` embeddings of
    the same ``N`` sentences: 1 when one is a rotation and scaling of the other, 0 when unrelated. Basis-free, so
    widths may differ; it weighs the directions the embeddings vary most along."""
    x, y = x.double(), y.double()
    x, y = x - x.mean(0), y - y.mean(0)
    cross = torch.linalg.matrix_norm(x.T @ y) ** 2
    return (cross / (torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)).clamp_min(1e-12)).float()


def knn_overlap(student: torch.Tensor, teacher: torch.Tensor, k: int = 10, chunk: int = 1024) -> torch.Tensor:
    """The mean fraction of each sentence's ``k`` nearest neighbours by cosine (itself excluded) in the teacher's
    embedding that are among its ``k`` nearest in the student's: the local geometry that retrieval and a
    nearest-neighbour probe read. ``(N, D_s)``, ``(N, D_t)``, ``N > k``; ``chunk`` rows of similarities at a time
    (memory ``chunk x N``, not ``N x N``)."""
    n = student.shape[0]
    if n <= k:
        raise ValueError(f"knn_overlap needs more than k={k} sentences, got {n}")
    s_all = torch.nn.functional.normalize(student.float(), dim=-1)
    t_all = torch.nn.functional.normalize(teacher.float(), dim=-1)

    def neighbours(e: torch.Tensor, rows: slice) -> torch.Tensor:
        sims = e[rows] @ e.T  # (chunk, N)
        own = torch.arange(rows.start, rows.start + sims.shape[0], device=sims.device)
        sims[torch.arange(sims.shape[0], device=sims.device), own] = -float("inf")
        return sims.topk(k, dim=-1).indices  # (chunk, k)

    shared = 0.0
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        s, t = neighbours(s_all, rows), neighbours(t_all, rows)
        shared += float((s.unsqueeze(-1) == t.unsqueeze(-2)).any(-1).sum())  # student neighbours the teacher shares
    return torch.tensor(shared / (n * k))


class EmbeddingGeometry(Metric):
    """The student's pooled sentence embeddings against the teacher's over a whole split: ``cka``
    (:func:`linear_cka`) and ``knn`` (:func:`knn_overlap` over the first ``knn_max`` sentences; NaN with ``k`` or
    fewer). The embeddings are kept and, under DDP, gathered from every rank before either is computed."""

    full_state_update = False
    higher_is_better = True
    student: list[torch.Tensor]
    teacher: list[torch.Tensor]

    def __init__(self, k: int, knn_max: int) -> None:
        super().__init__()
        self.k, self.knn_max = k, knn_max
        self.add_state("student", default=[], dist_reduce_fx="cat")
        self.add_state("teacher", default=[], dist_reduce_fx="cat")

    def update(self, student: torch.Tensor, teacher: torch.Tensor) -> None:
        """``(B, D_s)`` and ``(B, D_t)`` pooled embeddings of the same sentences."""
        self.student.append(student.detach().float())
        self.teacher.append(teacher.detach().float())

    def compute(self) -> dict[str, torch.Tensor]:
        s, t = dim_zero_cat(self.student), dim_zero_cat(self.teacher)
        knn = (knn_overlap(s[: self.knn_max], t[: self.knn_max], self.k) if s.shape[0] > self.k
               else torch.tensor(math.nan))
        return {"cka": linear_cka(s, t), "knn": knn}
