"""The learning-rate schedule every training command shares (``mrcnn train``, the head
comparison, the samples): the first 80% of the epochs at the base rate, the rest at a
tenth of it (the step schedule of the paper and Detectron2, one drop)."""

from __future__ import annotations

DROP_AT = 0.8  # fraction of the epochs trained at the base rate
DROP_FACTOR = 0.1


def lr_stages(learning_rate: float, epochs: int) -> list[tuple[float, int]]:
    """``[(rate, until epoch), ...]``: ``learning_rate`` until ``round(0.8 * epochs)`` (at
    least one epoch), then a tenth of it until ``epochs``."""
    main = max(1, round(DROP_AT * epochs))
    stages = [(learning_rate, min(main, epochs))]
    if epochs > main:
        stages.append((learning_rate * DROP_FACTOR, epochs))
    return stages


def train_on_schedule(model, train_set, val_set, learning_rate: float, epochs: int,
                      resume: bool = False, **train_kwargs) -> dict[str, list[float]]:
    """Train ``model`` (anything with ``train(...)`` and ``epoch``, e.g. a ``MaskRCNN``)
    until ``epochs`` through :func:`lr_stages`, skipping the stages a resumed run has
    passed; returns the per-epoch history of every stage, concatenated."""
    history: dict[str, list[float]] = {}
    for rate, until in lr_stages(learning_rate, epochs):
        if until <= model.epoch:
            continue
        run = model.train(train_set, val_set, rate, until, resume=resume, **train_kwargs)
        resume = False  # the first call resumed; the next continues in this process
        for key, values in run.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    return history
