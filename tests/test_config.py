"""Strict params validation: every committed params file is valid; bad ones fail with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alkit.config import ConfigError, config_class, validate, validate_file
from alkit.paths import ROOT

PARAM_FILES = sorted((ROOT / "params").glob("*/*.yaml"))


@pytest.mark.parametrize("path", PARAM_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_params_are_valid(path):
    validate_file(path)


def _params(notebook: str = "mteb_sweep", profile: str = "smoke") -> dict:
    return yaml.safe_load((ROOT / "params" / notebook / f"{profile}.yaml").read_text())


def test_unknown_key_is_named_with_valid_keys():
    params = _params() | {"n_roundz": 3}
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['n_roundz'\].*valid keys.*n_rounds"):
        validate(config_class("mteb_sweep"), params)


def test_missing_key():
    params = _params()
    del params["seeds"]
    with pytest.raises(ConfigError, match=r"missing key\(s\) \['seeds'\]"):
        validate(config_class("mteb_sweep"), params)


@pytest.mark.parametrize(
    "key,value,expected",
    [("n_rounds", "3", "expected int"), ("n_rounds", 2.5, "expected int"), ("n_jobs", True, "expected int"),
     ("seeds", [0, "1"], "expected"), ("head_C", "big", "expected float")],
)  # fmt: skip
def test_wrong_type(key, value, expected):
    with pytest.raises(ConfigError, match=rf"key '{key}'.*{expected}"):
        validate(config_class("mteb_sweep"), _params() | {key: value})


@pytest.mark.parametrize(
    "key,value,valid",
    [("datasets", ["sst2", "imbd"], "sst2"), ("strategies", ["random", "badgee"], "badge"),
     ("embedders", ["glove-6b-50d", "bert"], "all-mpnet-base-v2"), ("init_strategies", ["kmeans"], "typiclust")],
)  # fmt: skip
def test_unknown_name_lists_choices(key, value, valid):
    with pytest.raises(ConfigError, match=rf"{key}: unknown value .*valid choices.*{valid}"):
        validate(config_class("mteb_sweep"), _params() | {key: value})


def test_budget_larger_than_pool():
    with pytest.raises(ConfigError, match="exceeds n_pool"):
        validate(config_class("mteb_sweep"), _params() | {"n_pool": 20})


def test_unknown_notebook_and_profile(tmp_path):
    with pytest.raises(ConfigError, match="unknown notebook 'nope'.*mteb_sweep"):
        config_class("nope")
    bad = tmp_path / "mteb_sweep" / "laptop.yaml"
    bad.parent.mkdir()
    bad.write_text("{}")
    with pytest.raises(ConfigError, match="profile 'laptop' unknown"):
        validate_file(bad)


def test_every_notebook_has_every_profile():
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        for profile in ("smoke", "cpu", "paper"):
            assert (ROOT / "params" / notebook.stem / f"{profile}.yaml").exists(), (notebook.stem, profile)


def test_cli_validate_exit_codes(tmp_path, capsys):
    from alkit.cli import main

    assert main(["validate", str(ROOT / "params" / "mteb_sweep" / "smoke.yaml")]) == 0
    bad = tmp_path / "mteb_sweep" / "smoke.yaml"
    bad.parent.mkdir()
    bad.write_text(yaml.safe_dump(_params() | {"strategies": ["random", "nope"]}))
    assert main(["validate", str(bad)]) == 1
    assert "nope" in capsys.readouterr().err


@pytest.mark.parametrize("what", ["datasets", "models", "strategies", "notebooks"])
def test_cli_list(what, capsys):
    from alkit.cli import main

    assert main(["list", what]) == 0
    out = capsys.readouterr().out
    assert {"datasets": "banking77", "models": "all-mpnet-base-v2", "strategies": "typiclust",
            "notebooks": "mteb_sweep"}[what] in out  # fmt: skip


def test_params_files_are_complete_and_commented():
    for path in PARAM_FILES:
        assert Path(path).read_text().lstrip().startswith("#"), f"{path} should open with a comment"
