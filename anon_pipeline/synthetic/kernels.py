"""A reconstruction kernel's sharpness and noise, laid over a phantom slice.

A CT's noise is never white. Filtered back-projection shapes it by the ramp filter
and the kernel's window: its power spectrum rises with the spatial frequency, then
falls where the window cuts off, so its grain is a pixel or two across. A sharp
(lung or bone) kernel's window rises before it falls: edges overshoot, and the
grain is finest and strongest there, 25 to 80 HU in a lung series. Every chest CT
of a lung dataset has such a series beside its soft-tissue one. The pixel check was
tuned under white noise; its false holds under a lung kernel's grain are measured on
these slices (`pixel_trials`, session 47).

The kernel is applied to the field of view only: a scanner stores its padding after
reconstruction, so the padding's edge rings nowhere.
"""

from __future__ import annotations

import numpy as np

KERNELS = ("soft", "standard", "lung")
# Spatial frequencies in cycles per pixel (Nyquist is 0.5).
SOFT_CUTOFF = 0.25  # a soft kernel's window falls as a Gaussian past this
STANDARD_CUTOFF = 0.38  # a standard one's keeps the signal flat nearly to here
LUNG_BOOST = 0.6  # a lung kernel lifts the frequency LUNG_PEAK by this share (x 1.5 there)
LUNG_PEAK = 0.3
LUNG_CUTOFF = 0.45  # and cuts off steeply past this


def kernel_window(kernel: str, frequencies: np.ndarray) -> np.ndarray:
    """The kernel's window (its modulation transfer) at these radial frequencies."""
    if kernel == "soft":
        return np.exp(-((frequencies / SOFT_CUTOFF) ** 2))
    if kernel == "standard":
        return np.exp(-((frequencies / STANDARD_CUTOFF) ** 4))
    if kernel == "lung":
        boost = 1 + LUNG_BOOST * (frequencies / LUNG_PEAK) ** 2
        return boost * np.exp(-((frequencies / LUNG_CUTOFF) ** 6))
    raise ValueError(f"kernel must be one of {KERNELS}, not {kernel!r}")


def radial_frequencies(shape: tuple[int, int]) -> np.ndarray:
    """Each coefficient's radial frequency in a real 2-D FFT (`np.fft.rfft2`) of `shape`."""
    rows = np.fft.fftfreq(shape[0])[:, None]
    columns = np.fft.rfftfreq(shape[1])[None, :]
    return np.hypot(rows, columns)


def reconstructed(
    hounsfield: np.ndarray, rng: np.random.Generator, kernel: str, sigma: float
) -> np.ndarray:
    """The slice (HU) as `kernel` reconstructs it, with `sigma` HU of its noise (the
    ramp times the window, in power): float32. Padding (anything under air, outside
    the circle of the field of view) is stored back as it was, after the kernel."""
    size = hounsfield.shape
    frequencies = radial_frequencies(size)
    window = kernel_window(kernel, frequencies)
    rows, columns = np.ogrid[: size[0], : size[1]]
    radius = min(size) / 2
    outside = (rows - size[0] / 2 + 0.5) ** 2 + (columns - size[1] / 2 + 0.5) ** 2 > radius**2
    padding = hounsfield < -1000
    field = np.where(outside & padding, -1000.0, hounsfield)
    image = np.fft.irfft2(np.fft.rfft2(field) * window, s=size)
    grain = np.fft.irfft2(
        np.fft.rfft2(rng.normal(0.0, 1.0, size)) * np.sqrt(frequencies) * window, s=size
    )
    image += sigma * grain / grain.std()
    image[outside & padding] = hounsfield[outside & padding]
    return image.astype(np.float32)
