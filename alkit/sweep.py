"""Run records and sweeps.

A run is a validated config (a JSON-able dict). Its content hash names its directory::

    results/<notebook>/<hash>/
        config.json        the config, exactly
        rounds/            per-round checkpoints while running (see alkit.loop.RoundStore)
        records.parquet    per-round rows, written once the run completes
        provenance.json    git commit, package versions, device, seeds, wall time

A grid runs only what is missing (a complete run is never redone unless ``force``); a killed
run resumes at its last completed round. Executors: ``local`` (in process or a joblib process
pool, one progress bar) and ``ray`` (each run a Ray task, for users who outgrow one machine).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from alkit.io import atomic_write, read_json, stable_hash, write_json
from alkit.loop import RoundStore
from alkit.paths import ROOT, results_dir

EXECUTORS = ("local", "ray")
_PACKAGES = (
    "numpy", "scipy", "pandas", "scikit-learn", "torch", "transformers", "peft",
    "sentence-transformers", "onnxruntime", "faiss-cpu", "papermill",
)  # fmt: skip

RunFn = Callable[[dict, RoundStore], pd.DataFrame]


def run_hash(config: dict) -> str:
    return stable_hash(config)


def run_dir(notebook: str, config: dict) -> Path:
    return results_dir(notebook) / run_hash(config)


def is_complete(directory: Path) -> bool:
    return (Path(directory) / "records.parquet").exists()


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return "unknown"
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions(names: Sequence[str] = _PACKAGES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_info() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count()}
    import sys

    if "torch" in sys.modules:  # never import torch just to describe the device
        torch = sys.modules["torch"]
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = bool(torch.cuda.is_available())
    return info


def provenance(config: dict, seconds: float, extra: dict | None = None) -> dict:
    return {
        "git_commit": git_commit(),
        "packages": package_versions(),
        "device": device_info(),
        "seeds": {k: v for k, v in config.items() if "seed" in k},
        "wall_seconds": round(seconds, 3),
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }


def load_run(directory: Path) -> pd.DataFrame:
    return pd.read_parquet(Path(directory) / "records.parquet")


def execute_run(notebook: str, config: dict, run_fn: RunFn, *, force: bool = False) -> pd.DataFrame:
    """Run one config unless its complete record exists; resume a partial one."""
    directory = run_dir(notebook, config)
    if force and directory.exists():
        shutil.rmtree(directory)
    if is_complete(directory):
        return load_run(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "config.json").exists() and read_json(directory / "config.json") != config:
        raise RuntimeError(f"hash collision or edited config in {directory}")
    write_json(directory / "config.json", config)
    store = RoundStore(directory)
    records = run_fn(config, store)
    # Summed from the round checkpoints, so a resumed run counts the earlier processes' rounds too.
    seconds = sum(c["state"]["seconds"] for c in store.completed())
    extra = getattr(records, "attrs", {}).get("provenance", {})
    write_json(directory / "provenance.json", provenance(config, seconds, extra))
    atomic_write(directory / "records.parquet", lambda p: records.to_parquet(p, index=False))
    return records


def _with_config(records: pd.DataFrame, config: dict) -> pd.DataFrame:
    records = records.copy()
    for key, value in config.items():
        if isinstance(value, (str, int, float, bool)) and key not in records.columns:
            records[key] = value
    records["run"] = run_hash(config)
    return records


def run_grid(
    notebook: str,
    configs: Sequence[dict],
    run_fn: RunFn,
    *,
    executor: str = "local",
    n_jobs: int = 1,
    force: bool = False,
    progress: bool = True,
    desc: str | None = None,
) -> pd.DataFrame:
    """Run every config that has no complete record; return all records, config columns added.

    Scalar config values become columns of the returned frame (``dataset``, ``strategy``,
    ``seed``, ...); ``run`` holds the run hash.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose from {list(EXECUTORS)}")
    hashes = [run_hash(c) for c in configs]
    if len(set(hashes)) != len(hashes):
        raise ValueError("the grid contains duplicate configs")
    todo = [c for c in configs if force or not is_complete(run_dir(notebook, c))]
    if executor == "ray":
        _run_ray(notebook, todo, run_fn, force)
    else:
        _run_local(notebook, todo, run_fn, n_jobs, force, progress, desc or notebook, len(configs))
    return pd.concat([_with_config(load_run(run_dir(notebook, c)), c) for c in configs], ignore_index=True)


def _run_local(notebook, todo, run_fn, n_jobs, force, progress, desc, total) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=total - len(todo), desc=desc, disable=not progress, unit="run")
    if n_jobs == 1 or len(todo) <= 1:
        for config in todo:
            execute_run(notebook, config, run_fn, force=force)
            bar.update(1)
    else:
        from joblib import Parallel, delayed

        jobs = (delayed(execute_run)(notebook, c, run_fn, force=force) for c in todo)
        for _ in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs):
            bar.update(1)
    bar.close()


def _run_ray(notebook, todo, run_fn, force) -> None:
    try:
        import ray
    except ImportError as err:  # the path exists; ray is an optional dependency
        raise ImportError("executor='ray' needs Ray: pip install 'ray[default]'") from err
    if not ray.is_initialized():
        ray.init()
    task = ray.remote(execute_run)
    ray.get([task.remote(notebook, c, run_fn, force=force) for c in todo])
