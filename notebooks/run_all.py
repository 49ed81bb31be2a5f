"""Execute the notebooks in this folder top to bottom with real settings, saving outputs.

    python notebooks/run_all.py                  # every notebook
    python notebooks/run_all.py demo train_shapes --timeout 3600
    python notebooks/run_all.py --clean          # only clean the saved outputs, run nothing

Each notebook runs in a "python3" kernel of this environment with its folder as working
directory and is written back in place with its outputs, cleaned (:func:`clean_outputs`):
TensorFlow's native start-up lines left out, progress bars as a terminal leaves them
(one line per epoch, not every redraw), and this machine's paths relative to the
notebook. MRCNN_SMOKE is forced to "0"; the tests run the same notebooks with
MRCNN_SMOKE=1 instead (tests/test_notebooks.py also checks the saved outputs are clean).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOK_DIR = Path(__file__).resolve().parent

# Lines TensorFlow's C++ runtime writes to stderr at start-up and on first use (glog format
# "E0000 00:00:1795312428.429378   27337 cuda_platform.cc:52] ...", the absl banner, the
# CPU-feature notice): noise in a saved notebook, whatever TF_CPP_MIN_LOG_LEVEL says.
NATIVE_LOG_LINE = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.]+:\d+\]"
    r"|^WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions|rebuild TensorFlow with the appropriate compiler"
    r"|cuInit|cudart_stub|Could not find cuda drivers|Unable to register cu(DNN|FFT|BLAS)")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal_text(text: str) -> str:
    """``text`` as a terminal leaves it: a carriage return or backspace moves back over the
    line (a progress bar's redraws keep only the last), ANSI colours are dropped."""
    lines = []
    for line in ANSI_ESCAPE.sub("", text).split("\n"):
        shown: list[str] = []
        column = 0
        for char in line:
            if char == "\r":
                column = 0
            elif char == "\b":
                column = max(0, column - 1)
            else:
                if column < len(shown):
                    shown[column] = char
                else:
                    shown.append(char)
                column += 1
        lines.append("".join(shown).rstrip())
    return "\n".join(lines)


def machine_paths(text: str, notebook_dir: Path = NOTEBOOK_DIR) -> str:
    """``text`` with this checkout's absolute paths written relative to the notebook's
    folder (as ``os.path.relpath`` prints them), the temporary folder as ``$TMPDIR`` and
    the home folder as ``~``."""
    repo = str(notebook_dir.parent)
    text = re.sub(re.escape(repo) + r"(?=[/\s'\"]|$)",
                  os.path.relpath(repo, notebook_dir), text)
    for folder, name in ((tempfile.gettempdir(), "$TMPDIR"), (str(Path.home()), "~")):
        if folder not in ("", "/"):
            text = re.sub(re.escape(folder) + r"(?=[/\s'\"]|$)", name, text)
    return text


def clean_outputs(notebook, notebook_dir: Path = NOTEBOOK_DIR):
    """``notebook``'s outputs cleaned in place (see the module docstring); returns it.

    Consecutive outputs of one stream are joined and rendered as a terminal shows them;
    stderr lines of TensorFlow's native logging are left out (an output left empty goes);
    paths are rewritten by :func:`machine_paths` in streams and in text results.
    """
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cleaned = []
        for output in _joined_streams(cell.get("outputs", [])):
            if output.output_type == "stream":
                text = terminal_text(output.text)
                if output.name == "stderr":
                    text = "\n".join(line for line in text.split("\n")
                                     if not NATIVE_LOG_LINE.search(line))
                text = machine_paths(text, notebook_dir).strip("\n")
                if not text.strip():
                    continue
                output.text = text + "\n"
            elif "data" in output:
                for kind in ("text/plain", "text/markdown", "text/html"):
                    if kind in output.data:
                        output.data[kind] = machine_paths(output.data[kind], notebook_dir)
            cleaned.append(output)
        cell.outputs = _joined_streams(cleaned)  # stdout split by stderr lines now gone
    return notebook


def _joined_streams(outputs: list) -> list:
    """``outputs`` with each run of consecutive outputs of one stream joined into one."""
    joined = []
    for output in outputs:
        if output.output_type == "stream" and joined \
                and joined[-1].output_type == "stream" and joined[-1].name == output.name:
            joined[-1].text += output.text
        else:
            joined.append(output)
    return joined


def run(path: Path, timeout: int | None) -> None:
    """Execute ``path`` in place; the notebook is saved (with cleaned outputs) even when a
    cell fails."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        nbformat.write(clean_outputs(notebook, path.parent), path)


def clean(path: Path) -> None:
    """Clean the saved outputs of ``path`` in place, executing nothing."""
    notebook = nbformat.read(path, as_version=4)
    nbformat.write(clean_outputs(notebook, path.parent), path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebook names without .ipynb (default: all)")
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds per cell (default: no limit)")
    parser.add_argument("--clean", action="store_true",
                        help="only clean the saved outputs (no execution)")
    args = parser.parse_args(argv)
    os.environ["MRCNN_SMOKE"] = "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    paths = ([NOTEBOOK_DIR / f"{name}.ipynb" for name in args.names] if args.names
             else sorted(NOTEBOOK_DIR.glob("*.ipynb")))
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if args.clean:
        for path in paths:
            clean(path)
            print(f"{path.name} cleaned")
        return 0
    failed = []
    for path in paths:
        tic = time.perf_counter()
        print(f"{path.name} ...", flush=True)
        try:
            run(path, args.timeout)
        except CellExecutionError as err:
            failed.append(path.name)
            print(f"{path.name} FAILED (outputs saved up to the failing cell):\n{err}",
                  file=sys.stderr)
            continue
        print(f"{path.name} done in {time.perf_counter() - tic:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
