"""Generated trials of the text-in-pixels check: slices with identifying text burned in
(every font Debian ships in fonts-dejavu, fonts-liberation and fonts-freefont-ttf,
9 to 28 pixels, corners, bands and over the body, bright on dark and dark on bright,
full contrast and +150 HU, one or two lines, multi-frame objects with text in one
frame) and clean slices (`phantoms`), each run through `text_in_pixels` as a DICOM
file. Fake identities only.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import count as count_from
from itertools import islice
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom import dcmwrite
from pydicom.dataset import Dataset
from scipy import ndimage

from anon_pipeline.synthetic.cds import fake_patient, make_realistic_ct_slice
from anon_pipeline.synthetic.faded_streaks import FadedStreakSlices
from anon_pipeline.synthetic.kernels import reconstructed
from anon_pipeline.synthetic.other_phantoms import other_slice
from anon_pipeline.synthetic.phantoms import METAL, phantom_slice, stored_values

FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/truetype/liberation",
    "/usr/share/fonts/truetype/freefont",
)
SURNAMES = ("KOWALSKA", "Wiśniewski", "ŻÓŁKIEWSKA", "Dąbrowski", "Nowak", "Szczęsny", "Lis")
GIVEN = ("Żaneta", "Łukasz", "EWA", "Grzegorz", "Małgorzata", "Jan")
INSTITUTIONS = ("Szpital Bielański", "WESTWAY MEDICAL", "Centrum Onkologii", "BAPTIST MED CTR")
POSITIONS = ("corner", "band", "body")
# Text in one grey level 150 HU over (or under) the median of what it covers, as a
# renderer writes a fixed colour over the pixels; "+150" adds 150 HU to each pixel, so
# its letters carry the slice's noise and anatomy.
GREY = "+150 grey"


def fonts() -> list[str]:
    return sorted(str(path) for folder in FONT_DIRS for path in Path(folder).glob("*.ttf"))


def identifying_line(rng: random.Random) -> str:
    """A line a scanner or a workstation could burn in: a name, an ID, a PESEL, a date."""
    year, month, day = rng.randint(1930, 2010), rng.randint(1, 12), rng.randint(1, 28)
    choices = (
        f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}",
        f"{rng.choice(SURNAMES)}^{rng.choice(GIVEN)}",
        f"ID {rng.randint(100000, 99999999)}",
        f"PESEL {year % 100:02d}{month:02d}{day:02d}{rng.randint(10000, 99999)}",
        f"{year}-{month:02d}-{day:02d}",
        f"{day:02d}.{month:02d}.{year}",
        rng.choice(INSTITUTIONS),
        f"{rng.choice(SURNAMES)} {day:02d}/{month:02d}/{year}",
    )
    return rng.choice(choices)


@dataclass(frozen=True)
class TextTrial:
    font: str
    size: int
    position: str
    polarity: int  # 1: bright text, -1: dark text
    contrast: str  # "full", "+150" (added to what is under it) or GREY (one grey level)
    lines: tuple[str, ...]
    frames: int  # 1, or a multi-frame object with the text in one frame
    turn: int = 0  # quarter turns (np.rot90) of the text: 1 reads up the frame, -1 down

    @property
    def label(self) -> str:
        polarity = "bright" if self.polarity > 0 else "dark"
        font = Path(self.font).stem
        turned = {0: "", 1: " up", -1: " down"}[self.turn]
        return f"{font} {self.size}px {self.position} {polarity} {self.contrast}{turned}"


def text_trial(rng: random.Random, font_list: list[str], index: int) -> TextTrial:
    return drawn_trial(rng, font_list[index % len(font_list)], rng.randint(9, 28))


def drawn_trial(rng: random.Random, font: str, size: int, one_line: bool = False) -> TextTrial:
    """A trial of `font` at `size`, the rest drawn: where, which way, what contrast, one or
    two lines, and now and then a multi-frame object (`one_line`: one line, one frame)."""
    position = rng.choice(POSITIONS)
    polarity = rng.choice((1, -1))
    contrast = rng.choice(("full", "+150"))
    lines = tuple(identifying_line(rng) for _ in range(1 if one_line else rng.choice((1, 2))))
    frames = 1 if one_line else rng.choice((1, 1, 1, 3))
    return TextTrial(font, size, position, polarity, contrast, lines, frames)


def thin_trial(rng: random.Random, font_list: list[str], index: int) -> TextTrial:
    """A trial of the class the bench's draw holds about once in 300 (session 37): a thin
    monospaced face (FreeMono's strokes are under a pixel wide at 9 to 12 px) +150 HU
    over or under a corner's or a band's air, one or two lines."""
    mono = [font for font in font_list if Path(font).name.startswith("FreeMono")]
    return TextTrial(
        font=mono[index % len(mono)],
        size=rng.randint(9, 12),
        position=rng.choice(("corner", "band")),
        polarity=rng.choice((1, -1)),
        contrast="+150",
        lines=tuple(identifying_line(rng) for _ in range(rng.choice((1, 2)))),
        frames=1,
    )


def large_trial(rng: random.Random, font_list: list[str], index: int) -> TextTrial:
    """A trial past the issue's 9 to 28 px: a banner's or a stamp's letters, 30 to 96 px
    (a line may run off the frame), anywhere, either polarity and contrast, one line,
    one frame (session 41)."""
    return drawn_trial(rng, font_list[index % len(font_list)], rng.randint(30, 96), one_line=True)


def turned_trial(rng: random.Random, font_list: list[str], index: int) -> TextTrial:
    """A trial of the bench's draw written up or down the frame (session 41)."""
    return replace(text_trial(rng, font_list, index), frames=1, turn=rng.choice((1, -1)))


def grey_trial(rng: random.Random, font_list: list[str], index: int) -> TextTrial:
    """A trial of the bench's draw in one grey level (GREY), whatever contrast it drew
    (session 42): the issue's +150 HU read as a renderer draws it."""
    return replace(text_trial(rng, font_list, index), contrast=GREY)


def burn_in(hounsfield: np.ndarray, trial: TextTrial, rng: random.Random) -> np.ndarray:
    """The slice with the trial's text drawn in, as a real renderer draws it (anti-aliased).
    Dark text stands on a bright label box unless it is over the body. Text turned is
    drawn in the slice turned, which is turned back."""
    if trial.turn:
        turned = np.ascontiguousarray(np.rot90(hounsfield, trial.turn))
        drawn = burn_in(turned, replace(trial, turn=0), rng)
        return np.ascontiguousarray(np.rot90(drawn, -trial.turn))
    rows, columns = hounsfield.shape
    font = ImageFont.truetype(trial.font, trial.size)
    spacing = int(trial.size * 1.3)
    widths = [int(font.getlength(line)) for line in trial.lines]
    width, height = max(widths), spacing * len(trial.lines)
    if trial.position == "corner":
        x = rng.choice((rng.randint(2, 12), max(2, columns - width - rng.randint(2, 12))))
        y = rng.choice((rng.randint(2, 12), max(2, rows - height - rng.randint(2, 12))))
    elif trial.position == "band":
        x = rng.randint(2, max(2, columns - width - 2))
        y = rng.choice((rng.randint(0, 6), max(2, rows - height - rng.randint(0, 6))))
    else:
        x = rng.randint(columns // 4, max(columns // 4, columns - width - columns // 4))
        y = rng.randint(rows // 3, max(rows // 3, rows * 2 // 3 - height))
    mask = Image.new("L", (columns, rows), 0)
    draw = ImageDraw.Draw(mask)
    for number, line in enumerate(trial.lines):
        draw.text((x, y + number * spacing), line, fill=255, font=font)
    cover = np.asarray(mask, dtype=np.float32) / 255
    image = hounsfield.copy()
    if trial.contrast == "+150":
        return image + trial.polarity * 150 * cover
    if trial.contrast == GREY:
        level = float(np.median(image[cover > 0.5])) + trial.polarity * 150
        return image * (1 - cover) + level * cover
    if trial.polarity < 0 and trial.position != "body":
        image[max(0, y - 3) : y + height + 3, max(0, x - 3) : x + width + 3] = 1200
    value = 3000 if trial.polarity > 0 else -1000
    return image * (1 - cover) + value * cover


def dicom_bytes(template: Dataset, frames: list[np.ndarray]) -> bytes:
    """A CT file (multi-frame when there are several frames) with these stored values."""
    dataset = template  # rewritten in place: a Dataset's copy shares its elements
    if len(frames) > 1:
        dataset.NumberOfFrames = len(frames)
    elif "NumberOfFrames" in dataset:
        del dataset.NumberOfFrames
    dataset.PixelData = np.stack(frames).astype(np.int16).tobytes()
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


@dataclass
class TrialTally:
    """What the check did with each kind of trial."""

    held: Counter[str] = field(default_factory=Counter)
    released: list[str] = field(default_factory=list)
    total: int = 0
    # Trials by where their text stands and whether the slice has a metal implant's
    # streaks ("body, streaks"): most misses are text over the body across streaks.
    drawn: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    # Held, but with no region over the text: a chance line of the slice's lungs held
    # it, as a clean slice's false holds come. The check never saw that text, and a rule
    # that takes away false holds releases these too.
    lucky: list[str] = field(default_factory=list)


class SliceSource:
    """Body-like slices, drawn from a pool of phantoms with fresh noise each: a phantom
    costs a quarter of a second, noise a few milliseconds."""

    def __init__(
        self,
        seed: int,
        pool: int = 24,
        region: str | None = None,
        lungs: str = "crisp",
        noise: float = 8.0,
        grain: float | str = 0.0,
    ) -> None:
        generator = np.random.default_rng(seed)
        self.noise = np.random.default_rng(seed + 1)
        self.phantoms = [phantom_slice(generator, region=region, lungs=lungs) for _ in range(pool)]
        self.sigma = noise  # HU of noise over the phantom's own: 30 and up is low-dose
        # Pixels of blur (0 is white noise, 1 a soft kernel's grain), or the name of a
        # reconstruction kernel whose grain and sharpness the slice takes (`kernels`).
        self.grain = grain
        self.count = 0

    def next(self) -> np.ndarray:
        base = self.phantoms[self.count % len(self.phantoms)]
        self.count += 1
        if isinstance(self.grain, str):
            return reconstructed(base, self.noise, self.grain, self.sigma)
        if not self.grain:  # drawn as every earlier figure's slices were
            return base + self.noise.normal(0, self.sigma, base.shape).astype(np.float32)
        noise = ndimage.gaussian_filter(self.noise.normal(0, 1, base.shape), self.grain)
        return base + (self.sigma / noise.std() * noise).astype(np.float32)


class OtherSlices:
    """Slices drawn in another style (`other_phantoms`), each its own, in turn: text
    trials over anatomy the check was never tuned on."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def next(self) -> np.ndarray:
        return other_slice(self.rng)[0]


def template_slice() -> Dataset:
    return make_realistic_ct_slice(fake_patient(7), "trial", 1, 1)


def run_text_trials(
    count: int,
    seed: int = 24,
    noise: float = 8.0,
    draw: Callable[[random.Random, list[str], int], TextTrial] = text_trial,
    other_style: bool = False,
    kernel: str | None = None,
) -> tuple[TrialTally, float]:
    """`count` slices (or multi-frame objects) with identifying text, over white `noise`
    (HU; `kernel`'s grain where named), each trial drawn by `draw` (over slices drawn in
    another style if `other_style`); returns what was held or released, and the
    seconds the check took."""
    import time

    from anon_pipeline.engine.files.pixel_check import text_in_pixels

    template, tally, seconds = template_slice(), TrialTally(), 0.0
    trials = drawn_trials(seed, noise, draw, other_style, kernel)
    for trial, frames, marked, under in islice(trials, count):
        data = dicom_bytes(template, frames)
        started = time.perf_counter()
        held = text_in_pixels(data, ())
        seconds += time.perf_counter() - started
        tally.total += 1
        # The phantoms draw metal only with its streaks, and nothing else as bright.
        kind = f"{trial.position}, {'streaks' if (under >= METAL).any() else 'no streaks'}"
        tally.drawn[kind] += 1
        if held is None:
            tally.released.append(trial.label)
            tally.missed[kind] += 1
        else:
            tally.held[held.kind.value] += 1
            drawn = frames[marked] != stored_values(under)
            if not regions_over(data, marked, drawn):
                tally.lucky.append(trial.label)
    return tally, seconds


def drawn_trials(
    seed: int,
    noise: float = 8.0,
    draw: Callable[[random.Random, list[str], int], TextTrial] = text_trial,
    other_style: bool = False,
    kernel: str | None = None,
) -> Iterator[tuple[TextTrial, list[np.ndarray], int, np.ndarray]]:
    """The trials `run_text_trials` checks, in its order: each trial, its frames (stored
    values), which of them carries the text, and the slice (HU) the text was burned into
    (after `kernel`, where named, as a scanner's overlay is); over slices drawn in
    another style (`OtherSlices`, their own noise) if `other_style`."""
    rng, font_list = random.Random(seed), fonts()
    if other_style:
        source: SliceSource | OtherSlices = OtherSlices(seed)
    else:
        source = SliceSource(seed, noise=noise, grain=kernel or 0.0)
    for index in count_from(0):
        trial = draw(rng, font_list, index)
        frames = [stored_values(source.next()) for _ in range(trial.frames)]
        marked = rng.randrange(trial.frames)
        under = source.next()
        frames[marked] = stored_values(burn_in(under, trial, rng))
        yield trial, frames, marked, under


def replayed_trial(seed: int, noise: float, number: int) -> tuple[str, np.ndarray, np.ndarray]:
    """Trial `number` of `run_text_trials(..., seed, noise)`, drawn again as it draws
    it, so that a test can hold one of the bench's misses: its label, its marked frame
    (stored values), and where its text changed the frame."""
    trial, frames, marked, under = next(islice(drawn_trials(seed, noise), number, None))
    return trial.label, frames[marked], frames[marked] != stored_values(under)


def regions_over(data: bytes, index: int, drawn: np.ndarray) -> bool:
    """Whether a region the closer look finds in the file's frame `index` covers a pixel
    of the `drawn` text, as the check sees that frame."""
    from anon_pipeline.engine.dicom.frames import frames_of
    from anon_pipeline.engine.dicom.pixel_text import STROKE_CONTRAST, text_regions

    frames = frames_of(data)
    assert frames is not None  # the trials' own CT files
    frame = list(frames)[index]
    return any(
        drawn[region.top : region.bottom, region.left : region.right].any()
        for region in text_regions(frame, STROKE_CONTRAST / frames.slope)
    )


def run_clean_trials(
    count: int,
    seed: int = 25,
    anatomies: int = 24,
    lungs: str = "crisp",
    noise: float = 8.0,
    grain: float | str = 0.0,
) -> tuple[TrialTally, float]:
    """`count` clean body-like slices drawn from `anatomies` phantoms, each with fresh
    `noise` (HU; white, blurred by `grain` pixels as a soft kernel's is, or the grain and
    sharpness of the kernel `grain` names: `kernels.reconstructed`); returns what
    was held, and the check's seconds. Lungs other than the crisp ones the check was tuned
    on are all chests, so that every slice has them."""
    region = None if lungs == "crisp" else "chest"
    source = SliceSource(seed, anatomies, region, lungs, noise, grain)
    return checked_clean((source.next(), None) for _ in range(count))


def run_other_trials(count: int, seed: int = 45) -> tuple[TrialTally, float]:
    """`count` clean slices drawn in another style (`other_phantoms`), each its own
    anatomy, noise and kernel; returns what was held (as "kernel: kind"), and the check's
    seconds."""
    rng = np.random.default_rng(seed)
    return checked_clean(other_slice(rng) for _ in range(count))


def run_faded_trials(count: int, seed: int = 61) -> tuple[TrialTally, float]:
    """`count` clean slices of the bench's phantoms with a metal's straight streaks
    blurred and fading (`faded_streaks`); returns what was held, and the check's seconds."""
    source = FadedStreakSlices(seed)
    return checked_clean((source.next(), None) for _ in range(count))


def checked_clean(slices: Iterator[tuple[np.ndarray, str | None]]) -> tuple[TrialTally, float]:
    """Each slice (HU, and the kernel it was drawn with or None) through `text_in_pixels`
    as a CT file: what was held (by kind, or "kernel: kind"), and the check's seconds."""
    import time

    from anon_pipeline.engine.files.pixel_check import text_in_pixels

    template = template_slice()
    tally, seconds = TrialTally(), 0.0
    for hounsfield, kernel in slices:
        data = dicom_bytes(template, [stored_values(hounsfield)])
        started = time.perf_counter()
        held = text_in_pixels(data, ())
        seconds += time.perf_counter() - started
        tally.total += 1
        if held is None:
            tally.released.append("clean")
        else:
            tally.held[held.kind.value if kernel is None else f"{kernel}: {held.kind.value}"] += 1
    return tally, seconds
