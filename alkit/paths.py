"""Every path alkit reads or writes is built here.

- ``ROOT``: the project checkout (the folder holding ``alkit/``).
- ``results_dir(notebook)``: run records, ``results/<notebook>/<hash>/`` (not committed).
- ``figures_dir(notebook)``: ``figures/<notebook>/`` (committed outputs).
- ``cache_dir(kind)``: content-addressed caches under ``$ALKIT_CACHE`` (default
  ``~/.cache/alkit``), shared by every checkout on the machine.
- ``data_roots()``: where ``alkit.data`` looks for dataset files, in order.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def cache_root() -> Path:
    return _env_path("ALKIT_CACHE") or Path.home() / ".cache" / "alkit"


def cache_dir(kind: str) -> Path:
    """Directory for one cache kind (``models``, ``embeddings``, ``lm_scores``, ...), created."""
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_root() -> Path:
    return _env_path("ALKIT_RESULTS") or ROOT / "results"


def results_dir(notebook: str) -> Path:
    return results_root() / notebook


def figures_root() -> Path:
    return _env_path("ALKIT_FIGURES") or ROOT / "figures"


def figures_dir(notebook: str) -> Path:
    path = figures_root() / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path


def params_dir(notebook: str) -> Path:
    return ROOT / "params" / notebook


def data_roots() -> list[Path]:
    """Dataset search path: ``$ALKIT_DATA_DIR``, ``./data``, then ``../shared/data``."""
    roots = [_env_path("ALKIT_DATA_DIR"), Path.cwd() / "data", ROOT / "data", ROOT.parent / "shared" / "data"]
    seen: list[Path] = []
    for root in roots:
        if root is not None and root not in seen:
            seen.append(root)
    return seen
