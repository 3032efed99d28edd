"""Synthetic CT slices that look like a body to a pixel check: air, a table, skin and fat,
muscle, lungs with vessels, a heart, a spine, ribs, bowel gas, metal streaks and
correlated noise, in Hounsfield units. The pixel check's false holds are measured on
these (`pixel_trials`); the demo's and tests' CDs use them so that their pixels are an
image, not random numbers.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

AIR, FAT, SOFT, LUNG, BONE, CORTEX, METAL = -1000, -100, 40, -850, 300, 900, 3000
PADDING_HU = -2048  # outside the scanner's field of view


def ellipse(
    shape: tuple[int, int],
    centre: tuple[float, float],
    axes: tuple[float, float],
    angle: float = 0.0,
) -> np.ndarray:
    rows, columns = np.ogrid[: shape[0], : shape[1]]
    y, x = rows - centre[0], columns - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = x * cos + y * sin, -x * sin + y * cos
    return (u / axes[1]) ** 2 + (v / axes[0]) ** 2 <= 1.0


LUNG_STYLES = ("crisp", "partial-volume")


def phantom_slice(
    rng: np.random.Generator, size: int = 512, region: str | None = None, lungs: str = "crisp"
) -> np.ndarray:
    """One axial slice in HU (float32): a chest, an abdomen or a head, chosen at random
    unless `region` names one; with a metal implant's streaks in about one slice in six.
    `lungs` is one of LUNG_STYLES: crisp vessels and bronchi of soft tissue (the texture
    the pixel check was tuned on), or vessels of partial-volume intensities in a
    textured parenchyma (one it never was: its false holds are measured on both)."""
    if lungs not in LUNG_STYLES:
        raise ValueError(f"lungs must be one of {LUNG_STYLES}, not {lungs!r}")
    region = region or str(rng.choice(["chest", "chest", "abdomen", "head"]))
    scale = size / 512
    image = np.full((size, size), AIR, dtype=np.float32)
    centre = (size / 2 + rng.uniform(-20, 20) * scale, size / 2 + rng.uniform(-15, 15) * scale)
    table_row = int(centre[0] + 185 * scale)
    if region == "head":
        axes = (rng.uniform(85, 105) * scale, rng.uniform(70, 85) * scale)
        image[ellipse(image.shape, centre, axes)] = CORTEX
        inner = (axes[0] - 6 * scale, axes[1] - 6 * scale)
        image[ellipse(image.shape, centre, inner)] = 35
        image[ellipse(image.shape, centre, (inner[0] * 0.3, inner[1] * 0.15))] = 5  # ventricles
    else:
        axes = (rng.uniform(100, 160) * scale, rng.uniform(150, 225) * scale)
        image[ellipse(image.shape, centre, axes)] = FAT
        fat = rng.uniform(6, 25) * scale
        muscle = ellipse(image.shape, centre, (axes[0] - fat, axes[1] - fat))
        image[muscle] = SOFT
        spine = (centre[0] + axes[0] * 0.55, centre[1])
        if region == "chest":
            for side in (-1, 1):
                lung_centre = (centre[0] - axes[0] * 0.1, centre[1] + side * axes[1] * 0.45)
                lung_axes = (axes[0] * 0.6, axes[1] * 0.33)
                lung = ellipse(image.shape, lung_centre, lung_axes, rng.uniform(-0.2, 0.2))
                image[lung] = LUNG
                if lungs == "crisp":
                    add_vessels(image, rng, lung, scale)
                else:
                    add_partial_volume_vessels(image, rng, lung, scale)
            image[
                ellipse(
                    image.shape,
                    (centre[0], centre[1] + 10 * scale),
                    (axes[0] * 0.35, axes[1] * 0.2),
                )
            ] = 45  # heart
            add_ribs(image, rng, centre, axes, scale)
        else:
            image[
                ellipse(
                    image.shape,
                    (centre[0] - 10 * scale, centre[1] - axes[1] * 0.35),
                    (axes[0] * 0.45, axes[1] * 0.35),
                )
            ] = 60  # liver
            for _ in range(int(rng.integers(3, 15))):  # bowel gas
                at = (
                    centre[0] + rng.uniform(-0.4, 0.3) * axes[0],
                    centre[1] + rng.uniform(-0.1, 0.5) * axes[1],
                )
                radius = rng.uniform(2, 12) * scale
                image[ellipse(image.shape, at, (radius, radius * rng.uniform(0.6, 1.6)))] = AIR
        add_vertebra(image, rng, spine, scale)
    image[table_row : table_row + max(1, int(4 * scale)), :] = 250
    image[table_row + int(12 * scale) : table_row + int(14 * scale), :] = 150
    image = ndimage.gaussian_filter(image, 0.8 * scale + 0.2)
    if rng.random() < 1 / 6:
        add_metal(image, rng, centre, scale)
    noise = rng.normal(0, rng.uniform(6, 25), image.shape).astype(np.float32)
    image += ndimage.uniform_filter(noise, 2) * 1.6
    outside = ~ellipse(image.shape, (size / 2, size / 2), (size / 2, size / 2))
    image[outside] = PADDING_HU if rng.random() < 0.5 else AIR
    return image


def add_vessels(
    image: np.ndarray, rng: np.random.Generator, lung: np.ndarray, scale: float
) -> None:
    """Vessels and bronchi in a lung: bright round cross-sections and short branches."""
    rows, columns = np.nonzero(lung)
    for _ in range(int(rng.integers(40, 160))):
        pick = int(rng.integers(0, len(rows)))
        at = (float(rows[pick]), float(columns[pick]))
        radius = rng.uniform(0.8, 4.5) * scale
        if rng.random() < 0.6:
            image[
                ellipse(
                    image.shape, at, (radius, radius * rng.uniform(0.7, 3.5)), rng.uniform(0, np.pi)
                )
            ] = SOFT
        else:  # a bronchus: a thin wall round air
            image[ellipse(image.shape, at, (radius + 1.2, radius + 1.2))] = SOFT
            image[ellipse(image.shape, at, (radius, radius))] = AIR


def add_partial_volume_vessels(
    image: np.ndarray, rng: np.random.Generator, lung: np.ndarray, scale: float
) -> None:
    """Vessels as a scanner sees them through a slice's thickness: round cross-sections
    and branches whose brightness varies with how much of them the slice holds, a few
    bronchi, and a parenchyma with a texture of its own."""
    rows, columns = np.nonzero(lung)
    layer = np.zeros_like(image)
    for _ in range(int(rng.integers(60, 220))):
        pick = int(rng.integers(0, len(rows)))
        at = (float(rows[pick]), float(columns[pick]))
        radius = (rng.gamma(2.0, 1.0) + 0.6) * scale
        peak = rng.uniform(150, 900)  # HU above the lung: partial volume
        kind = rng.random()
        if kind < 0.55:
            shape = ellipse(
                image.shape, at, (radius, radius * rng.uniform(0.7, 1.4)), rng.uniform(0, np.pi)
            )
        elif kind < 0.92:  # a branch running in the slice
            length = rng.uniform(6, 40) * scale
            shape = ellipse(image.shape, at, (radius * 0.8, length), rng.uniform(0, np.pi))
        else:  # a bronchus: a wall round air
            shape = ellipse(image.shape, at, (radius + 1.5, radius + 1.5)) & ~ellipse(
                image.shape, at, (radius, radius)
            )
            peak = rng.uniform(300, 900)
        layer[shape] = np.maximum(layer[shape], peak)
    layer = ndimage.gaussian_filter(layer, rng.uniform(0.5, 1.2) * scale)
    texture = ndimage.gaussian_filter(rng.normal(0, 60, image.shape), 1.5 * scale)
    image[lung] = LUNG + layer[lung] + texture[lung].astype(np.float32)


def add_ribs(
    image: np.ndarray,
    rng: np.random.Generator,
    centre: tuple[float, float],
    axes: tuple[float, float],
    scale: float,
) -> None:
    for angle in np.linspace(0, 2 * np.pi, int(rng.integers(8, 16)), endpoint=False):
        at = (
            centre[0] + np.sin(angle) * (axes[0] - 12 * scale),
            centre[1] + np.cos(angle) * (axes[1] - 14 * scale),
        )
        radius = rng.uniform(3, 8) * scale
        shape = (radius, radius * rng.uniform(1.0, 2.2))
        image[ellipse(image.shape, at, shape, angle)] = CORTEX
        image[ellipse(image.shape, at, (shape[0] - 1.5, shape[1] - 1.5), angle)] = BONE


def add_vertebra(
    image: np.ndarray, rng: np.random.Generator, at: tuple[float, float], scale: float
) -> None:
    radius = rng.uniform(14, 24) * scale
    image[ellipse(image.shape, at, (radius, radius * 1.1))] = CORTEX
    body = ellipse(image.shape, at, (radius - 2.5, radius * 1.1 - 2.5))
    texture = ndimage.gaussian_filter(rng.normal(0, 120, image.shape), 1.2)
    image[body] = BONE + texture[body]
    canal = (at[0] + radius * 1.6, at[1])
    image[ellipse(image.shape, canal, (radius * 0.7, radius * 0.7))] = CORTEX
    image[ellipse(image.shape, canal, (radius * 0.5, radius * 0.5))] = 20


def add_metal(
    image: np.ndarray, rng: np.random.Generator, centre: tuple[float, float], scale: float
) -> None:
    """A metal implant: a small bright disc and dark and bright streaks through it."""
    at = (centre[0] + rng.uniform(-60, 60) * scale, centre[1] + rng.uniform(-80, 80) * scale)
    rows, columns = np.indices(image.shape)
    angles = np.arctan2(rows - at[0], columns - at[1])
    for angle in rng.uniform(0, np.pi, int(rng.integers(4, 14))):
        distance = np.abs(np.sin(angles - angle)) * np.hypot(rows - at[0], columns - at[1])
        image += np.where(
            distance < rng.uniform(0.6, 2.5) * scale, rng.choice([-1, 1]) * rng.uniform(150, 700), 0
        ).astype(np.float32)
    image[ellipse(image.shape, at, (4 * scale, 6 * scale))] = METAL


def stored_values(hounsfield: np.ndarray, intercept: int = -1024) -> np.ndarray:
    """As a scanner stores them: 12-bit values in int16 with RescaleIntercept `intercept`."""
    return np.clip(np.rint(hounsfield - intercept), -2048, 4095).astype(np.int16)
