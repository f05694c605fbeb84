"""Strict validation of notebook parameters.

Each notebook has one typed, frozen config dataclass (registered in ``NOTEBOOK_CONFIGS``). A
params file must give every field (no hidden defaults that differ between profiles); an
unknown key, a missing key, a wrong type or an unknown dataset/model/strategy name fails
before any compute, naming the key and the valid choices.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

# notebook name -> "module:ConfigClass" (imported lazily: validation must not load torch)
NOTEBOOK_CONFIGS: dict[str, str] = {
    "mteb_sweep": "alkit.nfl:SweepConfig",
    "star": "alkit.star_experiment:StarConfig",
}
PROFILES = ("smoke", "cpu", "paper")


class ConfigError(ValueError):
    """A params value is unknown, missing, mistyped or names something that does not exist."""


def config_class(notebook: str) -> type:
    if notebook not in NOTEBOOK_CONFIGS:
        raise ConfigError(f"unknown notebook {notebook!r}; choose from {sorted(NOTEBOOK_CONFIGS)}")
    module, name = NOTEBOOK_CONFIGS[notebook].split(":")
    return getattr(importlib.import_module(module), name)


def check_choice(key: str, value: Any, choices: Iterable[str]) -> None:
    choices = sorted(choices)
    if value not in choices:
        raise ConfigError(f"{key}: unknown value {value!r}; valid choices: {choices}")


def check_choices(key: str, values: Iterable[Any], choices: Iterable[str]) -> None:
    values = list(values)
    if not values:
        raise ConfigError(f"{key}: must not be empty")
    for value in values:
        check_choice(key, value, choices)
    if len(set(values)) != len(values):
        raise ConfigError(f"{key}: duplicate entries in {values}")


def check_range(key: str, value: float, lo: float | None = None, hi: float | None = None) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{key}: {value!r} outside [{lo}, {hi}]")


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in args)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and all(_type_ok(v, args[0]) for v in value) if args else True
    if origin is dict:
        return isinstance(value, dict) and all(
            _type_ok(k, args[0]) and _type_ok(v, args[1]) for k, v in value.items()
        )
    return isinstance(value, annotation) if isinstance(annotation, type) else True


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def validate(cls: type, params: dict, *, source: str = "params") -> Any:
    """Build ``cls(**params)`` after checking keys and types strictly."""
    if not isinstance(params, dict):
        raise ConfigError(f"{source}: expected a mapping of parameters, got {type(params).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; valid keys: {sorted(fields)}")
    missing = sorted(set(fields) - set(params))
    if missing:
        raise ConfigError(f"{source}: missing key(s) {missing} (params files are complete: no hidden defaults)")
    for name, value in params.items():
        if not _type_ok(value, hints[name]):
            raise ConfigError(
                f"{source}: key {name!r} has {type(value).__name__} value {value!r}; expected {_type_name(hints[name])}"
            )
    coerced = {k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items()}
    coerced = {k: (float(v) if hints[k] is float else v) for k, v in coerced.items()}
    try:
        return cls(**coerced)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def from_namespace(cls: type, namespace: dict, *, source: str = "notebook parameters") -> Any:
    """Validate the notebook's parameter variables (the fields of ``cls``) taken from ``namespace``.

    A notebook calls ``cfg = from_namespace(SweepConfig, globals())`` after its parameters cell.
    """
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    missing = [n for n in names if n not in namespace]
    if missing:
        raise ConfigError(f"{source}: missing parameter(s) {missing}")
    return validate(cls, {n: namespace[n] for n in names}, source=source)


def load_params(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"params file not found: {path}")
    with open(path, encoding="utf-8") as fh:
        params = yaml.safe_load(fh)
    return params or {}


def notebook_of(path: str | Path) -> str:
    """``params/<notebook>/<profile>.yaml`` -> ``<notebook>``."""
    path = Path(path)
    return path.parent.name


def validate_file(path: str | Path) -> Any:
    path = Path(path)
    notebook = notebook_of(path)
    if path.stem not in PROFILES:
        raise ConfigError(f"{path}: profile {path.stem!r} unknown; valid profiles: {list(PROFILES)}")
    return validate(config_class(notebook), load_params(path), source=str(path))


def config_dict(cfg: Any) -> dict:
    """A config as a JSON-able dict (tuples become lists)."""
    out = dataclasses.asdict(cfg)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}
