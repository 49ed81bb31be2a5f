"""Tests of the runnable samples; ``sample_module`` imports a sample's module by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def sample_module(name: str, path: Path):
    """Import ``path`` as module ``name`` once (samples are scripts, not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
