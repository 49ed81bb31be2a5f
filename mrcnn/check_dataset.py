"""Check a data set before training: ``python -m mrcnn.check_dataset module:factory``.

``factory`` is a zero-argument callable (a function or a class) importable from
``module`` that returns a prepared :class:`~mrcnn.data.Dataset`, e.g.::

    python -m mrcnn.check_dataset mrcnn.data.shapes:demo_dataset
    python -m mrcnn.check_dataset my_project.data:train_set --config my_project.cfg:MyConfig

Every image and its masks are loaded and every problem is printed (see
:meth:`~mrcnn.data.Dataset.validate` for the list of checks). With ``--config`` the
boxes are also checked at the training scale and ``NUM_CLASSES`` against the data set.
Exit status: 0 when the data set is clean, 1 when it has problems, 2 when the factory
cannot be imported or does not return a prepared data set.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import Any

from mrcnn.data.dataset import Dataset, DatasetError


def import_object(spec: str) -> Any:
    """``"package.module:attribute"`` -> the attribute (dots after ':' walk attributes)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected 'module:name', got {spec!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _make(spec: str) -> Any:
    factory: Callable[[], Any] = import_object(spec)
    if not callable(factory):
        raise TypeError(f"{spec} is not callable")
    return factory()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mrcnn.check_dataset",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("factory", help="module:callable returning a prepared Dataset")
    parser.add_argument("--config", help="module:Config class (or factory) to check "
                        "NUM_CLASSES and box sizes at the training scale")
    parser.add_argument("--limit", type=int, default=None,
                        help="check only the first N images")
    args = parser.parse_args(argv)
    try:
        dataset = _make(args.factory)
        config = _make(args.config) if args.config else None
    except Exception as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    if not isinstance(dataset, Dataset) or not hasattr(dataset, "num_classes"):
        print(f"error: {args.factory} returned {type(dataset).__name__}, not a prepared "
              "mrcnn Dataset (call prepare())", file=sys.stderr)
        return 2
    ids = list(dataset.image_ids)[:args.limit] if args.limit else None
    checked = len(ids) if ids is not None else dataset.num_images
    print(f"{type(dataset).__name__}: {dataset.num_images} images, {dataset.num_classes} "
          f"classes ({', '.join(dataset.class_names)}); checking {checked} image(s)")
    try:
        dataset.validate(config=config, image_ids=ids)
    except DatasetError as error:
        print(error)
        return 1
    print("no problems found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
