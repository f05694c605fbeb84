"""Test-wide settings: never the network, never the committed figures or the user's results."""

from __future__ import annotations

import os

# Set before any test module imports huggingface_hub / transformers.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory, monkeypatch):
    """Figures and results go to a temporary folder; the model/embedding cache is shared."""
    out = tmp_path_factory.mktemp("alkit_out")
    monkeypatch.setenv("ALKIT_FIGURES", str(out / "figures"))
    monkeypatch.setenv("ALKIT_RESULTS", str(out / "results"))
    yield
