"""A third way to draw a metal's streaks, for the bench's false holds: straight streaks
through an implant, blurred 1 to 3 px across, fading as 1/r past 40 px.

The bench's phantoms draw sharp streaks that run the whole frame at one strength
(`phantoms.add_metal`); the other style, bands that vary smoothly with the angle
(`other_phantoms.add_metal`). A scanner's lie between: straight, soft-edged, weaker
with the distance. Drawn over the bench's own phantoms (those drawn without metal), so
that only the streaks differ from the bench's pools (session 48: 14 of 300 held without
the streak field, 4 with it)."""

from __future__ import annotations

import cv2
import numpy as np

from anon_pipeline.synthetic.phantoms import phantom_slice

METAL_HU = 3000.0


def faded_metal(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`image` (HU) with an implant somewhere in the body and 3 to 19 straight streaks
    through it, bright or dark (100 to 400 HU), blurred across and fading past 40 px."""
    rows, columns = np.nonzero(image[::4, ::4] > -500)
    pick = rng.integers(len(rows))
    at = (rows[pick] * 4.0, columns[pick] * 4.0)
    row, column = np.indices(image.shape)
    angle = np.arctan2(row - at[0], column - at[1])
    distance = np.hypot(row - at[0], column - at[1])
    streaks = np.zeros(image.shape, np.float32)
    for way in rng.uniform(0, np.pi, int(rng.integers(3, 20))):
        across = np.abs(np.sin(angle - way)) * distance
        width = rng.uniform(1.0, 3.0)
        strength = rng.choice([-1, 1]) * rng.uniform(100, 400)
        streaks += (strength * np.exp(-0.5 * (across / width) ** 2)).astype(np.float32)
    streaks *= np.minimum(1.0, 40.0 / np.maximum(distance, 1.0))
    drawn = image + streaks
    axes = (int(rng.uniform(4, 10)), int(rng.uniform(3, 8)))
    cv2.ellipse(drawn, (int(at[1]), int(at[0])), axes, 0, 0, 360, METAL_HU, -1)
    return drawn


class FadedStreakSlices:
    """The bench's phantoms drawn without metal (`pool` of them, in turn), each slice
    with its own implant and faded streaks and 8 HU of white noise."""

    def __init__(self, seed: int, pool: int = 24) -> None:
        self.rng = np.random.default_rng(seed)
        self.phantoms: list[np.ndarray] = []
        while len(self.phantoms) < pool:
            phantom = phantom_slice(self.rng)
            if phantom.max() < METAL_HU - 500:  # the bench's own metal left out
                self.phantoms.append(phantom)
        self.count = 0

    def next(self) -> np.ndarray:
        base = self.phantoms[self.count % len(self.phantoms)]
        self.count += 1
        drawn = faded_metal(base.copy(), self.rng)
        return drawn + self.rng.normal(0, 8, drawn.shape).astype(np.float32)
