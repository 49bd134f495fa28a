"""``search.proxy_paired``: proxy runs on the proxy split's translation pairs, both sides' teacher states read from
the teacher-output cache; the single-text proxy unchanged (its batches, cache and store key)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from kdnas.data.batching import pad_sequences
from kdnas.data.corpus import SPLITS, Corpus, CorpusSplit, TranslationPair, texts_fingerprint
from kdnas.data.datamodule import DistillDataModule, tokenize_texts
from kdnas.data.teacher_cache import TeacherCache, build_teacher_cache
from kdnas.distill.module import DistillationModule
from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.models.student import build_student
from kdnas.nas.store import setting_key
from tests.conftest import compose_config

PAIRS = [
    TranslationPair("Open the file now", "Ouvrir le fichier maintenant", "fr"),
    TranslationPair("Open the file now", "Datei jetzt öffnen", "de"),
    TranslationPair("Save all changes before quitting", "Сохранить все изменения перед выходом", "ru"),
    TranslationPair("Quit the program", "プログラムを終了", "ja"),
    TranslationPair("Print the selected pages", "Imprimir las páginas seleccionadas", "es"),
    TranslationPair("Delete the selected folder", "Supprimer le dossier sélectionné", "fr"),
]
LAYERS = (0, 2, 4)


def corpus(drop: str | None = None) -> Corpus:
    """A corpus whose splits' texts are their pairs' sources and translations (as gettext's), less ``drop``."""
    texts = [s for s in dict.fromkeys(t for p in PAIRS for t in (p.source, p.translation)) if s != drop]
    return Corpus("toy", {name: CorpusSplit(list(texts), list(PAIRS)) for name in SPLITS})


def cached(dm: DistillDataModule, teacher: Any, root: Path, role: str = "train") -> TeacherCache:
    ids, fingerprint = dm.cache_inputs(role)
    return build_teacher_cache(root, teacher.model, teacher.cache_key, ids, fingerprint, dm.max_length, dm.pad_id,
                               batch_size=4)


@pytest.mark.parametrize("drop", [None, "Datei jetzt öffnen"])
def test_paired_batches_carry_both_sides_teacher_states(tiny_teacher, tmp_path: Path, drop: str | None) -> None:  # type: ignore[no-untyped-def]
    data = corpus(drop)
    dm = DistillDataModule(data, tiny_teacher.tokenizer, batch_size=2, paired=True, seed=1)
    texts = dm.cache_texts("train")
    assert texts[: len(data.texts("train"))] == data.texts("train")
    assert texts[len(data.texts("train")):] == ([] if drop is None else [drop])  # a missing pair string is appended
    dm.teacher_caches = {"train": cached(dm, tiny_teacher, tmp_path)}
    dm.teacher_layers = LAYERS
    seen = []
    for batch in dm.train_dataloader():
        n = int(batch["n_pairs"])
        states = batch["teacher_hidden"]
        assert states.shape == (len(LAYERS), 2 * n, batch["input_ids"].shape[1], tiny_teacher.hidden_size)
        assert batch["teacher_layers"].tolist() == list(LAYERS)
        for row in range(2 * n):
            pair = PAIRS[int(batch["index"][row % n])]
            text = pair.source if row < n else pair.translation
            ids = tokenize_texts(tiny_teacher.tokenizer, [text], dm.max_length)[0]
            length = len(ids)
            assert batch["input_ids"][row, :length].tolist() == ids.tolist()
            with torch.no_grad():  # the teacher on this text alone: its states at the chosen layers
                out = tiny_teacher.model(input_ids=torch.as_tensor(ids[None], dtype=torch.long), output_hidden_states=True)
            direct = torch.stack([out.hidden_states[layer][0] for layer in LAYERS])
            torch.testing.assert_close(states[:, row, :length], direct, rtol=2e-3, atol=2e-3)  # fp16 storage
            assert not states[:, row, length:].any()
            seen.append(text)
    assert sorted(seen) == sorted([p.source for p in PAIRS] + [p.translation for p in PAIRS])


def test_single_text_batches_caches_and_keys_are_unchanged(tiny_teacher, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = corpus("Datei jetzt öffnen")  # a pair string missing: only a paired cache would hold it
    for paired in (False, True):
        dm = DistillDataModule(data, tiny_teacher.tokenizer, batch_size=3, paired=paired, seed=2)
        roles = ("train", "validation") if not paired else ("validation",)
        for role in roles:  # what the search built its caches from before proxy_paired existed
            ids, fingerprint = dm.cache_inputs(role)
            assert fingerprint == data.fingerprint(dm.split_names[role])
            assert [x.tolist() for x in ids] == [x.tolist() for x in dm.split(role).ids]
    dm = DistillDataModule(data, tiny_teacher.tokenizer, batch_size=3, seed=2)
    cache = cached(dm, tiny_teacher, tmp_path)
    dm.teacher_caches, dm.teacher_layers = {"train": cache}, LAYERS
    split = dm.split("train")
    for batch in dm.train_dataloader():  # the batches the old collator made: padded texts, their cache rows
        indices = batch["index"].tolist()
        input_ids, mask = pad_sequences([split.ids[i] for i in indices], dm.pad_id)
        assert set(batch) == {"input_ids", "attention_mask", "index", "teacher_hidden", "teacher_layers"}
        assert torch.equal(batch["input_ids"], input_ids) and torch.equal(batch["attention_mask"], mask)
        assert torch.equal(batch["teacher_hidden"], cache.batch(indices, input_ids.shape[1], LAYERS))


def test_a_cache_lacking_pair_texts_is_refused(tiny_teacher, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = corpus("Datei jetzt öffnen")
    single = DistillDataModule(data, tiny_teacher.tokenizer, batch_size=2)
    dm = DistillDataModule(data, tiny_teacher.tokenizer, batch_size=2, paired=True,
                           teacher_caches={"train": cached(single, tiny_teacher, tmp_path)})
    with pytest.raises(ValueError, match=r"holds 10 texts, its paired batches read 11"):
        dm.train_dataloader()


def test_cached_paired_losses_match_the_live_teacher(tiny_teacher, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dm = DistillDataModule(corpus(), tiny_teacher.tokenizer, batch_size=6, paired=True, seed=0)
    dm.teacher_caches = {"train": cached(dm, tiny_teacher, tmp_path)}
    torch.manual_seed(0)
    student = build_student(ArchSpec(2, 32, 2, 64, "gelu"), tiny_teacher.model)
    kwargs: dict[str, Any] = {"teacher_layers": tiny_teacher.num_layers, "teacher_hidden_size": tiny_teacher.hidden_size,
                              "relation_weight": 1.0, "crosslingual_weight": 0.3}
    cached_module = DistillationModule(student, None, **kwargs)
    live_module = DistillationModule(student, tiny_teacher.model, **kwargs)
    live_module.load_state_dict(cached_module.state_dict())
    dm.teacher_layers = cached_module.layer_map.teacher_layers
    batch = next(iter(dm.train_dataloader()))
    with torch.no_grad():
        from_cache = cached_module.losses(batch)
        live = live_module.losses({k: v for k, v in batch.items() if k not in ("teacher_hidden", "teacher_layers")})
    assert from_cache["crosslingual"].item() > 0
    for name in ("hidden", "relation", "crosslingual", "total"):
        torch.testing.assert_close(from_cache[name], live[name], rtol=1e-3, atol=1e-4)


def test_paired_proxy_needs_pairs(tmp_path: Path) -> None:
    from kdnas.pipelines.search import proxy_datamodule

    cfg = compose_config("search", ["experiment=tiny", "search.proxy_paired=true"], tmp_path)
    with pytest.raises(ConfigError, match=r"search\.proxy_paired=true but corpus 'toy' has no translation pairs"):
        proxy_datamodule(cfg, Corpus("toy", {s: CorpusSplit(["some text"]) for s in SPLITS}), None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# the pipeline: tiny searches, single then paired (twice), recording every training step's losses
class Recorder:
    """Patches the search: the teacher raises on any forward inside a proxy run; every step's losses are kept."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from kdnas.pipelines import search as pipeline

        self.in_proxy = False
        self.teacher_forwards = 0
        self.steps: list[dict[str, Any]] = []
        load, make = pipeline.load_teacher, pipeline.proxy_evaluator

        def forbid(*_: Any) -> None:
            if self.in_proxy:
                self.teacher_forwards += 1
                raise AssertionError("a proxy run ran the teacher")

        def load_teacher(cfg: Any) -> Any:
            teacher = load(cfg)
            teacher.model.register_forward_pre_hook(forbid)
            return teacher

        def proxy_evaluator(*args: Any) -> Any:
            evaluator = make(*args)
            build = evaluator.build_module
            evaluator.build_module = lambda student: self.record(build(student))

            def run(arch: ArchSpec, seed: int = 0) -> Any:
                self.in_proxy = True
                try:
                    return evaluator(arch, seed)
                finally:
                    self.in_proxy = False

            return run

        monkeypatch.setattr(pipeline, "load_teacher", load_teacher)
        monkeypatch.setattr(pipeline, "proxy_evaluator", proxy_evaluator)

    def record(self, module: DistillationModule) -> DistillationModule:
        compute = module.losses  # called by training_step only (validation reads the hidden-state pairs)

        def losses(batch: Any) -> dict[str, torch.Tensor]:
            out = compute(batch)
            self.steps.append({"keys": sorted(batch), "rows": int(batch["input_ids"].shape[0]),
                               "n_pairs": int(batch["n_pairs"]) if "n_pairs" in batch else None,
                               **{k: v.item() for k, v in out.items()}})
            return out

        module.losses = losses  # type: ignore[method-assign]
        return module


def overrides(root: Path, *extra: str) -> list[str]:
    return ["experiment=tiny", "controller=random", "logger=none", "search.episodes=1", "search.shared_store=null",
            "search.paired_latency=false", f"paths.cache_dir={root / 'cache'}", "data.corpus.cache_dir=null",
            # the hidden-state objective: its store key is the one kdnas always wrote (the default cka adds its name)
            "search.proxy_objective=hidden",
            # any latency meets it: tiny models time in noise, and the losses are what these tests compare
            "latency_budget.speedup=null", "latency_budget.max_ms=1000", *extra]


def cache_files(root: Path) -> list[tuple[Path, int]]:
    return sorted((p, p.stat().st_mtime_ns) for p in (root / "cache" / "teacher_outputs").rglob("*"))


@pytest.fixture(scope="module")
def searches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from kdnas.pipelines.search import search

    root = tmp_path_factory.mktemp("proxy_paired")
    runs: dict[str, Any] = {}
    for name, extra in (("single", []), ("paired", ["search.proxy_paired=true"]),
                        ("paired_again", ["search.proxy_paired=true"])):
        with pytest.MonkeyPatch.context() as mp:
            recorder = Recorder(mp)
            summary = search(compose_config("search", overrides(root, *extra), root / name))
        runs[name] = {"summary": summary, "steps": recorder.steps, "dir": root / name, "forwards": recorder.teacher_forwards,
                      "cache": cache_files(root), "cfg": compose_config("search", overrides(root, *extra), root)}
    return runs


@pytest.mark.slow
def test_a_paired_proxy_distils_on_pairs_with_the_crosslingual_loss_and_no_teacher(searches: dict[str, Any]) -> None:
    paired, single = searches["paired"], searches["single"]
    assert paired["summary"]["candidates"] == 2 and paired["summary"]["failed"] == 0
    assert paired["forwards"] == single["forwards"] == 0
    steps = paired["steps"]
    assert len(steps) == 2 * 5  # two candidates, search.proxy_steps=5 (experiment=tiny)
    for step in steps:
        assert "teacher_hidden" in step["keys"] and step["rows"] == 2 * step["n_pairs"]
        assert step["crosslingual"] > 0 and step["total"] > step["hidden"] + step["relation"]
    assert all(s["n_pairs"] is None and "crosslingual" not in s and "teacher_hidden" in s["keys"] for s in single["steps"])
    # the tiny proxy split's texts are its sources and translations: the paired proxy read the single one's cache
    assert paired["cache"] == single["cache"]


@pytest.mark.slow
def test_a_paired_proxy_is_deterministic_and_another_store_setting(searches: dict[str, Any]) -> None:
    from kdnas.pipelines.common import load_corpus
    from kdnas.pipelines.search import pairs_fingerprint

    paired, again, single = searches["paired"], searches["paired_again"], searches["single"]
    assert paired["steps"] == again["steps"]  # every loss of every step, exactly
    # the same candidates with the same losses (which is "best" also weighs latency: equal losses, then timing noise)
    assert candidates(paired["dir"]) == candidates(again["dir"])
    assert paired["summary"]["setting"] == again["summary"]["setting"] != single["summary"]["setting"]
    # the single-text key is the one it always was (existing stores stay valid); the paired one adds its pairs
    cfg = single["cfg"]
    old = old_parts(cfg)
    assert setting_key(old) == single["summary"]["setting"]
    pairs = pairs_fingerprint(load_corpus(cfg), "proxy")
    assert pairs == texts_fingerprint(f"{p.source}\t{p.translation}\t{p.language}" for p in load_corpus(cfg).pairs("proxy"))
    assert setting_key({**old, "proxy_pairs": pairs}) == paired["summary"]["setting"]


def candidates(run_dir: Path) -> list[tuple[str, str]]:
    with open(run_dir / "candidates.csv", newline="") as handle:
        return [(r["arch_id"], r["loss"]) for r in csv.DictReader(handle)]


def old_parts(cfg: Any) -> dict[str, Any]:
    """The store key's parts as ``pipelines.search.setting`` wrote them before ``search.proxy_paired``."""
    from kdnas.pipelines.common import load_corpus, load_teacher

    teacher, data = load_teacher(cfg), load_corpus(cfg)
    profile = hydra.utils.instantiate(cfg.latency_budget).profile
    return {"teacher": teacher.cache_key, "proxy": data.fingerprint("proxy"), "validation": data.fingerprint("validation"),
            "max_length": cfg.data.max_length, "batch_size": cfg.data.batch_size,
            "distill": OmegaConf.to_container(cfg.distill, resolve=True),
            "student": OmegaConf.to_container(cfg.student_init, resolve=True), "steps": cfg.search.proxy_steps,
            "profile": profile.to_dict(), "paired_latency": bool(cfg.search.paired_latency), "seed": cfg.search.seed}

