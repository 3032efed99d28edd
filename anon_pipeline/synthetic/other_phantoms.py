"""Clean CT slices drawn in a style of their own, to measure the pixel check's false holds
on anatomy it was never tuned on.

`phantoms` draws every slice the check was tuned on, so its false holds there say little
of a scanner's. These slices are drawn another way: bodies and lungs with wavy outlines,
lung vessels as branching trees with round cross-sections and bronchi, fissures, arms
beside the chest, a curved table of two shells round a foam core under a mattress,
blanket folds, bowel loops with air, contrast and fluid levels, ribs as arcs, ECG leads,
metal whose streaks vary smoothly with the angle, and noise of three kernels (white, soft,
sharp) at 5 to 20 HU. Nothing in them is text.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage

KERNELS = ("white", "soft", "sharp")


def wavy(
    shape: tuple[int, int],
    centre: tuple[float, float],
    axes: tuple[float, float],
    rng: np.random.Generator,
    wobble: float = 0.08,
    angle: float = 0.0,
) -> np.ndarray:
    """An ellipse whose outline waves (a mask): no organ is an exact ellipse."""
    turn = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    radius = 1 + sum(
        rng.uniform(-wobble, wobble) * np.cos(k * turn + rng.uniform(0, 2 * np.pi))
        for k in range(2, 6)
    )
    x, y = axes[1] * radius * np.cos(turn), axes[0] * radius * np.sin(turn)
    cos, sin = math.cos(angle), math.sin(angle)
    points = np.stack([centre[1] + x * cos - y * sin, centre[0] + x * sin + y * cos], -1)
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [points.round().astype(np.int32)], 1)
    return mask.astype(bool)


def vessel_tree(
    image: np.ndarray,
    rng: np.random.Generator,
    inside: np.ndarray,
    root: tuple[tuple[float, float], float, float, float],
) -> None:
    """A vessel (`root`: start, angle, length, width) branching twice at each end, four
    times, thinner and shorter each time, within `inside`."""
    branches = [(*root, 4)]
    while branches:
        start, angle, length, width, depth = branches.pop()
        if depth == 0 or length < 4 or width < 0.6:
            continue
        end = (start[0] + length * math.sin(angle), start[1] + length * math.cos(angle))
        drawn = np.zeros(image.shape, np.uint8)
        cv2.line(
            drawn,
            (int(start[1]), int(start[0])),
            (int(end[1]), int(end[0])),
            1,
            max(1, round(width)),
        )
        image[drawn.astype(bool) & inside] = 40.0
        for _ in range(2):
            branches.append(
                (
                    end,
                    angle + rng.uniform(-0.7, 0.7),
                    length * rng.uniform(0.55, 0.85),
                    width * rng.uniform(0.6, 0.85),
                    depth - 1,
                )
            )


def add_table(image: np.ndarray, rng: np.random.Generator, middle: float, foot: int) -> None:
    """Two concentric carbon shells round a foam core, and a mattress on them."""
    radius = int(rng.uniform(350, 600))
    centre = (int(middle + rng.uniform(-10, 10)), foot - radius + int(rng.uniform(14, 24)))
    core, half = int(rng.uniform(8, 20)), int(rng.uniform(25, 45))
    arc = (0, 90 - half, 90 + half)

    def shell(distance: int, value: float, thickness: int) -> None:
        cv2.ellipse(image, centre, (distance, distance), *arc, value, thickness)

    shell(radius + core // 2, float(rng.uniform(-950, -700)), core)
    for distance in (radius, radius + core):
        shell(distance, float(rng.uniform(150, 400)), int(rng.integers(2, 4)))
    mattress = int(rng.uniform(6, 20))
    shell(radius - mattress // 2 - 2, float(rng.uniform(-300, -80)), mattress)


def add_lungs(
    image: np.ndarray,
    rng: np.random.Generator,
    centre: tuple[float, float],
    axes: tuple[float, float],
) -> None:
    """Two lungs with textured parenchyma, vessel trees from each hilum, round vessels,
    bronchi, now and then emphysema, and fissures."""
    lungs = np.zeros(image.shape, bool)
    for side in (-1, 1):
        lungs |= wavy(
            image.shape,
            (centre[0] - axes[0] * 0.12, centre[1] + side * axes[1] * 0.45),
            (axes[0] * 0.62, axes[1] * 0.32),
            rng,
            0.07,
            rng.uniform(-0.2, 0.2),
        )
    texture = ndimage.gaussian_filter(rng.normal(0, 40, image.shape), rng.uniform(1.0, 2.0))
    image[lungs] = -860 + texture[lungs]
    drawn = image.copy()
    for side in (-1, 1):
        hilum = (centre[0] - axes[0] * 0.1, centre[1] + side * axes[1] * 0.2)
        for _ in range(int(rng.integers(3, 7))):
            angle = (0 if side > 0 else math.pi) + rng.uniform(-1.4, 1.4)
            root = (hilum, angle, rng.uniform(30, 60), rng.uniform(3, 6))
            vessel_tree(drawn, rng, lungs, root)
    rows, columns = np.nonzero(lungs)

    def somewhere() -> tuple[int, int]:
        pick = int(rng.integers(len(rows)))
        return int(columns[pick]), int(rows[pick])

    for _ in range(int(rng.integers(30, 150))):
        cv2.circle(drawn, somewhere(), int(rng.integers(1, 5)), 40.0, -1)
    for _ in range(int(rng.integers(0, 20))):  # bronchi: a thin wall round air
        cv2.circle(drawn, somewhere(), int(rng.integers(2, 6)), 0.0, 1)
    if rng.random() < 0.3:  # emphysema
        for _ in range(int(rng.integers(5, 40))):
            cv2.circle(drawn, somewhere(), int(rng.integers(2, 9)), -990.0, -1)
    add_fissures(drawn, rng, lungs, centre, axes)
    image[lungs] = drawn[lungs]


def add_fissures(
    image: np.ndarray,
    rng: np.random.Generator,
    lungs: np.ndarray,
    centre: tuple[float, float],
    axes: tuple[float, float],
) -> None:
    """A fissure across each lung, more often than not: a thin curve a little denser."""
    for side in (-1, 1):
        if rng.random() < 0.6:  # a fissure
            fissure = np.zeros(image.shape, np.uint8)
            start = rng.uniform(0, 360)
            cv2.ellipse(
                fissure,
                (int(centre[1] + side * axes[1] * 0.45), int(centre[0] - axes[0] * 0.1)),
                (int(axes[1] * 0.25), int(axes[0] * 0.5)),
                0,
                start,
                start + 70,
                1,
                1,
            )
            image[fissure.astype(bool) & lungs] = -650


def add_abdomen(
    image: np.ndarray,
    rng: np.random.Generator,
    centre: tuple[float, float],
    axes: tuple[float, float],
    pelvis: bool,
) -> None:
    """A liver, kidneys with contrast, bowel loops of air, contrast or fluid under air,
    and in a pelvis the iliac bones."""
    image[
        wavy(
            image.shape,
            (centre[0] - 10, centre[1] - axes[1] * 0.35),
            (axes[0] * 0.5, axes[1] * 0.35),
            rng,
        )
    ] = 60
    for side in (-1, 1):
        kidney = (centre[0] + axes[0] * 0.15, centre[1] + side * axes[1] * 0.35)
        image[wavy(image.shape, kidney, (22, 14), rng, 0.05, rng.uniform(-0.5, 0.5))] = 200
        image[wavy(image.shape, kidney, (12, 6), rng, 0.05)] = 30
    for _ in range(int(rng.integers(4, 20))):
        at = (
            centre[0] + rng.uniform(-0.4, 0.4) * axes[0],
            centre[1] + rng.uniform(-0.5, 0.5) * axes[1],
        )
        radius = rng.uniform(4, 16)
        loop = wavy(image.shape, at, (radius, radius * rng.uniform(0.7, 1.5)), rng, 0.1)
        kind = rng.random()
        if kind < 0.4:
            image[loop] = -1000
        elif kind < 0.6:
            image[loop] = 350
        else:  # fluid under air: a flat level
            image[loop] = 20
            air = loop.copy()
            air[int(at[0] - radius * rng.uniform(0.0, 0.5)) :] = False
            image[air] = -1000
    if pelvis:
        for side in (-1, 1):
            cv2.ellipse(
                image,
                (int(centre[1] + side * axes[1] * 0.5), int(centre[0] + 10)),
                (30, 45),
                side * 20,
                0,
                360,
                900.0,
                5,
            )


def add_leads(
    image: np.ndarray,
    rng: np.random.Generator,
    centre: tuple[float, float],
    axes: tuple[float, float],
) -> None:
    """ECG leads: smooth wires from an electrode on the skin, as a cable bends."""
    for _ in range(int(rng.integers(0, 4))):
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.12, 40))
        steps = 3 * np.stack([np.cos(heading), np.sin(heading)], -1)
        start = (
            centre[1] + rng.uniform(-axes[1], axes[1]),
            centre[0] - axes[0] - rng.uniform(-10, 30),
        )
        path = np.cumsum(steps, 0) + start
        cv2.polylines(
            image,
            [path.round().astype(np.int32)],
            False,
            float(rng.uniform(800, 2500)),
            int(rng.integers(1, 3)),
        )
        cv2.circle(image, (int(path[0, 0]), int(path[0, 1])), 4, 1500.0, -1)


def add_metal(image: np.ndarray, rng: np.random.Generator, centre: tuple[float, float]) -> None:
    """An implant whose streaks vary smoothly with the angle round it, fading with distance."""
    at = (centre[0] + rng.uniform(-50, 50), centre[1] + rng.uniform(-70, 70))
    rows, columns = np.indices(image.shape)
    angle = np.arctan2(rows - at[0], columns - at[1])
    distance = np.hypot(rows - at[0], columns - at[1]) + 5
    pattern = sum(
        rng.uniform(-1, 1) * np.cos(k * angle + rng.uniform(0, 2 * np.pi)) for k in range(2, 40, 3)
    )
    fade = np.minimum(1, 60 / distance)
    image += (rng.uniform(100, 400) * pattern / np.abs(pattern).max() * fade).astype(np.float32)
    axes = (int(rng.uniform(4, 12)), int(rng.uniform(4, 9)))
    cv2.ellipse(image, (int(at[1]), int(at[0])), axes, 0, 0, 360, 3000.0, -1)


def add_outside(
    image: np.ndarray,
    rng: np.random.Generator,
    centre: tuple[float, float],
    axes: tuple[float, float],
) -> None:
    """The table under the body, and folds of a blanket over it."""
    add_table(image, rng, centre[1], int(centre[0] + axes[0] + rng.uniform(4, 20)))
    for _ in range(int(rng.integers(0, 5))):
        start = rng.uniform(180, 360)
        cv2.ellipse(
            image,
            (int(centre[1] + rng.uniform(-40, 40)), int(centre[0] + rng.uniform(-20, 20))),
            (int(axes[1] + rng.uniform(5, 25)), int(axes[0] + rng.uniform(5, 25))),
            0,
            start,
            start + rng.uniform(20, 90),
            float(rng.uniform(-400, -100)),
            int(rng.integers(1, 3)),
        )


def add_body(
    image: np.ndarray,
    rng: np.random.Generator,
    centre: tuple[float, float],
    axes: tuple[float, float],
) -> float:
    """Fat under the skin round muscle, arms beside the body in half the slices, and a
    vertebra; returns the fat's thickness."""
    image[wavy(image.shape, centre, axes, rng)] = -100
    fat = rng.uniform(5, 28)
    image[wavy(image.shape, centre, (axes[0] - fat, axes[1] - fat), rng, 0.05)] = 50
    if rng.random() < 0.5:
        for side in (-1, 1):
            arm = (
                centre[0] + rng.uniform(-30, 30),
                centre[1] + side * (axes[1] + rng.uniform(35, 60)),
            )
            if 30 < arm[1] < image.shape[1] - 30:
                image[wavy(image.shape, arm, (rng.uniform(25, 40), rng.uniform(25, 40)), rng)] = -90
                image[wavy(image.shape, arm, (18, 18), rng, 0.05)] = 50
                bone = (int(arm[1]), int(arm[0]))
                cv2.circle(image, bone, int(rng.uniform(7, 11)), 1100.0, -1)
                cv2.circle(image, bone, int(rng.uniform(4, 6)), 80.0, -1)
    spine = centre[0] + axes[0] * 0.55
    radius = rng.uniform(14, 22)
    at = (int(centre[1]), int(spine))
    cv2.ellipse(image, at, (int(radius * 1.1), int(radius)), 0, 0, 360, 1000.0, -1)
    image[wavy(image.shape, (spine, centre[1]), (radius - 3, radius * 1.1 - 3), rng, 0.03)] = 250
    cv2.line(image, (at[0], int(spine + radius)), (at[0], int(spine + radius * 2.2)), 900.0, 6)
    return fat


def add_chest(
    image: np.ndarray,
    rng: np.random.Generator,
    centre: tuple[float, float],
    axes: tuple[float, float],
    fat: float,
) -> None:
    """Lungs, the heart, a contrast-filled aorta, and ribs as arcs inside the fat."""
    add_lungs(image, rng, centre, axes)
    heart = (centre[0] + 5, centre[1] + 15)
    image[wavy(image.shape, heart, (axes[0] * 0.35, axes[1] * 0.22), rng)] = 45
    aorta = (int(centre[1] + rng.uniform(-25, 5)), int(centre[0] - axes[0] * 0.2))
    cv2.circle(image, aorta, int(rng.uniform(10, 17)), float(rng.uniform(150, 350)), -1)
    ribs = (int(axes[1] - fat - 6), int(axes[0] - fat - 6))
    for start in np.linspace(20, 340, int(rng.integers(8, 14))):
        if not 70 < start < 110:
            cv2.ellipse(
                image,
                (int(centre[1]), int(centre[0])),
                ribs,
                0,
                start,
                start + rng.uniform(6, 16),
                float(rng.uniform(600, 1100)),
                int(rng.integers(3, 7)),
            )


def with_noise(
    image: np.ndarray, rng: np.random.Generator, sigma: float | None, kernel: str | None
) -> tuple[np.ndarray, str]:
    """The image with noise of `sigma` HU through `kernel` (each drawn where not given),
    and padding outside the scanner's field of view."""
    sigma = sigma or float(rng.uniform(5, 20))
    kernel = kernel or str(rng.choice(KERNELS))
    noise = rng.normal(0, 1, image.shape).astype(np.float32)
    if kernel == "soft":
        noise = ndimage.gaussian_filter(noise, 0.8)
    elif kernel == "sharp":
        noise = noise - 0.6 * ndimage.gaussian_filter(noise, 1.5)
    image += sigma * noise / noise.std()
    size = image.shape[0]
    rows, columns = np.ogrid[:size, :size]
    outside = (rows - size / 2) ** 2 + (columns - size / 2) ** 2 > (size / 2) ** 2
    image[outside] = rng.choice([-1000.0, -2000.0, -3024.0])
    return image, kernel


def other_slice(
    rng: np.random.Generator, sigma: float | None = None, kernel: str | None = None
) -> tuple[np.ndarray, str]:
    """One 512 × 512 axial slice in HU (float32) and its kernel: a chest (half of them),
    an abdomen or a pelvis, with metal in one slice in five. `sigma` (HU) and `kernel`
    (one of KERNELS) are drawn where not given."""
    size = 512
    image = np.full((size, size), -1000.0, np.float32)
    centre = (size / 2 + rng.uniform(-25, 25), size / 2 + rng.uniform(-20, 20))
    region = str(rng.choice(["chest", "chest", "abdomen", "pelvis"]))
    axes = (rng.uniform(95, 150), rng.uniform(140, 215))
    add_outside(image, rng, centre, axes)
    fat = add_body(image, rng, centre, axes)
    if region == "chest":
        add_chest(image, rng, centre, axes, fat)
    else:
        add_abdomen(image, rng, centre, axes, region == "pelvis")
    add_leads(image, rng, centre, axes)
    image = ndimage.gaussian_filter(image, rng.uniform(0.5, 1.0))
    if rng.random() < 1 / 5:
        add_metal(image, rng, centre)
    return with_noise(image, rng, sigma, kernel)


def nth_slice(seed: int, index: int) -> tuple[np.ndarray, str]:
    """Slice `index` (from 0) of those a generator seeded with `seed` draws, as the bench
    draws them: a test replays one of its false holds."""
    rng = np.random.default_rng(seed)
    for _ in range(index):
        other_slice(rng)
    return other_slice(rng)
