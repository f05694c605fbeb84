"""Every notebook runs headlessly with its smoke params and writes every figure and table it promises."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from alkit.paths import ROOT

NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))

EXPECTED = {
    "mteb_sweep": {
        "figures": ["learning_curves", "strategy_ranks", "quality_vs_gain", "initial_pools"],
        "tables": ["auc_table", "quality", "win_rates"],
    },
    "star": {
        "figures": ["fig1_al_vs_passive", "fig2_confidence_density", "fig3_entropy_correlation",
                    "fig5_learning_curves"],
        "tables": ["table1_main", "table2_ablation"],
    },
}  # fmt: skip


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_no_outputs(name):
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, name
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters'"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_smoke(name, tmp_path):
    import papermill

    assert name in EXPECTED, f"add {name}'s outputs to EXPECTED"
    out = tmp_path / f"{name}.ipynb"
    params = yaml.safe_load((ROOT / "params" / name / "smoke.yaml").read_text())
    # The kernel inherits this process's environment: ALKIT_FIGURES/ALKIT_RESULTS point at tmp dirs.
    papermill.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=params,
                               kernel_name="python3", progress_bar=False, cwd=str(ROOT / "notebooks"))
    figures = os.environ["ALKIT_FIGURES"]
    for fig in EXPECTED[name]["figures"]:
        for ext in ("pdf", "png"):
            path = os.path.join(figures, name, f"{fig}.{ext}")
            assert os.path.getsize(path) > 1000, path
    for table in EXPECTED[name]["tables"]:
        for ext in ("csv", "md"):
            assert os.path.getsize(os.path.join(figures, name, f"{table}.{ext}")) > 10
    manifest = json.loads(open(os.path.join(figures, name, "manifest.json")).read())
    assert set(EXPECTED[name]["figures"]) | set(EXPECTED[name]["tables"]) <= set(manifest)
