"""The package's shape: no import cycle in mrcnn/, and no module importing a higher layer.

The layers, lowest first (a module may import its own layer and those below):

    ops, precision, download (one file, checksummed: weights and data sets use it)  <  layers
    <  backbones, heads  <  config  <  data, preprocessing, flops, presets  <  graph
    <  weights  <  engine  <  model  <  evaluation, export  <  visualize
    <  experiments, viewer (it opens comparison reports), check_dataset  <  cli, __main__
    <  the package's own __init__

Every ``import`` counts, also those inside functions: a deferred import is still an arrow.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mrcnn"

LAYERS = (
    ("ops", "precision", "download"),
    ("layers",),
    ("backbones", "heads"),
    ("config",),
    ("data", "preprocessing", "flops", "presets"),
    ("graph",),
    ("weights",),
    ("engine",),
    ("model",),
    ("evaluation", "export"),
    ("visualize",),
    ("experiments", "viewer", "check_dataset"),
    ("cli", "__main__"),
)
ROOT_LAYER = len(LAYERS)  # "mrcnn" itself: the public API re-exports from every layer


def module_names() -> dict[str, Path]:
    """``{"mrcnn.engine.trainer": path, ...}`` for every module of the package."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere in its code (``from mrcnn.x import y``
    counts ``mrcnn.x.y`` when that is a module, else ``mrcnn.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if target in modules:
                    found.add(target)
                elif node.module in modules:
                    found.add(node.module)
    return found


def layer_of(module: str) -> int:
    if module == "mrcnn":
        return ROOT_LAYER
    top = module.split(".")[1]
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} is in no layer: add mrcnn/{top} to LAYERS")


def edges() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(path, set(modules)) - {name} for name, path in modules.items()}


def test_every_module_sits_in_a_layer_and_imports_none_above_it():
    upward = sorted(f"{importer} (layer {layer_of(importer)}) imports {imported} "
                    f"(layer {layer_of(imported)})"
                    for importer, imported_set in edges().items() for imported in imported_set
                    if layer_of(imported) > layer_of(importer))
    assert not upward, "\n".join(upward)


def test_there_is_no_import_cycle():
    graph = edges()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                cycles.append(" -> ".join(path[path.index(child):] + [node, child])
                              if child in path else f"{node} -> {child}")
            elif child not in state:
                visit(child, path + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(cycles)


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The checker itself: a deferred import of a higher layer is found."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from mrcnn.engine.trainer import Trainer\n")
    (imported,) = imports_of(module, set(module_names()))
    assert imported == "mrcnn.engine.trainer"
    assert layer_of(imported) > layer_of("mrcnn.graph")


@pytest.mark.parametrize("statement", ["import mrcnn", "import mrcnn.cli"])
def test_importing_the_package_or_the_cli_does_not_import_tensorflow(statement):
    code = f"{statement}; import sys; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
