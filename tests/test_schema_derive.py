"""pipelines.schemas.derive: schemas built from the library's signatures keep their types and defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from kdnas.latency.profile import LatencyProfile
from kdnas.nas.budget import LatencyBudget
from kdnas.pipelines.schemas.derive import schema_for


@dataclasses.dataclass
class Inner:
    mode: Literal["a", "b"] = "a"


def target(required: int, ratio: float | None = 0.5, names: Sequence[str] = ("x",), pick: int | str = 3,
           inner: Inner = Inner(), flag: bool = False) -> None:  # noqa: B008 - a frozen default, read only
    """A function with every kind of parameter the converter maps."""


def test_types_defaults_and_target() -> None:
    schema = schema_for(target, exclude=("flag",), partial=True)
    node = OmegaConf.structured(schema)
    assert node._target_ == f"{__name__}.target" and node._partial_ is True
    assert OmegaConf.is_missing(node, "required") and "flag" not in node
    assert node.ratio == 0.5 and list(node.names) == ["x"] and node.pick == 3
    assert node.inner._target_ == f"{__name__}.Inner" and node.inner.mode == "a"
    node.ratio = None  # X | None stays optional
    node.pick = "any"  # other unions accept anything
    with pytest.raises(ValidationError):
        node.required = "many"
    with pytest.raises(ValidationError):
        node.ratio = "half"


def test_budget_schema_matches_the_library_defaults() -> None:
    node = OmegaConf.structured(schema_for(LatencyBudget))
    budget, profile = LatencyBudget(), LatencyProfile()
    for f in dataclasses.fields(LatencyBudget):
        if f.name != "profile":
            assert node[f.name] == getattr(budget, f.name), f.name
    assert {k: v for k, v in node.profile.items() if k != "_target_"} == profile.to_dict()


def test_overrides_must_name_a_parameter() -> None:
    assert OmegaConf.structured(schema_for(target, overrides={"required": (int, 7)})).required == 7
    with pytest.raises(TypeError, match="no parameter"):
        schema_for(target, overrides={"nope": (int, 1)})
