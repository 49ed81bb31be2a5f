"""Config fields set on the command line: ``--set FIELD=VALUE`` and ``--copy-paste P``.

Shared by ``mrcnn train``, ``mrcnn compare`` and the sample scripts (``mrcnn.experiments.compare``).
It creates no TensorFlow state: the CLI builds its parsers before it makes a
``tf.distribute`` strategy, which must come first.
"""

from __future__ import annotations

import argparse
import ast
from typing import Any


def add_config_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--set FIELD=VALUE`` (repeatable, into ``args.config``) and ``--copy-paste P``."""
    parser.add_argument("--set", dest="config", action="append", default=[],
                        metavar="FIELD=VALUE",
                        help=f"set a config field for {what} (repeatable); VALUE is a "
                             "Python literal, else a string: --set NORM=group")
    parser.add_argument("--copy-paste", type=fraction, default=0.0, metavar="P",
                        help="Simple Copy-Paste on a fraction P of the training samples, on "
                             "top of the config's augmentation, at most MAX_GT_INSTANCES "
                             "objects an image (default: off)")


def fraction(text: str) -> float:
    """An argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction in [0, 1]")
    return value


def parse_field(item: str) -> tuple[str, Any]:
    """``"FIELD=VALUE"`` -> ``(FIELD, value)``; the value a Python literal, else the string."""
    name, sep, text = item.partition("=")
    if not sep or not name.strip():
        raise SystemExit(f"--set {item!r}: expected FIELD=VALUE, e.g. --set NORM=group")
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        value = text.strip()
    return name.strip(), value


def check_config_fields(config_class, fields: dict[str, Any],
                        option_fields: dict[str, str]) -> None:
    """Raise ``ValueError`` when a ``--set`` field is not a field of ``config_class`` (or a
    mask head's setting), or is one that an option sets (``option_fields``: field ->
    option)."""
    from mrcnn.heads.mask import mask_head_settings

    known = config_class.class_fields() | {"MASK_SHAPE"} | set(mask_head_settings())
    for name in fields:
        if name in option_fields:
            raise ValueError(f"--set {name}: an option sets it; use {option_fields[name]}")
        if name not in known:
            raise ValueError(f"--set {name}: {config_class.__name__} has no field {name!r} "
                             "(fields are upper-case, e.g. NORM, RPN_ANCHOR_SCALES)")


def with_fields(config_class, fields: dict[str, Any], copy_paste: float = 0.0,
                name: str | None = None) -> type:
    """``config_class`` subclassed with ``fields``; with ``copy_paste`` > 0 its augmentation
    (``fields``' or the class's) wrapped in :class:`~mrcnn.data.copy_paste.CopyPaste` of
    that probability (an augmentation that already is one gets the new probability)."""
    fields = dict(fields)
    if copy_paste:
        from mrcnn.data.copy_paste import CopyPaste

        base = fields.get("AUGMENTATION", config_class.AUGMENTATION)
        if isinstance(base, CopyPaste):  # the option sets its probability
            base = base.per_image
        fields["AUGMENTATION"] = CopyPaste(base, p=copy_paste)
    return type(name or config_class.__name__, (config_class,), fields)
