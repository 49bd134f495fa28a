"""The distillation LightningModule: multi-layer hidden state distillation through learned projections.

Each mapped student layer gets one linear projection from the student's hidden size to the
concatenation of its teacher layers' hidden sizes; the loss is the normalised MSE (see ``losses``) over
non-padding tokens, averaged over every (student layer, teacher layer) pair.

Teacher hidden states come either from a live frozen teacher, or precomputed in the batch
(``batch["teacher_hidden"]``: ``(L_T + 1, B, T, H_T)``, all layers) when a teacher-output cache feeds
the data, in which case no teacher forward runs at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from typing import cast

import lightning as L
import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import nn
from torchmetrics import MeanMetric
from transformers import PreTrainedModel, get_linear_schedule_with_warmup

from kdnas.distill.attention import attention_relation_kl, capture_qkv
from kdnas.distill.losses import (
    CROSSLINGUAL_TARGETS,
    EmbeddingGeometry,
    NormalisedMSE,
    crosslingual_relation_kl,
    mean_pool,
    normalised_mse,
    sentence_relation_kl,
)
from kdnas.distill.mapping import LayerMapping, layer_mapping
from kdnas.errors import ConfigError

Batch = Mapping[str, torch.Tensor]
#: the neighbours per sentence of the validation's nearest-neighbour score (``knn_loss``)
KNN = 10
#: the validation sentences (the first, in the split's order) the nearest-neighbour score reads: its cost grows with
#: the square of their number (the proxy-validation split has 1,499; a user's validation set may have many more)
KNN_MAX_SENTENCES = 4096
#: teacher hidden states indexable by hidden-state layer number: a model's tuple, the cache's stacked
#: ``(L_T + 1, B, T, H)`` tensor, or a dict of the cached layers a mapping reads
TeacherStates = Mapping[int, torch.Tensor] | Sequence[torch.Tensor] | torch.Tensor


@torch.no_grad()
def truncated_identity_(projection: nn.Linear, block: int) -> None:
    """Set ``projection`` to copy input dim ``d`` to output ``j * block + d`` of every output block ``j``."""
    projection.weight.zero_()
    projection.bias.zero_()
    d = min(projection.in_features, block)
    for start in range(0, projection.out_features, block):
        projection.weight[start : start + d, :d] += torch.eye(d)


class DistillationModule(L.LightningModule):
    """Distil ``student`` from a teacher's hidden states.

    Args:
        student: the model being trained (``output_hidden_states`` must be supported).
        teacher: the frozen teacher, or ``None`` when every batch carries ``teacher_hidden``.
        teacher_layers: the teacher's number of transformer layers.
        teacher_hidden_size: the teacher's hidden size.
        mapping: ``uniform``, ``last`` or ``uniform_last``.
        include_embeddings: also distil the embedding output.
        lr, weight_decay, warmup_ratio: AdamW with linear warm-up then linear decay to zero.
        projection_init: ``identity`` (each projection starts by copying the student's dimensions onto
            the teacher's first ones: a teacher-initialised student starts near its teacher, which matters
            in a short proxy distillation) or ``random`` (PyTorch's default).
        relation_weight: weight of the sentence-relation loss (0 = off, the paper's method): the student's
            own mean-pooled last layer, with no projection, must reproduce the teacher's in-batch cosine
            similarity distribution (KL at ``relation_temperature``). Invariant to the student's basis,
            it shapes the embedding space that retrieval uses.
        crosslingual_weight: weight of the cross-lingual relation loss (0 = off), on paired batches only
            (``data.paired=true``): a translation's similarities to the batch's English sources, in the
            student, must match its source's similarities in the teacher (``crosslingual_target=source``)
            or its own similarities in the teacher (``teacher``); see ``losses.crosslingual_relation_kl``.
        attention_weight: weight of the MiniLMv2 self-attention relation loss (0 = off) between the
            student's last layer and the teacher layer it learns, over ``attention_relation_heads``
            relation heads. Needs the live teacher (batches from a teacher-output cache skip it).
    """

    def __init__(
        self,
        student: PreTrainedModel,
        teacher: PreTrainedModel | None,
        teacher_layers: int,
        teacher_hidden_size: int,
        mapping: str = "uniform_last",
        include_embeddings: bool = False,
        lr: float = 5e-4,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        projection_init: str = "identity",
        relation_weight: float = 0.0,
        relation_temperature: float = 0.05,
        crosslingual_weight: float = 0.0,
        crosslingual_target: str = "source",
        attention_weight: float = 0.0,
        attention_relation_heads: int = 8,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["student", "teacher"])
        self.student = student
        self._teacher = [teacher]  # a list keeps the frozen teacher out of state_dict and checkpoints
        self.layer_map: LayerMapping = layer_mapping(
            mapping, student.config.num_hidden_layers, teacher_layers, include_embeddings
        )
        h_s = student.config.hidden_size
        projections = [nn.Linear(h_s, teacher_hidden_size * len(targets)) for _, targets in self.layer_map.pairs]
        if crosslingual_target not in CROSSLINGUAL_TARGETS:
            raise ConfigError(f"distill.crosslingual_target={crosslingual_target!r} is not one of {list(CROSSLINGUAL_TARGETS)}")
        if projection_init not in ("identity", "random"):
            raise ConfigError(f"distill.projection_init={projection_init!r} is not one of ['identity', 'random']")
        if projection_init == "identity":
            for projection in projections:
                truncated_identity_(projection, teacher_hidden_size)
        self.projections = nn.ModuleList(projections)
        n_targets = sum(len(t) for _, t in self.layer_map.pairs)
        self.val_metrics = nn.ModuleList(NormalisedMSE(teacher_hidden_size) for _ in range(n_targets))
        self.test_metrics = nn.ModuleList(NormalisedMSE(teacher_hidden_size) for _ in range(n_targets))
        # the sentence-relation loss of each validation / test batch, averaged over sentences: scored whatever
        # relation_weight is (a search may rank by it: search.proxy_objective)
        self.val_relation, self.test_relation = MeanMetric(), MeanMetric()
        # the whole split's mean-pooled last layers, student against teacher (gathered from every rank under DDP)
        self.val_geometry = EmbeddingGeometry(KNN, KNN_MAX_SENTENCES)
        self.test_geometry = EmbeddingGeometry(KNN, KNN_MAX_SENTENCES)

    @property
    def teacher(self) -> PreTrainedModel | None:
        return self._teacher[0]

    def _live_teacher(self) -> nn.Module:
        if self.teacher is None:
            raise RuntimeError("no teacher and no teacher_hidden in the batch")
        return self.teacher

    def on_fit_start(self) -> None:
        if self.teacher is not None:
            teacher: nn.Module = self.teacher  # Module.to (PreTrainedModel.to's wrapper confuses type checkers)
            teacher.to(self.device).eval()

    on_validation_start = on_test_start = on_fit_start

    # --- forward -------------------------------------------------------------------------------------
    def teacher_hidden(self, batch: Batch) -> TeacherStates:
        """Teacher states indexable by hidden-state layer number (0 = embeddings)."""
        if "teacher_hidden" in batch:
            states = batch["teacher_hidden"]
            if "teacher_layers" in batch:  # only the mapped layers were read from the cache
                return {int(layer): states[i] for i, layer in enumerate(batch["teacher_layers"].tolist())}
            return states
        teacher = self._live_teacher()
        with torch.no_grad():
            out = teacher(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True
            )
        return out.hidden_states

    def states(self, batch: Batch) -> tuple[Sequence[torch.Tensor], TeacherStates]:
        """``(student hidden states, teacher hidden states)`` of a batch."""
        teacher_states = self.teacher_hidden(batch)
        out = self.student(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True
        )
        return out.hidden_states, teacher_states

    def projected_pairs(
        self, student_states: Sequence[torch.Tensor], teacher_states: TeacherStates
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(projected student, teacher)`` hidden states, each ``(B, T, H_T)``."""
        h_t = self.hparams["teacher_hidden_size"]
        for projection, (s_layer, t_layers) in zip(self.projections, self.layer_map.pairs, strict=True):
            projected = projection(student_states[s_layer])  # (B, T, H_T * len(t_layers))
            for j, t_layer in enumerate(t_layers):
                yield projected[..., j * h_t : (j + 1) * h_t], teacher_states[t_layer].to(projected.dtype)

    @property
    def top_layer(self) -> int:
        """The teacher layer the last student layer learns (hidden-state numbering)."""
        return self.layer_map.pairs[-1][1][-1]

    def losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """``hidden`` (the normalised hidden-state loss); ``relation``, ``crosslingual`` (paired batches)
        and ``attention`` (live teacher) when weighted; and their weighted ``total``."""
        mask = batch["attention_mask"]
        top = self.top_layer
        attention = self.hparams["attention_weight"] > 0 and "teacher_hidden" not in batch
        with ExitStack() as stack:
            if attention:  # hooks keep the Q/K/V projections of both forwards (hidden-state numbering is 1-based)
                s_qkv = stack.enter_context(capture_qkv(self.student, self.student.config.num_hidden_layers - 1))
                t_qkv = stack.enter_context(capture_qkv(self._live_teacher(), top - 1))
            student_states, teacher_states = self.states(batch)
        hidden = torch.stack(
            [normalised_mse(p, t, mask) for p, t in self.projected_pairs(student_states, teacher_states)]
        ).mean()
        out = {"hidden": hidden, "total": hidden}
        weight = self.hparams["relation_weight"]
        if weight > 0:
            out["relation"] = self._relation(student_states, teacher_states, mask)
            out["total"] = out["total"] + weight * out["relation"]
        weight = self.hparams["crosslingual_weight"]
        if weight > 0 and "n_pairs" in batch:
            out["crosslingual"] = crosslingual_relation_kl(
                student_states[-1], teacher_states[top], mask, int(batch["n_pairs"]),
                self.hparams["relation_temperature"], self.hparams["crosslingual_target"],
            )
            out["total"] = out["total"] + weight * out["crosslingual"]
        if attention:
            out["attention"] = attention_relation_kl(s_qkv, t_qkv, mask, self.hparams["attention_relation_heads"])
            out["total"] = out["total"] + self.hparams["attention_weight"] * out["attention"]
        return out

    def loss(self, batch: Batch) -> torch.Tensor:
        return self.losses(batch)["total"]

    # --- loops ---------------------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        losses = self.losses(batch)
        loss = losses["total"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite distillation loss at step {self.global_step}")
        size = batch["input_ids"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        if len(losses) > 2:  # more than hidden + total: log each part
            for name in ("hidden", "relation", "crosslingual", "attention"):
                if name in losses:
                    self.log(f"train/{name}_loss", losses[name], batch_size=size)
        return loss

    def _update(self, metrics: nn.ModuleList, relation: MeanMetric, geometry: EmbeddingGeometry, batch: Batch) -> None:
        student_states, teacher_states = self.states(batch)
        mask = batch["attention_mask"]
        pairs = self.projected_pairs(student_states, teacher_states)
        for metric, (pred, target) in zip(_metrics(metrics), pairs, strict=True):
            metric.update(pred, target, mask)
        relation.update(self._relation(student_states, teacher_states, mask), weight=mask.shape[0])
        geometry.update(mean_pool(student_states[-1].float(), mask), mean_pool(teacher_states[self.top_layer].float(), mask))

    def _relation(self, student_states: Sequence[torch.Tensor], teacher_states: TeacherStates,
                  mask: torch.Tensor) -> torch.Tensor:
        """The sentence-relation loss between the student's last layer and the teacher layer it learns."""
        return sentence_relation_kl(student_states[-1], teacher_states[self.top_layer].to(student_states[-1].dtype), mask,
                                    self.hparams["relation_temperature"])

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._update(self.val_metrics, self.val_relation, self.val_geometry, batch)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._update(self.test_metrics, self.test_relation, self.test_geometry, batch)

    def _log_epoch(self, metrics: nn.ModuleList, relation: MeanMetric, geometry: EmbeddingGeometry, stage: str) -> None:
        """``<stage>/loss``: the hidden-state loss, each mapped layer's over the whole split, averaged over layers;
        ``<stage>/relation_loss``: the sentence-relation loss; ``<stage>/total_loss``: the first plus
        ``relation_weight`` times the second (the single-text training objective); over the whole split's pooled
        last layers, ``<stage>/cka_loss`` (1 - linear CKA with the teacher's) and ``<stage>/knn_loss`` (1 - the
        shared fraction of each sentence's 10 nearest neighbours, over its first 4,096; when it has more than 10)."""
        hidden = torch.stack([m.compute() for m in _metrics(metrics)]).mean()
        related = relation.compute().to(hidden.dtype)
        self.log(f"{stage}/loss", hidden, prog_bar=True, sync_dist=False)
        self.log(f"{stage}/relation_loss", related, sync_dist=False)
        self.log(f"{stage}/total_loss", hidden + self.hparams["relation_weight"] * related, sync_dist=False)
        scores = geometry.compute()
        self.log(f"{stage}/cka_loss", 1.0 - scores["cka"], sync_dist=False)
        if torch.isfinite(scores["knn"]):
            self.log(f"{stage}/knn_loss", 1.0 - scores["knn"], sync_dist=False)
        for m in _metrics(metrics):
            m.reset()
        relation.reset()
        geometry.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_epoch(self.val_metrics, self.val_relation, self.val_geometry, "val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch(self.test_metrics, self.test_relation, self.test_geometry, "test")

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, p in self.named_parameters():
            if p.requires_grad:
                (no_decay if p.dim() < 2 or "LayerNorm" in name else decay).append(p)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.hparams["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.hparams["lr"],
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = get_linear_schedule_with_warmup(optimizer, int(self.hparams["warmup_ratio"] * total), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _metrics(modules: nn.ModuleList) -> list[NormalisedMSE]:
    """The metrics of ``val_metrics`` / ``test_metrics`` (built from NormalisedMSE only; ModuleList yields Module)."""
    return cast("list[NormalisedMSE]", list(modules))
