"""``search.proxy_objective``: the validation metric that is a candidate's proxy loss. Validation scores the
sentence-relation loss whatever its training weight; each objective is its own store setting, the hidden-state
loss keeping the key it always had."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from kdnas.data.corpus import SPLITS, Corpus, CorpusSplit
from kdnas.data.datamodule import DistillDataModule
from kdnas.distill.losses import knn_overlap, linear_cka, mean_pool, sentence_relation_kl
from kdnas.distill.module import DistillationModule
from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.models.student import build_student
from kdnas.pipelines.schemas.search import check_search_settings
from tests.conftest import compose_config, distinct_words

TEXTS = [distinct_words(i) for i in range(14)]


def validate(module: DistillationModule, dm: DistillDataModule) -> dict[str, float]:
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    return {k: float(v) for k, v in trainer.validate(module, datamodule=dm, verbose=False)[0].items()}


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_validation_scores_the_relation_loss_whatever_its_weight(tiny_teacher, weight: float) -> None:  # type: ignore[no-untyped-def]
    dm = DistillDataModule(Corpus("toy", {s: CorpusSplit(TEXTS) for s in SPLITS}), tiny_teacher.tokenizer, batch_size=4)
    torch.manual_seed(0)
    student = build_student(ArchSpec(2, 32, 2, 64, "gelu"), tiny_teacher.model)
    module = DistillationModule(student, tiny_teacher.model, tiny_teacher.num_layers, tiny_teacher.hidden_size,
                                relation_weight=weight)
    scores = validate(module, dm)
    # by hand: each validation batch's relation loss, weighted by its sentences (14 texts: batches of 4, 4, 4, 2);
    # the whole split's pooled last layers for the geometry scores
    dm.setup("validate")
    total, n, pooled = 0.0, 0, []
    with torch.no_grad():
        for batch in dm.val_dataloader():
            s, t = module.states(batch)
            mask = batch["attention_mask"]
            kl = sentence_relation_kl(s[-1], t[module.top_layer], mask)
            total, n = total + kl.item() * len(batch["input_ids"]), n + len(batch["input_ids"])
            pooled.append((mean_pool(s[-1], mask), mean_pool(t[module.top_layer], mask)))
    assert n == len(TEXTS)
    assert scores["val/relation_loss"] == pytest.approx(total / n, rel=1e-4) and scores["val/relation_loss"] > 0
    assert scores["val/total_loss"] == pytest.approx(scores["val/loss"] + weight * scores["val/relation_loss"], rel=1e-5)
    student, teacher = torch.cat([p for p, _ in pooled]), torch.cat([q for _, q in pooled])
    assert scores["val/cka_loss"] == pytest.approx(1 - linear_cka(student, teacher).item(), rel=1e-4)
    assert scores["val/knn_loss"] == pytest.approx(1 - knn_overlap(student, teacher, 10).item(), abs=1e-6)
    assert 0 < scores["val/cka_loss"] < 1 and 0 <= scores["val/knn_loss"] < 1


def test_an_unknown_objective_is_one_line_naming_the_key(tmp_path: Path) -> None:
    cfg: Any = compose_config("search", ["experiment=tiny", "search.proxy_objective=retrieval"], tmp_path)
    with pytest.raises(ConfigError, match=r"search\.proxy_objective='retrieval' is not one of \['hidden', 'relation'"):
        check_search_settings(cfg.search)


@pytest.mark.slow
def test_each_objective_is_the_candidates_loss_and_its_own_setting(tmp_path: Path) -> None:
    from kdnas.pipelines.search import measure_architectures

    arch = ArchSpec(1, 64, 2, 128, "gelu")
    losses, settings = {}, {}
    for objective in ("hidden", "relation", "total", "cka"):
        cfg: Any = compose_config("search", [
            "experiment=tiny", "logger=none", "search.shared_store=null", "search.paired_latency=false",
            f"search.proxy_objective={objective}", f"paths.cache_dir={tmp_path / 'cache'}", "data.corpus.cache_dir=null",
        ], tmp_path / objective)
        settings[objective], (m,) = measure_architectures(cfg, [arch], tmp_path / objective)
        assert m.ok, m.reason
        losses[objective] = m.loss
    # the same seeded distillation, scored three ways: total = hidden + relation_weight x relation
    weight = float(cfg.distill.relation_weight)
    assert weight > 0 and losses["relation"] != pytest.approx(losses["hidden"])
    assert losses["total"] == pytest.approx(losses["hidden"] + weight * losses["relation"], rel=1e-4)
    assert 0 < losses["cka"] < 1 and losses["cka"] not in (losses["hidden"], losses["relation"])
    assert len(set(settings.values())) == 4

