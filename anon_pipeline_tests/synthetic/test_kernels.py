"""The reconstruction kernels the bench's lung-kernel rows draw: grain, edges, padding."""

from __future__ import annotations

import numpy as np
import pytest

from anon_pipeline.synthetic.kernels import KERNELS, kernel_window, reconstructed


def neighbour_correlation(image: np.ndarray) -> float:
    """The correlation of each pixel with the next along its row."""
    centred = image - image.mean()
    return float((centred[:, 1:] * centred[:, :-1]).mean() / centred.var())


def flat_slice(value: float = 40.0, size: int = 256) -> np.ndarray:
    return np.full((size, size), value, np.float32)


@pytest.mark.parametrize("kernel", KERNELS)
def test_noise_has_the_asked_sigma_and_a_grain_wider_than_a_pixel(kernel: str) -> None:
    """The grain is the ramp times the window, never white: neighbours are correlated,
    the more so the softer the kernel, and the noise is `sigma` HU over flat tissue."""
    image = reconstructed(flat_slice(), np.random.default_rng(1), kernel, 40.0)
    assert image.std() == pytest.approx(40.0, rel=0.02)
    assert image.mean() == pytest.approx(40.0, abs=1.0)
    correlation = neighbour_correlation(image)
    assert correlation > 0.05, correlation
    if kernel == "lung":
        assert correlation < neighbour_correlation(
            reconstructed(flat_slice(), np.random.default_rng(1), "standard", 40.0)
        )


def test_lung_kernel_overshoots_an_edge_and_the_soft_one_does_not() -> None:
    """A sharp kernel lifts the frequencies past the middle: a step overshoots."""
    step = flat_slice(-1000.0)
    step[:, 128:] = 40.0
    quiet = np.random.default_rng(2)
    lung = reconstructed(step, quiet, "lung", 0.0)
    soft = reconstructed(step, quiet, "soft", 0.0)
    assert lung[100, 128:134].max() > 40.0 + 50
    assert soft[100, 128:134].max() <= 40.0 + 1
    assert kernel_window("lung", np.array([0.3]))[0] > 1.3
    assert kernel_window("standard", np.array([0.0]))[0] == 1.0


def test_padding_is_stored_after_the_kernel() -> None:
    """Outside the field of view, padding is the value it was, and its edge does not
    ring into the air inside (a scanner writes it after reconstruction)."""
    size = 256
    rows, columns = np.ogrid[:size, :size]
    outside = (rows - size / 2 + 0.5) ** 2 + (columns - size / 2 + 0.5) ** 2 > (size / 2) ** 2
    image = flat_slice(-1000.0, size)
    image[outside] = -3024.0
    out = reconstructed(image, np.random.default_rng(3), "lung", 0.0)
    assert (out[outside] == -3024.0).all()
    assert np.abs(out[~outside] + 1000.0).max() < 1.0


def test_unknown_kernel_is_refused() -> None:
    with pytest.raises(ValueError, match="kernel must be one of"):
        kernel_window("bone", np.array([0.1]))
