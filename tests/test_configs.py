"""Every value of every config group composes, and instantiates where this machine allows it."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from tests.conftest import ROOT, compose_config, distinct_words


def values(group: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


def test_every_group_is_covered_here() -> None:
    groups = {p.name for p in (ROOT / "conf").iterdir() if p.is_dir()}
    assert groups == {
        "paths", "teacher", "data", "arch", "student_init", "distill", "trainer", "logger", "callbacks", "hydra",
        "experiment", "search_space", "search", "controller", "latency_budget", "eval", "bundle",
    }


@pytest.mark.parametrize("name", ["train", "search"])
def test_primary_configs_compose_with_defaults_and_tiny(name: str, tmp_path: Path) -> None:
    for overrides in ([], ["experiment=tiny"]):
        cfg = compose_config(name, overrides, tmp_path)
        assert cfg.paths.output_dir == str(tmp_path)
        OmegaConf.to_container(cfg.data, resolve=True)


@pytest.mark.parametrize("value", values("teacher"))
def test_teacher(value: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"teacher={value}"], tmp_path)
    if value == "xlmr_base":  # the hub is unreachable here: a clear error, not a traceback
        with pytest.raises(Exception) as info:
            hydra.utils.instantiate(cfg.teacher)
        from kdnas.pipelines.common import user_error

        assert "teacher.name_or_path" in str(user_error(info.value))
        return
    teacher = hydra.utils.instantiate(cfg.teacher)
    assert not teacher.model.training and not any(p.requires_grad for p in teacher.model.parameters())
    ids = teacher.tokenizer(["Hello world, a short sentence."], return_tensors="pt")
    with torch.no_grad():
        out = teacher.model(**ids, output_hidden_states=True)
    assert len(out.hidden_states) == teacher.num_layers + 1


@pytest.mark.parametrize("value", values("data"))
def test_data(value: str, tiny_teacher, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    small = "{train: 50, proxy: 20, validation: 20, dev: 20, test: 20}"
    overrides = [f"data={value}", f"data.corpus.max_texts={small}"]
    if value == "text_files":
        text = tmp_path / "corpus.txt"
        text.write_text("\n".join(f"sentence {distinct_words(i)} of a small corpus" for i in range(400)))
        overrides.append(f"data.corpus.paths=[{text}]")
    if value == "hf_dataset":
        data = tmp_path / "corpus.jsonl"
        data.write_text("\n".join(f'{{"text": "line {distinct_words(i)} of a json dataset"}}' for i in range(400)))
        overrides += ["data.corpus.path=json", f"+data.corpus.data_files={data}", "data.corpus.streaming=false"]
    cfg = compose_config("train", overrides, tmp_path)
    corpus = hydra.utils.instantiate(cfg.data.corpus, _convert_="all")
    assert all(0 < n <= 50 for n in corpus.sizes().values())
    from kdnas.pipelines.common import make_datamodule

    dm = make_datamodule(cfg, corpus, tiny_teacher, train_split="proxy")
    assert dm.corpus is corpus and dm.batch_size == cfg.data.batch_size and dm.max_length == cfg.data.max_length
    assert dm.split_names["train"] == "proxy" and len(dm.split("train")) == corpus.sizes()["proxy"]


@pytest.mark.parametrize("value", values("arch"))
def test_arch(value: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"arch={value}"], tmp_path)
    ArchSpec.from_dict(OmegaConf.to_container(cfg.arch))  # type: ignore[arg-type]


@pytest.mark.parametrize("student", values("student_init"))
@pytest.mark.parametrize("distill", values("distill"))
def test_student_and_distill(student: str, distill: str, tiny_teacher, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = compose_config("train", [f"student_init={student}", f"distill={distill}", "arch=tiny"], tmp_path)
    model = hydra.utils.instantiate(cfg.student_init)(ArchSpec.from_dict(OmegaConf.to_container(cfg.arch)), tiny_teacher.model)  # type: ignore[arg-type]
    module = hydra.utils.instantiate(cfg.distill)(student=model, teacher=tiny_teacher.model, teacher_layers=4, teacher_hidden_size=64)
    batch = {"input_ids": torch.randint(5, 1000, (2, 8)), "attention_mask": torch.ones(2, 8, dtype=torch.long),
             "n_pairs": torch.tensor(1)}  # one (source, translation) pair
    losses = module.losses(batch)
    assert torch.isfinite(losses["total"])
    # paper: the hidden-state loss alone; default: plus the sentence-relation and cross-lingual losses
    assert set(losses) == ({"hidden", "total"} if distill == "paper" else {"hidden", "relation", "crosslingual", "total"})


@pytest.mark.parametrize("value", values("trainer"))
def test_trainer(value: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"trainer={value}"], tmp_path)
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        return  # composes; needs a GPU to instantiate
    trainer = hydra.utils.instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert trainer.max_steps == cfg.trainer.max_steps


@pytest.mark.parametrize("value", values("logger"))
def test_logger(value: str, tmp_path: Path) -> None:
    from kdnas.pipelines.common import build_loggers

    cfg = compose_config("train", [f"logger={value}"], tmp_path)
    loggers = build_loggers(cfg)
    expected = {"default": 2, "wandb": 1, "csv": 1, "none": 0}[value]
    assert len(loggers) == expected


def test_callbacks_and_paths_and_hydra(tmp_path: Path) -> None:
    from kdnas.pipelines.common import build_callbacks

    cfg = compose_config("train", ["callbacks=default", "paths=default", "hydra=default"], tmp_path)
    names = {type(c).__name__ for c in build_callbacks(cfg)}
    assert {"ModelCheckpoint", "LearningRateMonitor"} <= names
    assert names & {"RichProgressBar", "PlainProgress"}  # rich in a terminal, plain lines otherwise (pytest)


@pytest.mark.parametrize("value", values("search_space"))
def test_search_space(value: str, tmp_path: Path) -> None:
    cfg = compose_config("search", [f"search_space={value}"], tmp_path)
    space = hydra.utils.instantiate(cfg.search_space, _convert_="all")
    space.validate()
    assert space.size >= (100 if value != "tiny" else 4)


@pytest.mark.parametrize("value", values("controller"))
def test_controller(value: str, tmp_path: Path) -> None:

    cfg = compose_config("search", [f"controller={value}", "search_space=tiny"], tmp_path)
    space = hydra.utils.instantiate(cfg.search_space, _convert_="all")
    controller = hydra.utils.instantiate(cfg.controller)(space=space)
    proposals = controller.ask(3)
    assert len({p.arch.arch_id for p in proposals}) == 3 and all(p.arch in space for p in proposals)


@pytest.mark.parametrize("value", values("latency_budget"))
def test_latency_budget(value: str, tmp_path: Path) -> None:
    cfg = compose_config("search", [f"latency_budget={value}"], tmp_path)
    if cfg.latency_budget.profile.device == "cuda" and not torch.cuda.is_available():
        with pytest.raises(Exception) as info:
            hydra.utils.instantiate(cfg.latency_budget, _convert_="all")
        from kdnas.pipelines.common import user_error

        assert "cuda" in str(user_error(info.value)).lower()
        return
    budget = hydra.utils.instantiate(cfg.latency_budget, _convert_="all")
    assert budget.target_ms(70.0) == pytest.approx(70.0 / budget.speedup)
    from kdnas.latency.profile import LatencyProfile

    assert isinstance(budget.profile, LatencyProfile) and budget.profile.seq_len == cfg.latency_budget.profile.seq_len


def test_budget_speedup_override_and_max_ms(tmp_path: Path) -> None:
    cfg = compose_config("search", ["latency_budget=cpu_5x", "latency_budget.speedup=4"], tmp_path)
    assert hydra.utils.instantiate(cfg.latency_budget, _convert_="all").target_ms(80.0) == pytest.approx(20.0)
    cfg = compose_config("search", ["latency_budget.speedup=null", "latency_budget.max_ms=12"], tmp_path)
    assert hydra.utils.instantiate(cfg.latency_budget, _convert_="all").target_ms(80.0) == pytest.approx(12.0)
    cfg = compose_config("search", ["latency_budget.max_ms=12"], tmp_path)
    with pytest.raises(Exception, match="exactly one of speedup or max_ms"):
        hydra.utils.instantiate(cfg.latency_budget, _convert_="all")


def test_experiment_tiny_values(tmp_path: Path) -> None:
    cfg = compose_config("train", ["experiment=tiny"], tmp_path)
    assert cfg.teacher._target_.endswith("load_tiny_random_teacher") and cfg.trainer.max_steps <= 20
    with pytest.raises(ConfigError):
        ArchSpec.from_dict({**OmegaConf.to_container(cfg.arch), "hidden_size": 33})  # type: ignore[dict-item]


@pytest.mark.parametrize(("value", "target"), [("local_parallel", "JoblibLauncher"), ("slurm", "SlurmLauncher")])
def test_launcher_presets(value: str, target: str) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("search", overrides=[f"hydra/launcher={value}"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert cfg.hydra.launcher._target_.endswith(target)
    assert cfg.hydra.callbacks.sweep_summary._target_.endswith("SweepSummaryCallback")


@pytest.mark.parametrize("value", values("eval"))
def test_eval_suite(value: str, tmp_path: Path) -> None:
    cfg = compose_config("evaluate", [f"eval={value}", "student=unused"], tmp_path)
    suite = hydra.utils.instantiate(cfg.eval, _convert_="all")
    from kdnas.evaluate.suite import TASKS

    assert suite.tasks and set(suite.tasks) <= set(TASKS) and "ood_retrieval" in suite.tasks
    assert len(compose_config("train", [f"eval={value}"], tmp_path).eval.tasks) == len(suite.tasks)


@pytest.mark.parametrize("value", values("search"))
def test_search_settings(value: str, tmp_path: Path) -> None:
    from kdnas.pipelines.schemas.search import check_search_settings

    cfg = compose_config("search", [f"search={value}", "seed=5"], tmp_path)
    assert cfg.search.seed == 5 and isinstance(cfg.search.episodes, int)
    check_search_settings(cfg.search)


@pytest.mark.parametrize(("override", "key"), [("search.retime_cv=0", "search.retime_cv"),
                                               ("search.retimes=-1", "search.retimes"),
                                               ("search.lease_seconds=0", "search.lease_seconds"),
                                               ("search.size_seeds=-1", "search.size_seeds")])
def test_search_settings_out_of_range_name_their_key(override: str, key: str, tmp_path: Path) -> None:
    from kdnas.pipelines.schemas.search import check_search_settings

    with pytest.raises(ConfigError, match=rf"^{key}="):
        check_search_settings(compose_config("search", [override], tmp_path).search)
    check_search_settings(compose_config("search", ["search.retime_cv=null"], tmp_path).search)


@pytest.mark.parametrize(
    "override",
    ["search.episodez=3", "search.episodes=many", "latency_budget.profile.thread=2", "latency_budget.margin=lots",
     "controller.lrr=0.1", "search.paired_latency=maybe"],
)
def test_schemas_reject_misspelled_keys_and_wrong_types(override: str, tmp_path: Path) -> None:
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose_config("search", [override], tmp_path)
