"""Bounding boxes derived from instance masks."""

import numpy as np


def extract_bboxes(masks: np.ndarray) -> np.ndarray:
    """Tight box around each instance mask.

    Args:
        masks: [H, W, N] instance masks; any non-zero pixel counts as inside.

    Returns:
        [N, 4] int32 boxes as (y1, x1, y2, x2). y2/x2 are exclusive (one past
        the last mask pixel), so box height is y2 - y1. An empty mask gives an
        all-zero box, which ``trim_zeros`` in evaluation treats as padding.
    """
    if masks.ndim != 3:
        raise ValueError(f"extract_bboxes expects masks of shape [H, W, N], got {masks.shape}")
    filled = masks.astype(bool)
    boxes = np.zeros([filled.shape[-1], 4], dtype=np.int32)
    rows_any = filled.any(axis=1)
    cols_any = filled.any(axis=0)
    for i in range(filled.shape[-1]):
        rows = np.flatnonzero(rows_any[:, i])
        cols = np.flatnonzero(cols_any[:, i])
        if rows.size == 0:
            continue
        boxes[i] = (rows[0], cols[0], rows[-1] + 1, cols[-1] + 1)
    return boxes
