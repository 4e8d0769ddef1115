"""Color hints: user points ("this coat is red") as extra network inputs.

As in Zhang, Zhu et al., "Real-Time User-Guided Image Colorization with Learned Deep Priors"
(SIGGRAPH 2017), a hint model sees, beside the normalized lightness, three more channels at
the working resolution: the hint chroma (normalized a and b, 0 where there is no hint) and a
mask (1 where a hint is). With every hint channel at 0 it colorizes automatically.

During training the hints are drawn from the truth (``sample_training_hints``): many counts,
patch sizes and places, and some images with none, so automatic quality holds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from PIL import Image

from huenet import color

HINT_CHANNELS = 3  # normalized a, normalized b, mask

# Training draws: share of images with no hint at all; the count of the others (geometric,
# mean 1 / _GEOMETRIC_P, or with _MANY_SHARE of them uniform up to _MANY_MAX, for the dense
# hint regime); square patches of 1 to _MAX_PATCH pixels at the training resolution.
_NO_HINT_SHARE = 0.3
_GEOMETRIC_P = 1 / 8
_MANY_SHARE = 0.15
_MANY_MAX = 160
_MAX_PATCH = 3


def empty_hints(height: int, width: int) -> np.ndarray:
    """No hints: the hint channels of an automatic colorization, float32 (height, width, 3)."""
    return np.zeros((height, width, HINT_CHANNELS), np.float32)


def sample_training_hints(
    ab: np.ndarray,
    rng: np.random.Generator,
    no_hint_share: float | None = None,
    max_patch: int = _MAX_PATCH,
    colorful_share: float = 0.0,
) -> np.ndarray:
    """Hint channels drawn from the truth, the SIGGRAPH 2017 way.

    Args:
        ab: the truth's ab in Lab units, (batch, height, width, 2).
        rng: the batch's generator (its draws make a resumed run equal an unbroken one).
        no_hint_share: the share of images left without hints (default 0.3).
        max_patch: the largest patch side, pixels (sides are uniform from 1).
        colorful_share: the share of hints placed where the truth is colorful (a place drawn
            with probability proportional to its chroma) rather than anywhere.
            People put hints where the automatic colors are wrong, and an automatic network
            is most wrong where the truth is most colorful (it mutes what it is unsure of).
    Returns:
        float32 (batch, height, width, 3): each hint is a square patch carrying the patch's
        mean ab (normalized), with the mask at 1.
    """
    count, height, width, _ = ab.shape
    channels = np.zeros((count, height, width, HINT_CHANNELS), np.float32)
    no_hint_share = _NO_HINT_SHARE if no_hint_share is None else no_hint_share
    for index in range(count):
        if rng.random() < no_hint_share:
            continue
        if rng.random() < _MANY_SHARE:
            points = int(rng.integers(1, _MANY_MAX + 1))
        else:
            points = int(rng.geometric(_GEOMETRIC_P))
        sizes = rng.integers(1, max_patch + 1, points)
        tops = (rng.random(points) * (height - sizes + 1)).astype(int)
        lefts = (rng.random(points) * (width - sizes + 1)).astype(int)
        colorful = rng.random(points) < colorful_share
        if colorful.any():
            weight = np.hypot(*np.moveaxis(ab[index].astype(np.float64), -1, 0)).ravel() + 1e-6  # gray: uniform
            places = rng.choice(height * width, int(colorful.sum()), p=weight / weight.sum())
            centre_rows, centre_columns = np.divmod(places, width)
            tops[colorful] = np.clip(centre_rows - sizes[colorful] // 2, 0, height - sizes[colorful])
            lefts[colorful] = np.clip(centre_columns - sizes[colorful] // 2, 0, width - sizes[colorful])
        for size, top, left in zip(sizes, tops, lefts):
            patch = (index, slice(top, top + size), slice(left, left + size))
            channels[patch + (slice(0, 2),)] = ab[patch].reshape(-1, 2).mean(axis=0) / color.AB_SCALE
            channels[patch + (2,)] = 1.0
    return channels


# --- user hints -----------------------------------------------------------------------------

MAX_HINTS = 10_000  # more is a mistake (or an attack), not a colorization


class HintError(ValueError):
    """A hint that cannot be used; the message says which one and why."""


@dataclasses.dataclass(frozen=True)
class Hint:
    """One user hint: the square patch of side ``size`` (input pixels) centered at column ``x``,
    row ``y`` has the chroma ``ab`` (Lab units; the lightness always comes from the image).
    ``size`` None: about 1% of the image's long side, at least 1 pixel."""

    x: float
    y: float
    ab: tuple[float, float]
    size: float | None = None
    rgb: tuple[int, int, int] = (0, 0, 0)  # the color as given, for display

    def side(self, image_size: tuple[int, int]) -> float:
        """The patch side in input pixels for an image of ``image_size`` (height, width)."""
        return self.size if self.size is not None else max(1.0, round(0.01 * max(image_size)))


def parse_color(value: Any) -> tuple[int, int, int]:
    """``"#rrggbb"`` or an (r, g, b) of whole numbers 0-255 -> (r, g, b); HintError otherwise."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 7 and text[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in text[1:]):
            return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)
        raise HintError(f"color {value!r} is not #rrggbb")
    if (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        return int(value[0]), int(value[1]), int(value[2])
    raise HintError(f"color {value!r} is neither #rrggbb nor three whole numbers 0-255")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise HintError(f"{what} {value!r} is not a number")
    number = float(value)
    if not np.isfinite(number):
        raise HintError(f"{what} {value!r} is not a finite number")
    return number


def make_hint(x: Any, y: Any, color_value: Any, size: Any = None) -> Hint:
    """A checked hint from user values (position in input pixels, color, optional patch side)."""
    x, y = _number(x, "x"), _number(y, "y")
    rgb = parse_color(color_value)
    if size is not None:
        size = _number(size, "size")
        if size <= 0:
            raise HintError(f"size {size:g} must be positive")
    lab = color.rgb_to_lab(np.array([[rgb]], np.uint8))[0, 0]
    return Hint(x, y, (float(lab[1]), float(lab[2])), size, rgb)


def parse_hints(hints: Any) -> list[Hint]:
    """User hints -> checked ``Hint`` objects.

    Accepts ``Hint`` objects, tuples ``(x, y, color)`` or ``(x, y, color, size)`` and
    mappings ``{"x", "y", "color", "size"}`` (the JSON form). Raises HintError naming the
    hint (by its position in the list) and the problem.
    """
    if hints is None:
        return []
    if isinstance(hints, (str, bytes, dict)) or not hasattr(hints, "__len__"):
        raise HintError(f"hints must be a list, got {type(hints).__name__}")
    if len(hints) > MAX_HINTS:
        raise HintError(f"{len(hints)} hints: at most {MAX_HINTS} are allowed")
    parsed = []
    for index, hint in enumerate(hints):
        try:
            if isinstance(hint, Hint):
                parsed.append(hint)
            elif isinstance(hint, dict):
                unknown = sorted(set(hint) - {"x", "y", "color", "size"})
                if unknown:
                    raise HintError(f"unknown field {unknown[0]!r} (fields: x, y, color, size)")
                missing = [key for key in ("x", "y", "color") if key not in hint]
                if missing:
                    raise HintError(f"no {missing[0]!r}")
                parsed.append(make_hint(hint["x"], hint["y"], hint["color"], hint.get("size")))
            elif isinstance(hint, (list, tuple)) and len(hint) in (3, 4):
                parsed.append(make_hint(*hint))
            else:
                raise HintError(f"{hint!r} is not (x, y, color[, size]) nor a mapping")
        except HintError as error:
            raise HintError(f"hint {index + 1}: {error}") from None
    return parsed


def check_inside(hints: list[Hint], image_size: tuple[int, int]) -> None:
    """HintError for a hint outside an image of ``image_size`` (height, width) or larger than it."""
    height, width = image_size
    for index, hint in enumerate(hints):
        if not (0 <= hint.x < width and 0 <= hint.y < height):
            raise HintError(f"hint {index + 1}: ({hint.x:g}, {hint.y:g}) is outside the {width}x{height} image")
        if hint.size is not None and hint.size > max(height, width):
            raise HintError(f"hint {index + 1}: size {hint.size:g} is larger than the {width}x{height} image")


# A hint colors the thing at its center: inside its patch only the working-grid pixels whose
# lightness is within this many L units of the center pixel's are hinted (a patch that
# overlaps an edge leaves the other side alone). Chosen on validation photos, 2026-12-06
# (docs/experiment-log.md, "a hint colors the thing at its center"): one user-like hint on 12
# BSDS500 val photos +0.28 dB on the whole photo instead of +0.22, near it +0.94 instead of
# +0.68; the first 30 imagenet-sample val photos as before under random patches, +0.27 dB at
# 10 user-like hints. 5 and 15 scored within 0.02 dB of it on the scenes; 3 lost near the hints.
EDGE = 10.0


def render(
    hints: list[Hint],
    image_size: tuple[int, int],
    working: tuple[int, int],
    padded: tuple[int, int],
    lightness: np.ndarray | None = None,
    edge: float | None = None,
) -> np.ndarray:
    """Hint channels on the network's grid: float32 (padded[0], padded[1], 3).

    ``image_size`` is the input's (height, width), ``working`` the size it is shrunk to
    (``inference.working_shape``) and ``padded`` that size padded for the network. Each
    hint's patch, mapped onto the working grid, covers every cell it overlaps (at least the
    cell of its center); where two overlap, the later hint wins. ``lightness``: Lab L on the
    working grid (at least ``working``); given, a patch covers only the cells whose L is
    within ``edge`` (None: ``EDGE``) of its center cell's, and always the center cell.
    """
    edge = EDGE if edge is None else float(edge)
    channels = np.zeros((*padded, HINT_CHANNELS), np.float32)
    height, width = image_size
    scale_rows, scale_columns = working[0] / height, working[1] / width
    for hint in hints:
        half = hint.side(image_size) / 2
        rows = _cells(hint.y, half, scale_rows, working[0])
        columns = _cells(hint.x, half, scale_columns, working[1])
        if lightness is None:
            covered = np.ones((rows.stop - rows.start, columns.stop - columns.start), bool)
        else:
            row, column = _cell(hint.y, scale_rows, working[0]), _cell(hint.x, scale_columns, working[1])
            covered = np.abs(np.asarray(lightness[rows, columns], np.float32) - lightness[row, column]) <= edge
            covered[row - rows.start, column - columns.start] = True  # the patch always holds its center
        channels[rows, columns][covered] = (hint.ab[0] / color.AB_SCALE, hint.ab[1] / color.AB_SCALE, 1.0)
    return channels


def _cell(center: float, scale: float, count: int) -> int:
    """The working-grid cell of a hint center's pixel middle along one axis."""
    return min(count - 1, int((center + 0.5) * scale))


def _cells(center: float, half: float, scale: float, count: int) -> slice:
    """The working-grid cells a patch [center - half, center + half) overlaps along one axis."""
    middle = _cell(center, scale, count)
    low = min(middle, max(0, int(np.floor((center + 0.5 - half) * scale))))
    high = max(middle + 1, min(count, int(np.ceil((center + 0.5 + half) * scale))))
    return slice(low, high)


# --- honoring hints exactly ----------------------------------------------------------------------

_MAX_ITERATIONS = 400  # conjugate gradient steps; the output grid has a few thousand cells
_TOLERANCE = 1e-4  # relative residual at which the solve stops
# A model's settings["hint_decay"] overrides it (None: the network alone). Chosen on imagenet-sample
# val photos 400-479 (docs/experiment-log.md, 2026-12-03).
DEFAULT_HINT_DECAY = 1e-4
# Neighbours whose decoded colors differ share a correction less: the gray-level affinity times
# exp(-|ab_r - ab_s|^2 / COLOR_SCALE^2), ab in Lab units. Two cells of one gray level that the
# network colors differently are likely different things. Chosen on imagenet-sample val photos
# 400-479 and BSDS500 val 0-59 (experiments/studies/hint_affinities.py; docs/experiment-log.md,
# 2026-12-03).
COLOR_SCALE = 3.0
# The hint colors spread alone (no network) weigh in where the network is unsure: this share
# times the cell's spread over the image's median times the hints' reach; they spread with
# this decay. Chosen on imagenet-sample val photos 400-479 and BSDS500 val 0-59
# (experiments/studies/hint_affinities.py, "@0.4 ug"; docs/experiment-log.md, 2026-12-03).
LEVIN_SHARE = 0.4
LEVIN_DECAY = 3e-5
# They are solved on a grid this many times coarser (2x2 cells pooled) and brought back
# bilinearly: on the 288 px network's grid (about 100 x 144 cells, 1 MP photos) the blend
# added 0.05-0.10 s to a re-render's hint work on the output grid, 0.02-0.04 s pooled, and
# scored as well on both hint protocols (docs/experiment-log.md, 2026-12-07, "the hint
# colors alone blended in again").
LEVIN_POOL = 2

_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def _shift(values: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """values[r + dr, c + dc] at (r, c), 0 off the grid."""
    out = np.zeros_like(values)
    height, width = values.shape[:2]
    out[max(0, -dr) : height - max(0, dr), max(0, -dc) : width - max(0, dc)] = values[
        max(0, dr) : height - max(0, -dr), max(0, dc) : width - max(0, -dc)
    ]
    return out


def _affinities(lightness: np.ndarray, ab: np.ndarray | None = None, color_scale: float = COLOR_SCALE) -> np.ndarray:
    """Symmetric affinities to the 8 neighbours, (8, h, w): the gray level's, exp(-(L_r - L_s)^2 /
    (sigma_r sigma_s)) with sigma^2 from each 3x3 window's variance as in Levin et al. (2004),
    times the decoded colors' exp(-|ab_r - ab_s|^2 / COLOR_SCALE^2) when ``ab`` is given."""
    level = np.asarray(lightness, np.float64) / 100.0
    window = _windows(level)
    nearest = ((window[:-1] - level[None]) ** 2).min(axis=0)
    variance = np.maximum(np.maximum(window.var(axis=0) * 0.6, -nearest / np.log(0.01)), 2e-6)
    sigma = np.sqrt(variance)
    weights = np.stack(
        [
            np.exp(-((_shift(level, dr, dc) - level) ** 2) / (sigma * np.maximum(_shift(sigma, dr, dc), 1e-12)))
            for dr, dc in _OFFSETS
        ]
    )
    if ab is not None:
        chroma = np.asarray(ab, np.float64) / color_scale
        weights = weights * np.stack(
            [np.exp(-((_shift(chroma, dr, dc) - chroma) ** 2).sum(axis=-1)) for dr, dc in _OFFSETS]
        )
    inside = np.stack([_shift(np.ones_like(level), dr, dc) for dr, dc in _OFFSETS]) > 0
    return np.where(inside, weights, 0.0)


@dataclasses.dataclass(frozen=True)
class Spreading:
    """How far a hint's color carries (``propagate``).

    ``decay``: the pull toward no change away from the hints, per unit of affinity (larger:
    shorter reach), for one hint; with N hints it is ``decay`` / N ** ``count_power`` (many
    hints bound one another, so each may reach farther). ``levin_share``: the weight of the
    hint colors spread alone where the network is unsure (0: none). ``color_scale``: Lab
    units of difference between two neighbours' predicted colors at which they share a
    correction e^-1 as much. ``flat_share``: the decay on a flat cell (no gray variation in
    its 3x3 window) as a share of that on a textured one (a standard deviation of
    ``texture_scale`` L units or more), so that a hint fills a flat object but fades across
    texture. A model's settings may hold its own ``hint_decay``."""

    decay: float = DEFAULT_HINT_DECAY
    levin_share: float = LEVIN_SHARE
    color_scale: float = COLOR_SCALE
    flat_share: float = 1.0
    texture_scale: float = 2.0
    count_power: float = 0.0


# The product's spreading: hints stay on the thing they are put on. Chosen under both
# protocols of benchmarks/bench_hints.py (user-like: each next hint where the colors are most
# wrong; random 6x6 patches) on validation photos only, 2026-12-06 (BSDS500 val and
# imagenet-sample val photos by name; experiments/studies/hint_locality.py;
# docs/experiment-log.md). Against the 0.2.0 product (decay 1e-4, the hints' decoding on the
# whole photo, the hint colors alone blended in): one hint +0.55 dB instead of -1 dB; the
# decay falling with the hint count keeps the random protocol where it was (28.59 dB at 10
# hints, 31.62 at 100, as before) and adds 0.4-0.7 dB at 3-10 user-like hints; the blend
# added 0.02-0.1 dB for twice the time and is left out; a smaller decay on flat cells
# (flat_share 0.3) filled flat objects but carried hints over flat water and sky, evenly on
# both protocols, and is left out here. A model may set its own ``hint_decay`` and
# ``hint_flat_share`` (``Colorizer.spreading``): photo 0.2.3 at 288 has 6e-4 and 0.1, which its
# finer grid needed to pass both two-hint tests (docs/experiment-log.md, "hints at 288").
# The blend came back on 2026-12-07 (share 0.5; 0.4 before it was left out), solved on a
# coarser grid (``LEVIN_POOL``): with photo 0.2.3, on all 823 imagenet-sample val photos, it
# added 0.11 dB at 10 random patches and 0.26 at 100 (0.6 and 0.65 on the first 20, where it
# was chosen), and kept both two-hint tests and one hint's far pixels on BSDS500 val scenes
# (docs/experiment-log.md, "the hint colors alone blended in again").
LOCAL = Spreading(decay=5e-4, levin_share=0.5, count_power=1.0)


def propagate(
    ab: np.ndarray,
    lightness: np.ndarray,
    channels: np.ndarray,
    decay: float | Spreading,
    unsure: np.ndarray | None = None,
    automatic: np.ndarray | None = None,
    hint_count: int = 1,
) -> np.ndarray:
    """The network's ab corrected so that every hint's color holds where it was put.

    The correction (hint ab minus predicted ab) is known on the hint cells; elsewhere it is
    the smoothest field under gray-level affinities, as Levin, Lischinski and Weiss (2004)
    spread hint colors, weakened between cells the network colors differently
    (``Spreading.color_scale``): it minimizes sum over neighbours w_rs (x_r - x_s)^2 + decay *
    d_r x_r^2 (d_r: a cell's total affinity), so that ``decay`` > 0 pulls it toward no
    correction away from the hints. The hints' reach (1 on a hint, falling off as a correction
    does) is solved the same way.

    Where the network is unsure, the hint colors themselves spread the same way (Levin et
    al.'s colorization, no network; ``LEVIN_DECAY``) weigh in too: the corrected colors are
    blended with them, the share ``levin_share`` times the cell's ``unsure`` over the image's
    median times the hints' reach there. ``automatic``: the colors without hints, when ``ab``
    was decoded otherwise for the hints (``Colorizer.hinted_decoding``): away from the hints
    the result returns to them, as the reach falls. The correction and the reach are solved
    together by conjugate gradients in NumPy on the output grid (the working size over the
    stride: a few thousand cells), the hint colors alone apart on a grid ``LEVIN_POOL`` times
    coarser (``_levin_pooled``).

    Args:
        ab: predicted ab (h, w, 2), Lab units, on the network's output grid.
        lightness: Lab L (h, w) on the same grid.
        channels: hint channels (h, w, 3) on the same grid (``render``, pooled to it).
        decay: a ``Spreading``, or its decay alone (the other fields at their defaults).
        unsure: the network's spread per cell (``inference.spread``), or None: no blend.
        automatic: the colors without hints (h, w, 2), or None: ``ab``.
        hint_count: how many hints the user gave (``Spreading.count_power``).
    Returns:
        ab (h, w, 2) float32.
    """
    spreading = decay if isinstance(decay, Spreading) else Spreading(decay=float(decay))
    fixed = channels[..., 2] > 0
    if not fixed.any():
        return ab if automatic is None else automatic
    hinted = channels[..., :2] * color.AB_SCALE
    # The fields solved for, each fixed on the hint cells: the correction (a, b) and the
    # hints' reach (1 on them); the hint colors alone are solved apart (``_levin_pooled``).
    known = np.concatenate([hinted - ab, np.ones_like(hinted[..., :1])], axis=-1)
    decays = np.full(3, spreading.decay / max(1, hint_count) ** spreading.count_power)
    if spreading.flat_share < 1.0:  # flat places hold a correction longer than textured ones
        texture = _texture(lightness) / spreading.texture_scale
        decays = (spreading.flat_share + (1.0 - spreading.flat_share) * np.minimum(texture**2, 1.0))[..., None] * decays
    known = np.where(fixed[..., None], known, 0.0)
    base = ab if automatic is None else automatic
    solved = _smoothest(known, fixed, _affinities(lightness, base, spreading.color_scale), decays)
    reach = np.clip(solved[..., 2], 0.0, 1.0)
    result = ab + solved[..., :2]
    if unsure is not None and spreading.levin_share > 0:
        alone = _levin_pooled(hinted, fixed, lightness, base, spreading.color_scale)
        share = spreading.levin_share * np.asarray(unsure, np.float64) / max(float(np.median(unsure)), 1e-6) * reach
        share = np.clip(share, 0.0, 1.0)[..., None]
        result = (1.0 - share) * result + share * alone
    if automatic is not None:  # back to the automatic colors as the reach falls
        result = result + (1.0 - reach)[..., None] * (automatic - ab)
    return np.where(fixed[..., None], hinted, result).astype(np.float32)


def _pool(values: np.ndarray, size: int) -> np.ndarray:
    """Means over size x size blocks of (h, w, ...), the last partial blocks included."""
    height, width = values.shape[:2]
    rows, cols = -(-height // size), -(-width // size)
    padded = np.pad(
        values, [(0, rows * size - height), (0, cols * size - width)] + [(0, 0)] * (values.ndim - 2), mode="edge"
    )
    return padded.reshape(rows, size, cols, size, *values.shape[2:]).mean(axis=(1, 3))


def _levin_pooled(
    hinted: np.ndarray, fixed: np.ndarray, lightness: np.ndarray, base: np.ndarray, color_scale: float
) -> np.ndarray:
    """The hint colors alone spread as Levin et al. (2004) spread them, under the same
    affinities, on a grid ``LEVIN_POOL`` times coarser (a coarse cell is hinted with the mean of
    its hinted cells; the decay scaled to keep the reach) and brought back bilinearly: (h, w, 2)."""
    size = LEVIN_POOL
    count = _pool(fixed.astype(np.float64), size)
    coarse_fixed = count > 0
    known = _pool(np.where(fixed[..., None], hinted, 0.0), size) / np.maximum(count, 1e-12)[..., None]
    weights = _affinities(_pool(lightness, size), _pool(base, size), color_scale)
    solved = _smoothest(known, coarse_fixed, weights, np.full(2, LEVIN_DECAY * size * size))
    height, width = fixed.shape
    box = (0, 0, width / size, height / size)  # the coarse cells the fine grid covers
    return np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(plane, np.float32)).resize(
                    (width, height), Image.Resampling.BILINEAR, box=box
                )
            )
            for plane in np.moveaxis(solved, -1, 0)
        ],
        axis=-1,
    )


def _windows(level: np.ndarray) -> np.ndarray:
    """Each cell's 3x3 window, (9, h, w): its 8 neighbours in ``_OFFSETS``' order, then the cell
    itself; the edge repeated beyond the grid."""
    height, width = level.shape
    padded = np.pad(level, 1, mode="edge")
    return np.stack([padded[1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width] for dr, dc in (*_OFFSETS, (0, 0))])


def _texture(lightness: np.ndarray) -> np.ndarray:
    """The standard deviation of L over each cell's 3x3 window, Lab units (h, w)."""
    return _windows(np.asarray(lightness, np.float64)).std(axis=0)


def _smoothest(known: np.ndarray, fixed: np.ndarray, weights: np.ndarray, decays: np.ndarray) -> np.ndarray:
    """Each channel of ``known`` (h, w, c) kept on the ``fixed`` cells and, elsewhere, the
    minimum of sum w_rs (x_r - x_s)^2 + decay_c d_r x_r^2 under ``weights`` (8, h, w).

    Conjugate gradients with a Jacobi preconditioner, computed channels first, (c, h, w), so
    that every array operation runs along whole rows (channels last, NumPy's inner loops ran
    3 long; the solve took twice as long), in float32: half the memory traffic of float64,
    and within 0.02 Lab units of it on a 288 px grid with 10 hints (2026-12-06). The loop
    writes into buffers it owns (no temporaries per step): 15% less time on a 101 x 144 grid,
    2026-12-06. A coarse-grid first guess (2x2 cells pooled, down to 13 x 18) saved only
    10-25% of the steps and is left out (docs/experiment-log.md)."""
    channels = np.ascontiguousarray(np.moveaxis(np.asarray(known, np.float32), -1, 0))  # (c, h, w)
    weights = np.asarray(weights, np.float32)[:, None]  # (8, 1, h, w)
    degree = weights.sum(axis=0)  # (1, h, w)
    free = (~fixed[None]).astype(np.float32)  # 1 on the cells solved for, 0 on the hints'
    decays = np.moveaxis(np.broadcast_to(np.asarray(decays, np.float32), known.shape), -1, 0)  # (c, h, w)
    diagonal = np.maximum(degree * (1.0 + decays), 1e-12)  # float32, as its factors
    inverse = free / diagonal  # the preconditioner, 0 on fixed cells
    height, width = fixed.shape
    padded = np.zeros((channels.shape[0], height + 2, width + 2), np.float32)  # x with a border of 0: off the grid
    scratch = np.empty_like(channels)

    def neighbours(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """sum_k weights[k] * x[r + dr, c + dc] (0 off the grid), into ``out``: the solve's
        inner loop, so it reads views of one padded buffer."""
        padded[:, 1:-1, 1:-1] = x
        for k, (dr, dc) in enumerate(_OFFSETS):
            view = padded[:, 1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width]
            if k == 0:
                np.multiply(weights[k], view, out=out)
            else:
                np.multiply(weights[k], view, out=scratch)
                out += scratch
        return out

    def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # per channel, (c, 1, 1)
        return np.einsum("cij,cij->c", a, b)[:, None, None]

    right = neighbours(channels, np.empty_like(channels)) * free
    x = np.zeros_like(right)
    residual = right.copy()
    z = residual * inverse
    direction = z.copy()
    product = np.empty_like(right)
    rz = dot(residual, z)
    limit = (_TOLERANCE * np.sqrt(dot(right, right)) + 1e-12) ** 2  # on the squared residual
    for _ in range(_MAX_ITERATIONS):
        if np.all(dot(residual, residual) <= limit):
            break
        neighbours(direction, product)  # the operator on free cells: diagonal x - neighbours
        np.multiply(diagonal, direction, out=scratch)
        np.subtract(scratch, product, out=product)
        product *= free
        step = rz / np.maximum(dot(direction, product), 1e-30)
        x += step * direction
        residual -= step * product
        np.multiply(residual, inverse, out=z)
        new_rz = dot(residual, z)
        direction *= new_rz / np.maximum(rz, 1e-30)
        direction += z
        rz = new_rz
    return np.where(fixed[..., None], known, np.moveaxis(x, 0, -1))
