"""The ``eval`` group's structured-config schema and ``evaluate.py``'s ``student`` key, composed as Hydra does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import hydra
import pytest
import yaml
from hydra.errors import ConfigCompositionException

from kdnas.evaluate.suite import EvalSuite
from kdnas.pipelines.schemas.evaluation import EvalSuiteConfig
from tests.conftest import ROOT, compose_config

EVAL_FILES = sorted((ROOT / "conf" / "eval").glob("*.yaml"))


def test_the_schema_has_every_field_of_the_suite_with_its_default() -> None:
    schema = {f.name: f for f in dataclasses.fields(EvalSuiteConfig) if f.name != "_target_"}
    suite = {f.name: f for f in dataclasses.fields(EvalSuite)}
    assert list(schema) == list(suite)
    defaults = EvalSuiteConfig()
    assert {k: getattr(defaults, k) for k in schema} == dataclasses.asdict(EvalSuite())
    assert EvalSuiteConfig._target_ == f"{EvalSuite.__module__}.{EvalSuite.__qualname__}"


@pytest.mark.parametrize("path", EVAL_FILES, ids=lambda p: p.stem)
def test_every_eval_config_starts_from_the_schema(path: Path) -> None:
    defaults = yaml.safe_load(path.read_text())["defaults"]
    assert defaults[0] == "schema" and defaults[-1] == "_self_"


@pytest.mark.parametrize("path", EVAL_FILES, ids=lambda p: p.stem)
def test_every_eval_config_instantiates_a_suite(path: Path, tmp_path: Path) -> None:
    cfg = compose_config("evaluate", [f"eval={path.stem}", "student=unused"], tmp_path)
    suite = hydra.utils.instantiate(cfg.eval, _convert_="all")  # type: ignore[attr-defined]
    assert isinstance(suite, EvalSuite) and suite.seed == cfg.seed  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("eval.n_candidatez=5", "n_candidatez"),  # a misspelled key
        ("eval.n_candidates=many", "eval.n_candidates"),  # a wrong type
        ("eval.tasks=retrieval", "eval.tasks"),  # a string for a list
    ],
)
def test_a_bad_eval_key_fails_at_composition(override: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigCompositionException) as info:
        compose_config("evaluate", ["student=unused", override], tmp_path)
    assert message in f"{info.value} {info.value.__cause__}"


def test_a_misspelled_key_in_a_user_eval_file_fails_at_composition(tmp_path: Path) -> None:
    extra = tmp_path / "conf" / "eval"
    extra.mkdir(parents=True)
    (extra / "mine.yaml").write_text("defaults:\n  - schema\n  - default\n  - _self_\n\nn_candidatez: 5\n")
    searchpath = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    with pytest.raises(ConfigCompositionException) as info:
        compose_config("evaluate", ["student=unused", "eval=mine", searchpath], tmp_path)
    assert "Key 'n_candidatez' not in 'EvalSuiteConfig'" in f"{info.value} {info.value.__cause__}"


def test_student_is_a_plain_key_of_evaluate(tmp_path: Path) -> None:
    # no config group is named `student` (train's initialisations are `student_init`): student=DIR is a value
    assert not (ROOT / "conf" / "student").exists()
    cfg = compose_config("evaluate", ["student=/some/path", "experiment=tiny"], tmp_path)
    assert cfg.student == "/some/path"  # type: ignore[attr-defined]
    assert "student_dir" not in cfg  # type: ignore[operator]
