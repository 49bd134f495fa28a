"""Schemas derived from the library's own signatures, so each setting's type and default exist once.

:func:`schema_for` turns a class or function into a dataclass that Hydra's ConfigStore accepts: one field per
parameter, with its type mapped to what OmegaConf supports (``X | None`` stays optional, other unions and
unsupported types become ``Any``, a nested dataclass becomes a nested schema with its own ``_target_``) and
its default (``MISSING`` where the library has none), plus ``_target_`` (and ``_partial_``). A dataclass field
with ``metadata={"config": False}`` is no setting (the library's code fills it) and gets no schema field.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Union

from omegaconf import MISSING

_PRIMITIVES = (int, float, str, bool)


def _config_type(hint: Any) -> Any:
    """The closest type OmegaConf's structured configs support."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _PRIMITIVES or hint is Any:
        return hint
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(rest) < len(args):
            return typing.Optional[_config_type(rest[0])]  # noqa: UP045 - OmegaConf reads typing.Optional
        return Any
    if origin is Literal:
        return type(args[0]) if args and all(type(a) is type(args[0]) for a in args) else Any
    homogeneous_tuple = origin is tuple and args and (args[-1] is Ellipsis or len(set(args)) == 1)
    if (origin in (list, Sequence) and args) or homogeneous_tuple:
        return list[_config_type(args[0])]  # type: ignore[misc]
    if origin in (dict, Mapping) and len(args) == 2:
        return dict[_config_type(args[0]), _config_type(args[1])]  # type: ignore[misc]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return schema_for(hint)
    return Any


def _default(value: Any, kind: Any) -> Any:
    """A ``dataclasses.field`` with the library's default (a fresh copy of a mutable one)."""
    if value is inspect.Parameter.empty or value is dataclasses.MISSING:
        return dataclasses.field(default=MISSING)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return dataclasses.field(default_factory=kind)  # the nested schema's own defaults
    if isinstance(value, list | dict | tuple):
        frozen = list(value) if isinstance(value, tuple) else value
        return dataclasses.field(default_factory=lambda: type(frozen)(frozen))
    return dataclasses.field(default=value)


def _parameters(target: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """``(name, type hint, default)`` of every parameter of a function, a class's ``__init__`` or a dataclass."""
    if isinstance(target, type) and dataclasses.is_dataclass(target):
        hints = typing.get_type_hints(target)
        out = []
        for f in dataclasses.fields(target):
            if not f.init or f.metadata.get("config") is False:  # e.g. LatencyProfile.inputs: set by code
                continue
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            out.append((f.name, hints[f.name], default))
        return out
    function = target.__init__ if isinstance(target, type) else target  # type: ignore[misc]
    hints = typing.get_type_hints(function)
    params = inspect.signature(function).parameters.values()
    return [(p.name, hints.get(p.name, Any), p.default) for p in params
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def schema_for(
    target: Callable[..., Any],
    exclude: Iterable[str] = (),
    partial: bool = False,
    overrides: Mapping[str, tuple[Any, Any]] | None = None,
) -> type:
    """A structured-config dataclass for ``target`` (see the module docstring).

    Args:
        target: the class or function the config group instantiates.
        exclude: parameters the pipeline supplies itself (not settings).
        partial: add ``_partial_: true`` (the pipeline completes the call).
        overrides: ``name -> (type, default)`` where the config differs from the signature.
    """
    path = f"{target.__module__}.{target.__qualname__}"
    fields: list[tuple[str, Any, Any]] = [("_target_", str, dataclasses.field(default=path))]
    if partial:
        fields.append(("_partial_", bool, dataclasses.field(default=True)))
    skip, changed = set(exclude), dict(overrides or {})
    for name, hint, default in _parameters(target):
        if name in skip:
            continue
        if name in changed:
            hint, default = changed.pop(name)
        kind = _config_type(hint)
        fields.append((name, kind, _default(default, kind)))
    if changed:
        raise TypeError(f"schema_for({path}): no parameter(s) {', '.join(changed)} to override")
    return dataclasses.make_dataclass(f"{target.__qualname__.replace('.', '_')}Config", fields)
