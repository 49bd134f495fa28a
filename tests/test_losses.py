from __future__ import annotations

import pytest
import torch

from kdnas.distill.losses import NormalisedMSE, normalised_mse


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(4, 7, 16, generator=g) * 3 + torch.arange(16.0)  # per-dimension offsets
    mask = torch.ones(4, 7, dtype=torch.long)
    mask[1, 5:] = 0
    mask[3, 2:] = 0
    return target, mask


def test_zero_when_student_reproduces_teacher() -> None:
    target, mask = batch()
    assert normalised_mse(target.clone(), target, mask).item() == 0.0


def test_one_for_the_per_dimension_mean_predictor() -> None:
    target, mask = batch()
    valid = mask.bool()
    mean = target[valid].mean(0)
    pred = mean.expand_as(target).clone()
    assert abs(normalised_mse(pred, target, mask).item() - 1.0) < 1e-5


def test_padding_is_ignored() -> None:
    target, mask = batch()
    pred = target.clone()
    pred[~mask.bool()] = 1e6  # garbage where there are no tokens
    assert normalised_mse(pred, target, mask).item() == 0.0


def test_metric_uses_the_mean_over_all_batches() -> None:
    metric = NormalisedMSE(16)
    targets = [batch(s) for s in range(3)]
    all_t = torch.cat([t[m.bool()] for t, m in targets])
    mean = all_t.mean(0)
    for t, m in targets:
        metric.update(mean.expand_as(t), t, m)
    assert abs(metric.compute().item() - 1.0) < 1e-5
    metric.reset()
    for t, m in targets:
        metric.update(t, t, m)
    assert metric.compute().item() == 0.0


def test_identity_projection_student_equal_teacher_gives_zero(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    """The distillation module's loss is 0 when the student is the teacher and projections are identity."""
    import copy

    from kdnas.distill.module import DistillationModule

    teacher = tiny_teacher.model
    student = copy.deepcopy(teacher)
    n = teacher.config.num_hidden_layers
    module = DistillationModule(student, teacher, n, teacher.config.hidden_size, mapping="uniform")
    with torch.no_grad():
        for proj in module.projections:
            proj.weight.copy_(torch.eye(proj.out_features))
            proj.bias.zero_()
    student.eval()
    ids = torch.randint(5, 1000, (3, 9))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    assert module.loss({"input_ids": ids, "attention_mask": mask}).item() < 1e-6


def test_sentence_relation_is_zero_for_the_same_geometry_and_basis_free() -> None:
    from kdnas.distill.losses import sentence_relation_kl

    target, mask = batch()
    rotation, _ = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(1)))
    assert sentence_relation_kl(target @ rotation, target, mask).item() < 1e-6  # a rotated student is perfect
    assert sentence_relation_kl(torch.randn_like(target), target, mask).item() > 0.01


def test_crosslingual_relation_rewards_translations_placed_on_their_sources() -> None:
    from kdnas.distill.losses import crosslingual_relation_kl

    _, mask = batch()
    target = torch.randn(4, 7, 16, generator=torch.Generator().manual_seed(3))  # well-separated sentences
    n = target.shape[0]
    paired_mask = torch.cat([mask, mask])
    noise = torch.randn_like(target, generator=torch.Generator().manual_seed(2))
    rotation, _ = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(1)))
    # the teacher's translation rows are ignored: only its English sources are the target
    teacher = torch.cat([target, noise])
    aligned = crosslingual_relation_kl(torch.cat([target, target]) @ rotation, teacher, paired_mask, n)
    shuffled = crosslingual_relation_kl(torch.cat([target, target.roll(1, 0)]), teacher, paired_mask, n)
    assert aligned.item() < 1e-6  # translation i where the teacher puts source i, in any basis
    assert shuffled.item() > 1.0  # translation i where source i-1 is: heavily penalised


def test_crosslingual_loss_only_on_paired_batches(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    from kdnas.distill.module import DistillationModule
    from kdnas.models.arch import ArchSpec
    from kdnas.models.student import build_student

    teacher = tiny_teacher.model
    student = build_student(ArchSpec(2, 32, 2, 64, "relu"), teacher)
    module = DistillationModule(student, teacher, teacher.config.num_hidden_layers, teacher.config.hidden_size,
                                crosslingual_weight=2.0)
    ids = torch.randint(5, 1000, (6, 9))
    plain = module.losses({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    assert "crosslingual" not in plain
    paired = module.losses({"input_ids": ids, "attention_mask": torch.ones_like(ids), "n_pairs": torch.tensor(3)})
    assert paired["crosslingual"].item() > 0
    assert torch.allclose(paired["total"], paired["hidden"] + 2.0 * paired["crosslingual"])


def test_crosslingual_teacher_target_distils_the_teachers_own_cross_lingual_geometry() -> None:
    from kdnas.distill.losses import crosslingual_relation_kl

    _, mask = batch()
    g = torch.Generator().manual_seed(4)
    teacher = torch.randn(8, 7, 16, generator=g)  # 4 sources, then 4 imperfect translations
    paired_mask = torch.cat([mask, mask])
    assert crosslingual_relation_kl(teacher, teacher, paired_mask, 4, target="teacher").item() < 1e-6
    assert crosslingual_relation_kl(teacher, teacher, paired_mask, 4, target="source").item() > 0.01


def test_linear_cka_is_one_for_a_rotated_scaled_copy_and_near_zero_for_unrelated_embeddings() -> None:
    from kdnas.distill.losses import linear_cka

    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 16, generator=g)
    rotation, _ = torch.linalg.qr(torch.randn(16, 16, generator=g))
    wider = torch.cat([3.0 * x @ rotation, torch.zeros(400, 8)], dim=1)  # another basis, scale and width
    assert linear_cka(x, wider).item() == pytest.approx(1.0, abs=1e-5)
    assert linear_cka(x, torch.randn(400, 24, generator=g)).item() < 0.1
    half = torch.cat([x[:, :8], torch.zeros(400, 8)], dim=1)  # half the directions kept: between the two
    assert 0.3 < linear_cka(half, x).item() < 0.9


def test_knn_overlap_counts_the_shared_nearest_neighbours() -> None:
    from kdnas.distill.losses import knn_overlap

    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 12, generator=g)
    rotation, _ = torch.linalg.qr(torch.randn(12, 12, generator=g))
    assert knn_overlap(2.0 * x @ rotation, x, k=5).item() == pytest.approx(1.0)  # cosine neighbours: same
    chance = knn_overlap(torch.randn(300, 12, generator=g), x, k=5).item()
    assert chance < 0.1  # unrelated: about k / N
    noisy = knn_overlap(x + 0.3 * torch.randn(300, 12, generator=g), x, k=5).item()
    assert chance < noisy < 1.0
    assert knn_overlap(x + 0.3 * torch.randn(300, 12, generator=torch.Generator().manual_seed(2)), x, k=5,
                       chunk=7).item() == pytest.approx(knn_overlap(
                           x + 0.3 * torch.randn(300, 12, generator=torch.Generator().manual_seed(2)), x, k=5).item())
    with pytest.raises(ValueError, match="more than k=5 sentences, got 5"):
        knn_overlap(x[:5], x[:5], k=5)
