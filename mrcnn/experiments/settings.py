"""What a head comparison runs (:class:`CompareSettings`) and the command-line options
that set it, shared by ``python -m mrcnn.experiments.compare``, ``mrcnn compare`` and the
samples. Light: building the parser imports no TensorFlow, so ``-h`` answers at once."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import Any

from mrcnn.experiments.config_overrides import add_config_arguments, parse_field


@dataclass
class CompareSettings:
    """What a comparison runs; the defaults are the shapes setting of the README."""

    dataset: str = "shapes"  # a name registered in mrcnn.data.catalog
    heads: tuple[str, ...] = ("fcn", "unet")
    seeds: int = 3
    epochs: int = 15
    steps_per_epoch: int = 100
    train_images: int = 2000
    val_images: int = 50
    image_size: int = 128
    out: str = "results"
    logs: str = "logs"
    verbose: int = 2
    dtype_policy: str | None = None  # Config.DTYPE_POLICY for every run; None: the config's
    resume: bool = False  # keep the finished runs of <out>/<dataset>/compare.json
    weights: str | None = None  # pretrained shared layers for every head (None: scratch)
    config: dict[str, Any] = field(default_factory=dict)  # --set FIELD=VALUE for every run
    copy_paste: float = 0.0  # > 0: augment.CopyPaste(the config's augmentation, p=copy_paste)


def add_runner_arguments(parser: argparse.ArgumentParser, defaults: CompareSettings,
                         chosen_later: tuple[str, ...] = (), later: str = "") -> None:
    """Every option of a comparison but the data set, with ``defaults``; the fields in
    ``chosen_later`` (``epochs``, ``image_size``) default to None, chosen after parsing as
    ``later`` says."""
    defaults = replace(defaults, **dict.fromkeys(chosen_later))

    def default(value) -> str:
        return f"(default: {later})" if value is None else "(default: %(default)s)"

    parser.add_argument("--heads", nargs="+", default=list(defaults.heads),
                        help="registered mask heads to compare (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=defaults.seeds,
                        help="runs of every head with seeds 0..N-1 (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs,
                        help="epochs a run; the last 20%% at a tenth of the learning rate "
                             + default(defaults.epochs))
    parser.add_argument("--steps-per-epoch", type=int, default=defaults.steps_per_epoch,
                        help="(default: %(default)s)")
    parser.add_argument("--train-images", type=int, default=defaults.train_images,
                        help="shapes images generated per run (default: %(default)s)")
    parser.add_argument("--val-images", type=int, default=defaults.val_images,
                        help="held-out shapes images (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=defaults.image_size,
                        help="square input side, a multiple of 64 "
                             + default(defaults.image_size))
    parser.add_argument("--out", default=defaults.out,
                        help="report folder: OUT/NAME/compare.{json,md} (default: %(default)s)")
    parser.add_argument("--logs", default=defaults.logs,
                        help="checkpoint folder (default: %(default)s)")
    parser.add_argument("--verbose", type=int, default=defaults.verbose,
                        help="Keras fit verbosity: 0, 1 or 2 (default: %(default)s)")
    parser.add_argument("--dtype-policy", default=defaults.dtype_policy,
                        help="Config.DTYPE_POLICY of every run: float32, mixed_float16 or "
                             "mixed_bfloat16 (default: the config's)")
    parser.add_argument("--weights", default=defaults.weights,
                        help="start every head's shared layers from these weights (coco, "
                             "imagenet or a path); each mask head starts fresh (default: "
                             "all from random initialisation)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the finished runs of an interrupted comparison in --out "
                             "(same settings; more seeds or heads may be added)")
    add_config_arguments(parser, "every run")


def settings_from_args(args: argparse.Namespace, dataset: str) -> CompareSettings:
    """The :class:`CompareSettings` of parsed options, for the data set ``dataset``."""
    names = {f for f in CompareSettings.__dataclass_fields__} - {"dataset", "config", "heads"}
    return CompareSettings(dataset=dataset, heads=tuple(args.heads),
                           config=dict(parse_field(item) for item in args.config),
                           **{name: getattr(args, name) for name in names})
