"""Every notebook in notebooks/ runs top to bottom in its smoke setting (MRCNN_SMOKE=1).

The kernel is "python3" as provided by ipykernel installed in this same environment; a
cell appended to each notebook checks that it really ran this interpreter's environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import HANG_GUARD_S

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = HANG_GUARD_S
WHICH_PYTHON = "import json, sys; print(json.dumps([sys.executable, sys.prefix]))"


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_setting(path, monkeypatch, tmp_path):
    monkeypatch.setenv("MRCNN_SMOKE", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the smoke run's logs and figures go here
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(WHICH_PYTHON))
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError naming the failing cell

    streams = [o for o in notebook.cells[-1].outputs if o.get("name") == "stdout"]
    executable, prefix = json.loads("".join(o["text"] for o in streams))
    assert prefix == sys.prefix, f"kernel ran {executable}, not this environment's python"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_valid_with_a_smoke_switch(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    sources = "\n".join(cell.source for cell in notebook.cells)
    assert 'SMOKE = os.environ.get("MRCNN_SMOKE", "0") == "1"' in sources
