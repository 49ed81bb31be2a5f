"""Execute the notebooks in this folder top to bottom with real settings, saving outputs.

    python notebooks/run_all.py                  # every notebook
    python notebooks/run_all.py demo train_shapes --timeout 3600

Each notebook runs in a "python3" kernel of this environment with its folder as working
directory and is written back in place with its outputs. MRCNN_SMOKE is forced to "0";
the tests run the same notebooks with MRCNN_SMOKE=1 instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOK_DIR = Path(__file__).resolve().parent


def run(path: Path, timeout: int | None) -> None:
    """Execute ``path`` in place; the notebook is saved (with outputs) even when a cell fails."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        nbformat.write(notebook, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebook names without .ipynb (default: all)")
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds per cell (default: no limit)")
    args = parser.parse_args(argv)
    os.environ["MRCNN_SMOKE"] = "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    paths = ([NOTEBOOK_DIR / f"{name}.ipynb" for name in args.names] if args.names
             else sorted(NOTEBOOK_DIR.glob("*.ipynb")))
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
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
