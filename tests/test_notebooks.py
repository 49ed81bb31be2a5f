"""Every notebook in notebooks/ runs top to bottom in its smoke setting (MRCNN_SMOKE=1),
and its committed outputs are clean.

The kernel is "python3" as provided by ipykernel installed in this same environment; a
cell appended to each notebook checks that it really ran this interpreter's environment.
The saved outputs (notebooks/run_all.py cleans them) are read from the files: no
TensorFlow start-up lines, no path of the machine that ran them, no progress-bar redraws,
and a short "What you will see" cell first.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import HANG_GUARD_S

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = HANG_GUARD_S
WHICH_PYTHON = "import json, sys; print(json.dumps([sys.executable, sys.prefix]))"
# What TensorFlow's native runtime prints at start-up: glog lines ("E0000 00:00:17953..
# cuda_platform.cc:52] failed call to cuInit ..."), the absl banner, the CPU-feature notice.
STARTUP_NOISE = re.compile(r"cuInit|cudart_stub|absl::InitializeLog|To enable the following "
                           r"instructions|^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ ", re.MULTILINE)
# An absolute path of the machine that ran the notebook (not "../logs", "$TMPDIR/..." or
# a URL's path).
MACHINE_PATH = re.compile(r"(?<![\w.~$/])/(?:work|tmp|root|home)/")
MAX_STREAMS_PER_CELL = 4  # stdout and stderr, each perhaps split by a figure between them
MAX_INTRO_LINES = 16


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


def saved_texts(cell) -> list[tuple[str, str]]:
    """``(kind, text)`` of every text a code cell's saved outputs hold."""
    texts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            texts.append((output.name, output.text))
        for kind in ("text/plain", "text/markdown", "text/html"):
            if kind in output.get("data", {}):
                texts.append((kind, output.data[kind]))
        if output.output_type == "error":
            texts.append(("error", "\n".join(output.traceback)))
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_outputs_are_clean(path):
    notebook = nbformat.read(path, as_version=4)
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        where = f"{path.name}, cell {number} ({cell.source.splitlines()[0][:40]!r})"
        streams = [o for o in cell.outputs if o.output_type == "stream"]
        assert len(streams) <= MAX_STREAMS_PER_CELL, \
            f"{where}: {len(streams)} stream outputs (progress redraws?); run notebooks/run_all.py"
        for kind, text in saved_texts(cell):
            assert kind != "error", f"{where}: saved with an error"
            noise = STARTUP_NOISE.search(text) if kind == "stderr" else None
            assert noise is None, f"{where}: TensorFlow start-up line in stderr: {noise.group()!r}"
            path_found = MACHINE_PATH.search(text)
            assert path_found is None, \
                f"{where}: absolute machine path in {kind}: {text[path_found.start():][:60]!r}"
            assert "\r" not in text and "\b" not in text, f"{where}: progress-bar redraws"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_with_what_you_will_see(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell is {first.cell_type}"
    assert first.source.startswith("# "), f"{path.name}: the first cell has no title"
    assert "**What you will see**" in first.source, f"{path.name}: no 'What you will see'"
    lines = len(first.source.splitlines())
    assert lines <= MAX_INTRO_LINES, f"{path.name}: the first cell has {lines} lines"
