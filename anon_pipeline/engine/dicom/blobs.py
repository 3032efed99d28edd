"""Blobs of a mask with their boxes, labelled in one pass: the closer look labels a
crop's strokes several times (its letters, its structures, its weak letters apart), and
a lung's crop holds hundreds of specks."""

from __future__ import annotations

import cv2
import numpy as np


def blob_boxes(strokes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The blobs of `strokes` (8-connected) and, per label from 1, its box: top, bottom,
    left, right (ends exclusive). OpenCV labels them and measures their boxes in one
    pass, not a Python loop over a lung's hundreds of specks."""
    labels, boxes, _ = blob_stats(strokes)
    return labels, boxes


def blob_stats(strokes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`blob_boxes`, and per label from 1 its pixel count."""
    # Spaghetti labelling into 16-bit labels where they cannot run out: 8-connected
    # blobs are at most one per 2 x 2 block, and the background takes label 0.
    rows, columns = strokes.shape
    label_type = cv2.CV_16U if -(-rows // 2) * -(-columns // 2) < 65535 else cv2.CV_32S
    _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        strokes.view(np.uint8), 8, label_type, cv2.CCL_SPAGHETTI
    )
    left, top = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
    width, height = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    boxes = np.stack([top, top + height, left, left + width], axis=1).astype(np.intp)
    return labels, boxes, stats[1:, cv2.CC_STAT_AREA]


def pixel_sizes(labels: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """For each pixel of `labels` (as `blob_stats` gives them, with their `areas`) the
    pixel count of its blob, 0 for the background: a structure is told from a speck
    by it."""
    return np.concatenate([[0], areas])[labels]
