"""Inference: lightness in, color out, at any size.

The network runs at a working resolution recorded with the model (a long side above
``working_size`` is shrunk to it, keeping the aspect ratio). Its ab prediction is upsampled
bilinearly to the full size and combined with the input's own full-resolution gray levels,
strip by strip, so luminance detail is never lost and memory stays bounded.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import glob
import os
import time
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from huenet import color
from huenet import hints as hints_module
from huenet.images import ImageError, InputImage, read_image
from huenet.modelfile import ColorModel, load_model

_STRIP_ROWS = 256
_MAX_BATCH = 256
_BATCH_PIXELS = 256 * 64 * 64  # network input pixels in one batch, at most
# Vividness below 0 pulls toward the training colors' common, muted bins (a network that
# paints unfamiliar scenes too colorfully); above 0 toward rare, saturated ones.
VIVIDNESS_RANGE = (-2.0, 3.0)
# Chroma contrast: each pixel's ab moved away from the image's mean ab by this factor (1: as
# decoded). Above about 0.9 of the truth's colorfulness it costs less PSNR than more vividness
# (docs/experiment-log.md, 2026-12-07).
CONTRAST_RANGE = (0.5, 3.0)


@dataclasses.dataclass(frozen=True)
class Decoding:
    """How ab-bin logits become ab; ``None`` fields take the model's calibrated values.

    ``vividness`` is the strength of a chroma-prior correction: the predicted distribution
    is multiplied by the class-rebalancing weights of Zhang et al. (learned from the
    training colors' frequencies) raised to this power. 0 is the faithful estimate; 1 is
    about what training with rebalancing gives, favoring rarer, more saturated colors.
    ``temperature`` is the annealed-mean temperature (1: plain mean; lower: toward the mode).
    ``vivid`` selects the model's calibrated vivid settings. ``contrast`` moves each pixel's
    ab away from the image's mean ab by that factor (1: as decoded; ``decode_ab``).
    ``stretch``: the network reads a faded, low-contrast gray stretched to a normal contrast
    (``stretch_lightness``); the output keeps the input's own gray levels either way.
    """

    temperature: float | None = None
    vivid: bool = False
    vividness: float | None = None
    contrast: float | None = None
    stretch: bool = False


# ``Decoding.stretch``: the working lightness's 1st-99th percentiles are widened onto this span
# (L units) where they are narrower. A typical photo spans about 4-94 (imagenet-sample val's
# medians); a photo faded to 60% of its contrast, which took 0.6 dB and 0.7 AuC points from the
# colors with photo 0.2.5, scored as unfaded with it (experiments/studies/faded_photos.py;
# docs/experiment-log.md, 2026-12-07, "faded photos").
STRETCH_SPAN = (5.0, 95.0)
# At most this much wider: a nearly flat picture (a blank page, fog) is not blown up into noise.
# A print faded to a quarter of its contrast still reaches the span.
STRETCH_MAX_GAIN = 4.0


def stretch_lightness(lightness: np.ndarray, span: tuple[float, float] = STRETCH_SPAN) -> np.ndarray:
    """Lightness (L units) whose 1st-99th percentiles are narrower than ``span`` widened
    linearly toward it, at most ``STRETCH_MAX_GAIN`` times, about the span's middle (clipped
    to 0-100); a wider one is returned as it is."""
    low, high = (float(v) for v in np.percentile(lightness, [1, 99]))
    if high - low >= span[1] - span[0]:
        return lightness
    scale = min((span[1] - span[0]) / max(high - low, 1e-6), STRETCH_MAX_GAIN)
    stretched = (np.asarray(lightness, np.float32) - 0.5 * (low + high)) * scale + 0.5 * (span[0] + span[1])
    return np.clip(stretched, 0.0, 100.0).astype(np.float32)


# The decodings an image with hints may take (``Colorizer.hinted_decoding``): temperatures from
# peaked to the distribution's mean, vividness from muted to vivid. Chosen on imagenet-sample val
# photos 400-479 and BSDS500 val 0-59 (experiments/studies/hint_affinities.py, --temperatures;
# docs/experiment-log.md, 2026-12-03): the mean (T 1) is the candidate that most often wins where
# the network's colors are wrong.
HINT_TEMPERATURES = (0.25, 0.4, 0.6, 1.0)
HINT_DECODINGS = tuple(  # contrast 1: their costs are scored on the hinted cells alone, without the image's mean
    Decoding(temperature=t, vividness=float(v), contrast=1.0)
    for t in HINT_TEMPERATURES
    for v in np.arange(-1.0, 2.01, 0.5)
)
HINT_VIVIDNESS_COST = 300.0  # squared Lab units per unit of vividness squared (the temperature is free)


def resolve_decoding(model: ColorModel, decoding: Decoding, shrink: float = 1.0) -> tuple[float, float]:
    """(temperature, vividness) for this model and an input shrunk ``shrink`` times to the
    working size, with the user's overrides checked.

    A model calibrated on both small images and full-size photos carries a second decoding,
    ``settings["shrunk"]``, for inputs shrunk ``shrunk["shrink"]`` times or more (a full-size
    photo at an 80-pixel working size: about 6): the network paints a shrunk scene more
    colorfully than an object thumbnail at the same decoding, so one decoding for both is a
    compromise that costs each. Between no shrinking and that factor the two are blended
    linearly in log(shrink). A temperature or vividness the user gives holds at every size.
    """
    temperature, vividness, _ = _resolve(model, decoding, shrink)
    return temperature, vividness


def resolve_contrast(model: ColorModel, decoding: Decoding, shrink: float = 1.0) -> float:
    """The chroma contrast (``Decoding.contrast``) for this model and shrink factor: the
    user's, else the settings' (``"contrast"`` in the faithful block or in ``"vivid"``, 1 where
    absent), blended toward ``settings["shrunk"]``'s as ``resolve_decoding`` blends."""
    return _resolve(model, decoding, shrink)[2]


def _resolve(model: ColorModel, decoding: Decoding, shrink: float) -> tuple[float, float, float]:
    """(temperature, vividness, contrast): ``resolve_decoding`` and ``resolve_contrast``."""
    settings = model.settings
    if model.head != "ab_bins":
        if decoding.temperature is not None or decoding.vividness is not None or decoding.contrast is not None:
            raise ValueError(
                f"temperature, vividness and contrast apply to ab-bin models; {model.source} has a {model.head} head"
            )
        if decoding.vivid:
            raise ValueError(f"{model.source} has no vivid setting (only ab-bin models have one)")
        return 1.0, 0.0, 1.0
    if decoding.vivid and "vividness" not in settings.get("vivid", {}):
        raise ValueError(f"{model.source} has no vivid setting (the model was not calibrated)")
    try:
        calibrated = np.array(calibrated_decoding(settings, decoding.vivid))
        shrunk = settings.get("shrunk")
        if shrunk and shrink > 1.0:
            weight = min(1.0, float(np.log(shrink) / np.log(max(float(shrunk["shrink"]), 1.0 + 1e-9))))
            calibrated += weight * (np.array(calibrated_decoding(shrunk, decoding.vivid)) - calibrated)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise ValueError(f"{model.source}: unreadable decoding settings ({type(error).__name__}: {error})") from None
    given = (decoding.temperature, decoding.vividness, decoding.contrast)
    temperature, vividness, contrast = (
        float(value if value is not None else default) for value, default in zip(given, calibrated)
    )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    for name, value, (low, high) in (("vividness", vividness, VIVIDNESS_RANGE), ("contrast", contrast, CONTRAST_RANGE)):
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value}")
    return temperature, vividness, contrast


def calibrated_decoding(settings: dict[str, Any], vivid: bool) -> tuple[float, float, float]:
    """A settings block's (temperature, vividness, contrast): its vivid ones, or its faithful
    ones (a vivid block without a contrast has none: 1)."""
    preset = settings.get("vivid", {}) if vivid else {}
    return (
        float(preset.get("temperature", settings.get("temperature", 1.0))),
        float(preset.get("vividness", settings.get("vividness", 0.0))),
        float(preset.get("contrast", 1.0) if vivid else settings.get("contrast", 1.0)),
    )


def shrink_factor(size: tuple[int, int], working_size: int) -> float:
    """How many times an image of ``size`` (height, width) is shrunk to run at ``working_size``
    (at least 1: smaller images run at their own size)."""
    return max(1.0, max(size) / working_size)


def decode_ab(
    model: ColorModel, outputs: np.ndarray, decoding: Decoding = Decoding(), shrink: float = 1.0
) -> np.ndarray:
    """Network outputs (batch, h, w, channels) -> ab in Lab units (batch, h, w, 2), for
    inputs shrunk ``shrink`` times to the working size (``resolve_decoding``). A contrast
    other than 1 (``resolve_contrast``) counts each item's (h, w) grid as one image."""
    outputs = np.asarray(outputs, dtype=np.float32)
    if model.head == "ab_regression":
        resolve_decoding(model, decoding)
        return color.denormalize_ab(outputs)
    if model.head == "ab_bins":
        temperature, vividness, contrast = _resolve(model, decoding, shrink)
        logits = outputs / temperature
        if vividness:
            prior = model.bin_prior if model.bin_prior is not None else np.ones(outputs.shape[-1])
            logits = logits + vividness * np.log(color.rebalancing_weights(prior))
        logits -= logits.max(axis=-1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        ab = probabilities @ color.ab_bins()
        if contrast != 1.0:
            mean = ab.mean(axis=(1, 2), keepdims=True)
            ab = mean + contrast * (ab - mean)
        return ab
    return color.rgb_to_lab(decode_levels(model, outputs))[..., 1:]


def spread(logits: np.ndarray) -> np.ndarray:
    """ab-bin logits (..., bins) -> the standard deviation of ab under their softmax, in Lab
    units (...): how unsure the network is of a pixel's color (0: one bin)."""
    probabilities = np.array(logits, np.float32)  # a copy, worked on in place
    probabilities -= probabilities.max(axis=-1, keepdims=True)
    np.exp(probabilities, out=probabilities)
    total = probabilities.sum(axis=-1)
    bins = color.ab_bins().astype(np.float32)
    moments = probabilities @ np.concatenate([bins, (bins**2).sum(axis=-1, keepdims=True)], axis=-1)
    moments /= total[..., None]
    return np.sqrt(np.maximum(moments[..., 2] - (moments[..., :2] ** 2).sum(axis=-1), 0.0))


def decode_levels(model: ColorModel, outputs: np.ndarray) -> np.ndarray:
    """Seed head: the most likely level of each channel -> uint8 RGB (batch, h, w, 3)."""
    levels = np.asarray(outputs).reshape(*outputs.shape[:-1], 3, 256).argmax(axis=-1)
    return color.levels_to_rgb(levels, model.settings.get("color_space", "rgb"))


def resolve_working_size(model: ColorModel, working_size: int | None) -> int:
    """The user's working size, checked, or the model's own (0 and negatives are refused, not defaulted)."""
    if working_size is None:
        return model.working_size
    if not isinstance(working_size, (int, np.integer)) or isinstance(working_size, bool) or working_size < 1:
        raise ValueError(f"working size must be a whole number of pixels, at least 1, got {working_size!r}")
    return int(working_size)


def working_shape(size: tuple[int, int], working_size: int, min_size: int = 0) -> tuple[int, int]:
    """(height, width) with the long side at most ``working_size``, aspect ratio kept.

    Larger images are shrunk; smaller ones run at their own size, or, for a model with a
    ``min_working_size`` (``min_size``), are enlarged to that long side: a network on a
    pretrained encoder of stride 32 sees a 64 px thumbnail as 2x2 features, and recognizes
    its subject only at a scale nearer the one it was trained at.
    """
    height, width = size
    scale = min(1.0, working_size / max(height, width))
    if min_size and max(height, width) < min_size:
        scale = min(min_size, working_size) / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _pad_to(lightness: np.ndarray, multiple: int) -> np.ndarray:
    height, width = lightness.shape
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    return np.pad(lightness, ((0, pad_h), (0, pad_w)), mode="edge") if pad_h or pad_w else lightness


_LOADAVG = "/proc/loadavg"
_OWN_TASKS = "/proc/self/task/*/stat"
_BUSY_TTL_S = 1.0
_busy_seen = [float("-inf"), 0]  # when the busy cores were last counted, and the count


def _busy_cores() -> int:
    """Other tasks that want a core now.

    Linux: ``/proc/loadavg``'s count of runnable threads, less this process's own (a reader
    thread may be decoding beside this one), the least of three reads 5 ms apart (so a
    passing blip is not a load). The one-minute load average lags: right after a heavy
    process ends it still reads about 1 on an idle machine, and a new process took one
    thread of two for a minute. Elsewhere: that load average, rounded.
    """
    seen_at, busy = _busy_seen
    if time.monotonic() - seen_at < _BUSY_TTL_S:  # huenet.colorize in a loop pays the 10 ms once a second
        return busy
    busy = _count_busy_cores()
    _busy_seen[:] = [time.monotonic(), busy]
    return busy


def _count_busy_cores() -> int:
    try:
        counts = []
        for attempt in range(3):
            if attempt:
                time.sleep(0.005)
            with open(_LOADAVG, encoding="ascii") as file:
                runnable = int(file.read().split()[3].split("/")[0])
            counts.append(runnable - _own_runnable_threads())
        return max(0, min(counts))
    except (OSError, ValueError, IndexError):
        try:
            return int(os.getloadavg()[0] + 0.5)
        except OSError:  # no load average on this platform
            return 0


def _own_runnable_threads() -> int:
    """This process's threads that are running or ready to run (at least this one)."""
    count = 0
    for stat in glob.glob(_OWN_TASKS):
        try:
            with open(stat, encoding="ascii", errors="replace") as file:
                count += file.read().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):  # a thread that ended meanwhile
            continue
    return max(1, count)


def default_threads() -> int:
    """Threads for full-resolution work: the cores this process may use, less those busy
    (``_busy_cores``), so no thread waits on a busy core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, cores - _busy_cores()))


def resolve_threads(threads: int | None) -> int:
    """The user's thread count, checked, or ``default_threads()``."""
    if threads is None:
        return default_threads()
    if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a whole number, at least 1, got {threads!r}")
    return int(threads)


@contextlib.contextmanager
def _blas_threads(threads: int) -> Iterator[None]:
    """Limit BLAS (the network's matrix products) to ``threads`` while colorizing.

    BLAS threads spin while they wait, so more of them than free cores slows everything
    on a busy machine; the network runs at the working size, where one or two suffice.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it BLAS keeps its own setting
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


class Colorizer:
    """A model with everything that decides how it colorizes: decoding, working size, threads.

    ``temperature`` and ``vividness`` are the decoding of an image that is not shrunk; a
    model with a decoding for shrunk photos decodes each image by its own shrink factor.

    The one place where those are resolved and checked (a setting the model cannot use
    fails here, before any image is read); ``huenet colorize``, ``colorize_many`` and
    evaluation all colorize through it.

    >>> colorizer = Colorizer(load_model("photo"), Decoding(vivid=True))
    >>> images = colorizer.colorize_many(["a.png", "b.jpg"])
    """

    stretch_span: tuple[float, float] = STRETCH_SPAN  # with ``Decoding.stretch``; a study may try others

    def __init__(
        self,
        model: ColorModel | str | None = None,
        decoding: Decoding = Decoding(),
        working_size: int | None = None,
        threads: int | None = None,
    ):
        from huenet.geometry import output_stride, pad_multiple

        self.model = model if isinstance(model, ColorModel) else load_model(model)
        self.decoding = decoding
        self.temperature, self.vividness = resolve_decoding(self.model, decoding)
        resolve_decoding(self.model, decoding, shrink=float("inf"))  # the shrunk photos' decoding is checked now too
        self.asked_working_size = working_size
        self.working_size = resolve_working_size(self.model, working_size)
        # Small images are enlarged to this long side for the network (0: they run at their own
        # size); working_shape caps it at the working size.
        self.min_working_size = int(self.model.settings.get("min_working_size", 0))
        self.threads = resolve_threads(threads)
        self.stride = output_stride(self.model.settings)
        self.multiple = max(pad_multiple(self.model.settings), self.stride)

    def __repr__(self) -> str:
        return (
            f"Colorizer({self.model!r}, temperature={self.temperature}, vividness={self.vividness}, "
            f"working_size={self.working_size}, threads={self.threads})"
        )

    def for_films(self) -> Colorizer:
        """This colorizer as a film runs it: at the model's ``film_working_size`` (a film must
        keep up with its frame rate) unless a working size was asked for."""
        size = self.model.settings.get("film_working_size")
        if self.asked_working_size is not None or not size or size == self.working_size:
            return self
        return Colorizer(self.model, self.decoding, size, self.threads)

    def working_shape(self, size: tuple[int, int]) -> tuple[int, int]:
        """The (height, width) the network runs an image of ``size`` at (``working_shape``)."""
        return working_shape(size, self.working_size, self.min_working_size)

    def shrink(self, image: InputImage) -> float:
        """How many times ``image`` is shrunk to the working size (its decoding depends on it)."""
        return shrink_factor(image.size, self.working_size)

    @property
    def hint_decay(self) -> float | None:
        """How far a hint's correction spreads (``hints.propagate``); None: the network alone
        honors hints (no correction, no decoding chosen by them)."""
        value = self.model.settings.get("hint_decay", hints_module.DEFAULT_HINT_DECAY)
        return None if value is None else float(value)

    @property
    def spreading(self) -> hints_module.Spreading:
        """How far a hint's color carries (``hints.Spreading``): the model's ``hint_decay``
        and ``hint_flat_share`` (where it has one) with the product's locality (``hints.LOCAL``)."""
        flat_share = self.model.settings.get("hint_flat_share", hints_module.LOCAL.flat_share)
        return dataclasses.replace(hints_module.LOCAL, decay=self.hint_decay, flat_share=float(flat_share))

    def network_input(self, image: InputImage, hints: Any = None) -> tuple[tuple[int, int], np.ndarray]:
        """(working shape, the network's input for ``image``: (h, w, 1), or (h, w, 4) with hint
        channels for a model that takes hints), padded to the network's multiple."""
        shape = self.working_shape(image.size)
        working = image.working_lightness(*shape)
        seen = stretch_lightness(working, self.stretch_span) if self.decoding.stretch else working
        lightness = _pad_to(color.normalize_lightness(seen), self.multiple)[..., None]
        if self.takes_hints:
            placed = self.check_hints(hints, image.size)
            lightness = np.concatenate(
                [lightness, hints_module.render(placed, image.size, shape, lightness.shape[:2], working)], -1
            )
        elif hints:
            self.check_hints(hints, image.size)  # refuses them, naming the model
        return shape, lightness

    def honor_hints(self, image: InputImage, outputs: np.ndarray, hints: Any) -> np.ndarray:
        """The network's ``outputs`` (output grid) for ``image`` decoded and corrected to
        ``hints``, as ``predict_ab`` does: ab (Lab units) on the output grid."""
        placed = self.check_hints(hints, image.size)
        _, network_input = self.network_input(image, placed)
        return self._decode(image, outputs, network_input, len(placed))

    def _decode(
        self, image: InputImage, outputs: np.ndarray, network_input: np.ndarray, hint_count: int = 0
    ) -> np.ndarray:
        """One image's network outputs -> ab; with ``hint_count`` hints, the decoding the hints
        choose (``hinted_decoding``) and their correction, both spread as far as the hints
        reach (``hints.propagate`` with ``spreading``)."""
        hinted = network_input.shape[-1] > 1 and bool(network_input[..., 3].any())
        shrink = self.shrink(image)
        if not hinted or self.hint_decay is None:  # None: the network alone honors the hints
            return decode_ab(self.model, outputs[None], self.decoding, shrink)[0]
        channels = self._hint_cells(network_input, outputs.shape[:2])
        chosen = self.hinted_decoding(outputs, channels, shrink)
        ab = decode_ab(self.model, outputs[None], chosen, shrink)[0]
        automatic = None if chosen == self.decoding else decode_ab(self.model, outputs[None], self.decoding, shrink)[0]
        lightness = channels[..., 3] * color.LIGHTNESS_SCALE + color.LIGHTNESS_CENTER
        spreading = self.spreading
        blends = self.model.head == "ab_bins" and spreading.levin_share > 0  # the only use of the spread
        unsure = spread(outputs) if blends else None
        return hints_module.propagate(ab, lightness, channels[..., :3], spreading, unsure, automatic, hint_count)

    def hinted_decoding(self, outputs: np.ndarray, channels: np.ndarray, shrink: float) -> Decoding:
        """The decoding for an image with hints: of ``HINT_DECODINGS``, the one whose colors
        on the hints' cells come closest to the hints' own (least squared ab error).

        The automatic decoding is a compromise over many photos between faithful and
        colorful; hints show how colorful this photo is, and how far to trust the network's
        most likely colors (a low temperature) over the mean of its distribution (T 1). Each
        unit of vividness away from the calibrated one costs ``HINT_VIVIDNESS_COST`` squared
        Lab units, so that one hint on one cell moves the decoding only for a clear gain (a
        prior). A decoding the user chose (temperature, vividness, contrast or vivid) is kept.
        ``channels``: ``_hint_cells``.
        """
        if (
            self.model.head != "ab_bins"
            or self.decoding.temperature is not None
            or self.decoding.vividness is not None
            or self.decoding.contrast is not None
            or self.decoding.vivid
        ):
            return self.decoding
        return HINT_DECODINGS[int(np.argmin(self.hint_decoding_costs(outputs, channels, shrink)))]

    def hint_decoding_costs(self, outputs: np.ndarray, channels: np.ndarray, shrink: float) -> np.ndarray:
        """Each of ``HINT_DECODINGS``' cost for these hints (``hinted_decoding``): the squared ab
        error of its colors on the hinted cells plus the vividness prior. Shape (candidates,)."""
        cells = channels[..., 2] > 0
        logits = np.asarray(outputs)[cells][None, None]  # (1, 1, hinted cells, channels)
        wanted = channels[cells][:, :2] * color.AB_SCALE
        _, calibrated = resolve_decoding(self.model, self.decoding, shrink)
        return np.array(
            [
                float(((decode_ab(self.model, logits, candidate, shrink)[0, 0] - wanted) ** 2).sum())
                + HINT_VIVIDNESS_COST * (resolve_decoding(self.model, candidate, shrink)[1] - calibrated) ** 2
                for candidate in HINT_DECODINGS
            ]
        )

    def _hint_cells(self, network_input: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
        """The hint channels pooled onto the output grid, float (rows, cols, 4): normalized a
        and b (the mean over a cell's hinted pixels), the mask (1 where any is), the
        normalized lightness."""
        rows, cols = grid
        stride = self.stride
        cells = network_input[: rows * stride, : cols * stride].reshape(rows, stride, cols, stride, -1)
        mask = cells[..., 3].sum(axis=(1, 3))
        chroma = (cells[..., 1:3] * cells[..., 3:4]).sum(axis=(1, 3)) / np.maximum(mask, 1e-6)[..., None]
        return np.concatenate(
            [chroma, (mask > 0)[..., None].astype(np.float32), cells[..., 0].mean(axis=(1, 3))[..., None]], axis=-1
        )

    @property
    def takes_hints(self) -> bool:
        """Whether the model reads color hints (``huenet.hints``)."""
        return bool(self.model.settings.get("hint_inputs"))

    def check_hints(self, hints: Any, image_size: tuple[int, int]) -> list[hints_module.Hint]:
        """User hints for an image of ``image_size`` (height, width), parsed and checked
        (``hints.HintError`` names the bad one); an empty list for None."""
        parsed = hints_module.parse_hints(hints)
        if parsed and not self.takes_hints:
            raise hints_module.HintError(f"model {self.model.source} does not take color hints")
        hints_module.check_inside(parsed, image_size)
        return parsed

    def predict_ab(
        self, inputs: Sequence[InputImage], hints: Sequence[Any] | None = None, reuse: dict | None = None
    ) -> list[np.ndarray]:
        """ab (Lab units) at working resolution for each input, batching inputs of one shape.

        Per input: shape (ceil(h / stride), ceil(w / stride), 2) for its working shape (h, w).
        ``hints``: for each input, its color hints (``huenet.hints.parse_hints``) or None.
        ``reuse``: as ``network_outputs``'.
        """
        return self._run(inputs, decode=True, hints=hints, reuse=reuse)

    def network_outputs(
        self, inputs: Sequence[InputImage], hints: Sequence[Any] | None = None, reuse: dict | None = None
    ) -> list[np.ndarray]:
        """The network's raw outputs (ab-bin logits, say) per input, cropped like ``predict_ab``'s
        ab; ``decode_ab(model, outputs[None], decoding)[0]`` turns one into ab. Calibration
        scores many decodings of one forward pass this way.

        ``reuse`` (one input): a dict kept between calls on that image with other hints; the
        NumPy engine keeps in it what the hints do not change (``NumpyNetwork.__call__``)."""
        return self._run(inputs, decode=False, hints=hints, reuse=reuse)

    def _run(
        self,
        inputs: Sequence[InputImage],
        decode: bool,
        hints: Sequence[Any] | None = None,
        reuse: dict | None = None,
    ) -> list[np.ndarray]:
        if hints is not None and len(hints) != len(inputs):
            raise ValueError(f"{len(hints)} hint lists for {len(inputs)} images")
        if reuse is not None and len(inputs) != 1:
            raise ValueError(f"reuse keeps one image's features, got {len(inputs)} images")
        groups: dict[tuple[int, int], list[int]] = {}
        prepared, placed = [], []
        for index, image in enumerate(inputs):
            placed.append(self.check_hints(hints[index] if hints is not None else None, image.size))
            prepared.append(self.network_input(image, placed[-1]))  # parsed once: Hint objects pass through
            groups.setdefault(prepared[-1][1].shape, []).append(index)
        results: list[Any] = [None] * len(inputs)
        with _blas_threads(self.threads):
            for shape, indices in groups.items():
                # Batches bounded in pixels too: Keras keeps a batch's activations, and 256
                # thumbnails enlarged to 160 px took 24 GB through the encoder network.
                size = max(1, min(_MAX_BATCH, _BATCH_PIXELS // (shape[0] * shape[1])))
                for start in range(0, len(indices), size):
                    chunk = indices[start : start + size]
                    batch = np.stack([prepared[i][1] for i in chunk])  # (batch, h, w, 1 or 4)
                    outputs = run_network(self.model, batch, reuse)
                    for offset, index in enumerate(chunk):
                        height, width = prepared[index][0]
                        values = outputs[offset : offset + 1, : -(-height // self.stride), : -(-width // self.stride)]
                        if not decode:
                            results[index] = values[0]
                            continue
                        results[index] = self._decode(inputs[index], values[0], prepared[index][1], len(placed[index]))
        return results

    def compose(self, image: InputImage, ab: np.ndarray, shift: tuple[float, float] = (0.0, 0.0)) -> Image.Image:
        """The full-size color image from the input's own gray levels and its upsampled ab
        (``shift``: see ``compose``)."""
        return compose(image, ab, self.working_size, self.stride, self.threads, shift, self.min_working_size)

    def colorize_many(self, images: Iterable[Any], hints: Sequence[Any] | None = None) -> list[Image.Image]:
        """Colorize images (paths, file bytes, PIL images, arrays) in shared network batches;
        ``hints``: each image's color hints, or None."""
        inputs = [image if isinstance(image, InputImage) else _read_named(image) for image in images]
        return [self.compose(image, ab) for image, ab in zip(inputs, self.predict_ab(inputs, hints))]


def run_network(model: ColorModel, batch: np.ndarray, reuse: dict | None = None) -> np.ndarray:
    """One forward pass in inference mode, as a NumPy array under any Keras backend
    (``reuse``: see ``Colorizer.network_outputs``; the Keras engine computes everything)."""
    if model.runner is not None:
        return model.runner(batch) if reuse is None else model.runner(batch, reuse)
    import keras

    return keras.ops.convert_to_numpy(model.network(batch, training=False))


def _axis_weights(
    full: int, working: int, stride: int, available: int, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear source indices and weights mapping ``full`` output pixels onto the ab grid
    (``shift``: output pixels the picture moved since the grid was made)."""
    source = (np.arange(full) + 0.5 - shift) * (working / stride) / full - 0.5
    source = np.clip(source, 0, available - 1)
    lower = np.floor(source).astype(np.intp)
    upper = np.minimum(lower + 1, available - 1)
    return lower, upper, (source - lower).astype(np.float32)


# The color table (see ``compose``) is used when it has at most this many entries
# (ab grid points x gray levels; 2**22 entries are 48 MB) and fewer than the image has pixels.
# 2**22: the 0.2.0 photo model's ab grid at working size 224 (up to 112 x 112 points) with
# all 256 levels is 3.2M entries; at 2**21 its photos fell back to the slower direct route.
_TABLE_ENTRIES = 1 << 22
_TABLE_LEVEL_STEP = 2  # the table computes every other gray level exactly and blends the rest (see _color_table)
_TABLE_STRIP_ROWS = 32  # rows a thread colors at a time on the table route (a few MB of temporaries)


def compose(
    image: InputImage,
    ab: np.ndarray,
    working_size: int,
    stride: int,
    threads: int = 1,
    shift: tuple[float, float] = (0.0, 0.0),
    min_size: int = 0,
) -> Image.Image:
    """Combine the full-resolution gray input with upsampled ab -> RGB(A) PIL image.

    ``working_size`` and ``min_size``: the sizes ``working_shape`` ran the network at.

    ``shift`` (rows, columns, in the input's pixels): how far the picture moved since ``ab``
    was predicted (a film's pan between the frames the network runs on); ab is sampled that
    far back, so the colors move with the picture.

    The result converts back to the input gray (``color.combine_gray_ab``), so every
    luminance detail of the input survives; ab only adds chroma. Strips of rows are
    computed in ``threads`` threads (NumPy releases the GIL in its loops).

    8-bit inputs (nearly all photos) take a faster route with the same result to within a
    few levels (at most 4 of 255 seen on photos, 0.003 on average): the color of every gray
    level the image uses is computed once per ab grid point (a table of grid points x levels
    x RGB, ``_color_table``), and each pixel bilinearly interpolates
    the table's four grid points around it at its own level (four gathers). Each table
    entry has exactly its level's luma, so every blend of them has too: the gray round trip
    holds as on the direct route, which upsamples ab and combines per pixel (used for 16-bit
    and float inputs, and where the table would be larger than the image).
    """
    height, width = image.size
    work_h, work_w = working_shape((height, width), working_size, min_size)
    rows = _axis_weights(height, work_h, stride, ab.shape[0], float(shift[0]))
    cols = _axis_weights(width, work_w, stride, ab.shape[1], float(shift[1]))
    channels = 3 if image.alpha is None else 4
    output = np.empty((height, width, channels), dtype=np.uint8)
    ab = np.asarray(ab, dtype=np.float32)
    table = _color_table(image.gray, ab, threads)
    strip_rows = _STRIP_ROWS
    if table is not None:
        colors, position = table
        row_size = colors.shape[1] * colors.shape[2]  # one grid row: grid_w x levels entries
        flat = colors.reshape(-1, 3)
        column_lower = (cols[0] * colors.shape[2])[None, :]
        column_upper = (cols[1] * colors.shape[2])[None, :]
        column_weight = cols[2][None, :, None]
        strip_rows = _TABLE_STRIP_ROWS

    def strip(top: int) -> None:
        rows_here = slice(top, min(top + strip_rows, height))
        lower, upper, weight = (part[rows_here] for part in rows)
        if table is not None:
            # The four grid points around each pixel at its own level: flat gathers (np.take
            # is 2.5x faster here than take_along_axis), blended along the row, then down.
            level = position[image.gray[rows_here]]
            above, below = (lower * row_size)[:, None] + level, (upper * row_size)[:, None] + level
            upper_colors = np.take(flat, above + column_lower, axis=0)
            upper_colors += (np.take(flat, above + column_upper, axis=0) - upper_colors) * column_weight
            lower_colors = np.take(flat, below + column_lower, axis=0)
            lower_colors += (np.take(flat, below + column_upper, axis=0) - lower_colors) * column_weight
            upper_colors += (lower_colors - upper_colors) * weight[:, None, None]
            output[rows_here, :, :3] = color.to_uint8(upper_colors)
            return
        ab_rows = ab[lower] * (1 - weight)[:, None, None] + ab[upper] * weight[:, None, None]
        ab_full = ab_rows[:, cols[0]] * (1 - cols[2])[None, :, None] + ab_rows[:, cols[1]] * cols[2][None, :, None]
        output[rows_here, :, :3] = color.to_uint8(color.combine_gray_ab(image.gray_levels(rows_here), ab_full))

    _each_in_threads(strip, range(0, height, strip_rows), threads)
    if image.alpha is not None:
        output[..., 3] = image.alpha
    return Image.fromarray(output, mode="RGB" if channels == 3 else "RGBA")


def _color_table(gray: np.ndarray, ab: np.ndarray, threads: int = 1) -> tuple[np.ndarray, np.ndarray] | None:
    """(colors, position) for the table route of ``compose``, or None where it does not pay.

    colors: float32 (grid_h, grid_w, levels, 3), the combined color of each gray level the
    image uses at each ab grid point; position: uint8 level -> index into ``levels``.

    ``color.combine_gray_ab`` runs only on every ``_TABLE_LEVEL_STEP``-th level (and the
    darkest and brightest used), in ``threads`` threads (bands of grid rows); the levels
    between are blended linearly from the two around them. Luma is linear in R, G and B, so
    a blend of two colors with the luma of levels l0 and l1, weighted by where l lies
    between them, has exactly the luma of l: the gray round trip holds as before, and only
    the chroma is interpolated (it changes slowly with the level).
    """
    grid_h, grid_w = ab.shape[:2]
    if gray.dtype != np.uint8:
        return None  # 16-bit and float levels keep their precision on the direct route
    if grid_h * grid_w * 256 > min(_TABLE_ENTRIES, gray.size):
        return None  # a huge ab grid, or a small image: the direct route is cheaper
    used = np.flatnonzero(np.bincount(gray.ravel(), minlength=256))
    position = np.zeros(256, dtype=np.intp)
    position[used] = np.arange(len(used))
    colors = np.empty((grid_h, grid_w, len(used), 3), np.float32)
    anchors = np.unique(np.concatenate([used[::_TABLE_LEVEL_STEP], used[-1:]]))
    upper = np.minimum(np.searchsorted(anchors, used), len(anchors) - 1)  # the first anchor >= the level
    lower = np.maximum(upper - 1, 0)
    span = np.maximum(anchors[upper] - anchors[lower], 1)
    weight = np.clip((used - anchors[lower]) / span, 0.0, 1.0).astype(np.float32)[:, None]
    levels = (anchors / 255.0).astype(np.float32)

    def band(rows: slice) -> None:
        band_ab = ab[rows, :, None, :]
        shape = (band_ab.shape[0], grid_w, len(anchors))
        at_anchors = color.combine_gray_ab(np.broadcast_to(levels, shape), np.broadcast_to(band_ab, (*shape, 2)))
        below = at_anchors[:, :, lower]
        colors[rows] = below + (at_anchors[:, :, upper] - below) * weight

    _each_in_threads(band, [slice(top, top + 8) for top in range(0, grid_h, 8)], threads)  # 8 grid rows: a few MB
    return colors, position


def _each_in_threads(function: Callable[[Any], None], items: Sequence[Any], threads: int) -> None:
    """``function(item)`` for every item, in up to ``threads`` threads (NumPy releases the GIL
    in its loops); an item's error is raised here."""
    if threads > 1 and len(items) > 1:
        with concurrent.futures.ThreadPoolExecutor(min(threads, len(items))) as pool:
            list(pool.map(function, items))  # list() re-raises an item's error here
    else:
        for item in items:
            function(item)


def _read_named(source: Any) -> InputImage:
    """``read_image``, with a path's name in the message of any error about it."""
    try:
        return read_image(source)
    except ImageError as error:
        if isinstance(source, (str, os.PathLike)):
            raise type(error)(f"{os.fspath(source)}: {error}") from None
        raise


def colorize_many(
    images: Iterable[Any],
    model: ColorModel | str | None = None,
    temperature: float | None = None,
    vivid: bool = False,
    working_size: int | None = None,
    vividness: float | None = None,
    threads: int | None = None,
    hints: Sequence[Any] | None = None,
    stretch: bool = False,
) -> list[Image.Image]:
    """Colorize several images (PIL images, arrays or paths) in shared network batches;
    ``hints``: one list of color hints per image (see ``colorize``), or None."""
    decoding = Decoding(temperature, vivid, vividness, stretch=stretch)
    return Colorizer(model, decoding, working_size, threads).colorize_many(images, hints)


def colorize(
    image: Any,
    model: ColorModel | str | None = None,
    temperature: float | None = None,
    vivid: bool = False,
    working_size: int | None = None,
    vividness: float | None = None,
    threads: int | None = None,
    hints: Sequence[Any] | None = None,
    stretch: bool = False,
) -> Image.Image:
    """Colorize one image.

    Args:
        image: a PIL image, a NumPy array ((h, w) gray, (h, w, 3) RGB, (h, w, 4) RGBA; uint8,
            uint16 or float in [0, 1]), a path, or the bytes of an image file.
        model: a loaded model, a bundled model name or a .keras path; default: the bundled model.
        temperature: annealed-mean temperature for ab-bin models (default: the model's).
        vivid: use the model's calibrated vivid settings (more colorful, less faithful).
        working_size: long side, in pixels, at which the network runs (default: the model's).
        vividness: chroma-prior correction strength for ab-bin models, 0 (plain annealed mean)
            to 3 (default: the model's calibrated faithful value).
        threads: threads for the full-resolution work (default: the idle cores).
        hints: color hints for a model that takes them: ``(x, y, color)`` or ``(x, y, color,
            size)`` tuples or ``{"x", "y", "color", "size"}`` mappings; x is the column and y
            the row in input pixels, color ``"#rrggbb"`` or ``(r, g, b)``, size the side of the
            square patch (default about 1% of the long side). Only the color's chroma is used.
        stretch: for faded, low-contrast photos: the network sees the gray stretched to a
            normal contrast (``stretch_lightness``); the output keeps the input's gray levels.
    Returns:
        An RGB PIL image (RGBA when the input had alpha) of exactly the input's size.
    Raises:
        huenet.images.ImageError: unusable input; huenet.hints.HintError: a bad hint;
        ValueError: bad settings.
    """
    return colorize_many(
        [image],
        model,
        temperature,
        vivid,
        working_size,
        vividness,
        threads,
        None if hints is None else [hints],
        stretch,
    )[0]
