"""Films: colorize a video file frame by frame, smoothly over time, streaming, sound kept.

Needs PyAV (``pip install 'huenet[video]'``). Each frame goes through the image path
(``inference.Colorizer``): the network at the working resolution, the chroma upsampled and
combined with the frame's own gray levels. Between the two, over time:

- **Smoothing.** Frame-by-frame colorization turns film grain and exposure flicker into
  color flicker. The network's ab-bin logits are averaged over time at the working
  resolution (an exponential moving average, ``smoothing`` = the weight of the past), so a
  pixel's color changes when the picture does, not with its noise. Faster motion is caught
  by a per-cell check: where the frame's lightness at the working resolution changed by
  ``_MOTION_LEVEL`` or more, the past is not used.
- **Pans.** The picture's global motion between consecutive frames is measured by phase
  correlation (``global_shift``); the colors follow it, both the past logits before they
  are averaged with a new frame's and the last colors held over the frames between network
  runs. Without it a pan drags the picture under colors fixed to the frame.
- **Chroma planes.** The colors change only where the network runs, but composing them
  with each frame's grainy gray shakes the output chroma on every frame. The 4:2:0 chroma
  planes are averaged with the last frame's too (``PLANE_SMOOTHING``), moved with the
  picture, where the gray stayed (``_PLANE_LEVEL``).
- **Scene cuts.** Where consecutive frames' working-size lightness correlates less than
  ``_CUT_CORRELATION`` (grain and exposure flicker leave it near 1), the average restarts:
  no color is carried across a cut.

Streaming: frames are decoded, colorized and encoded one at a time through bounded queues,
so memory does not grow with the film's length; decoding and encoding run in their own
threads (PyAV and NumPy release the GIL), so two cores stay busy. The output is written to
a temporary name beside the target and renamed when complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import tempfile
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from huenet import color
from huenet.images import DEFAULT_MAX_PIXELS, ImageError, InputImage

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ogv"})
# Video outputs: containers that hold H.264 (and, as far as they can, the input's other streams).
OUTPUT_VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov")
VIDEO_EXTRA_HINT = "pip install 'huenet[video]'"

DEFAULT_SMOOTHING = 0.8  # weight of the past in the logits' moving average (experiments/studies/video_smoothing.py)
_COARSE_FROM = 128  # chroma-plane rows from which the color is composed at quarter size
# The network on every 4th frame and at cuts: 1.24-1.31x real time at 640x360 against 1.06-1.10x
# on every 3rd, the same PSNR, flicker and PSNR after cuts (2026-12-07, docs/experiment-log.md).
DEFAULT_NETWORK_EVERY = 4
_CUT_CORRELATION = 0.6  # consecutive frames correlating less than this at the working size are a cut
_MOTION_LEVEL = 12.0  # Lab L units: a working-size cell that changed more than this does not use the past
_QUEUE = 4  # frames in flight between the threads
_MOTION_COLUMNS = 160  # frames are shrunk to at most this width to measure their motion
_MOTION_PEAK = 10.0  # a correlation peak under this many standard deviations of the surface: no motion assumed
_WHITENING = 0.8  # the cross-power spectrum is divided by its magnitude to this power (1: phase correlation)
PLANE_SMOOTHING = 0.85  # weight of the past in the chroma planes' moving average (experiments/studies/video_planes.py)
_PLANE_LEVEL = 12.0  # gray levels (0-255, 2x2 means): a chroma pixel whose gray changed more does not use the past


class VideoError(ImageError):
    """A video that cannot be colorized; the message says why."""


class VideoMissing(ImageError):
    """PyAV is not installed."""


def require_av() -> Any:
    try:
        import av
    except ImportError:
        raise VideoMissing(
            f"video needs PyAV, which a plain install leaves out; install it with: {VIDEO_EXTRA_HINT}"
        ) from None
    return av


def is_video(path: str | os.PathLike) -> bool:
    """Whether a file name has a video container's extension (animated GIFs are images to the
    CLI unless they are asked for as video with an .mp4 output)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


@dataclasses.dataclass
class VideoReport:
    """What one video run did."""

    frames: int
    cuts: int
    seconds: float
    fps: float
    width: int
    height: int
    copied_streams: int


class TemporalSmoother:
    """The moving average of ab-bin logits over frames, restarted at scene cuts."""

    def __init__(self, smoothing: float = DEFAULT_SMOOTHING, every: int = 1):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"the network runs every N frames, N a whole number from 1, got {every!r}")
        self.smoothing = smoothing
        self.every = every
        self.logits: np.ndarray | None = None
        self.lightness: np.ndarray | None = None
        self.ab: np.ndarray | None = None  # the decoded ab of the last frame the network ran on
        self.waited = 0
        self.cuts = 0
        self.shift = np.zeros(2)  # (rows, columns), frame pixels: the picture's motion since ``ab``
        self.step = np.zeros(2)  # (rows, columns), frame pixels: the picture's motion since the last frame
        self.plane_smoothing = PLANE_SMOOTHING if smoothing else 0.0  # smoothing 0: each frame on its own
        self._planes: list[np.ndarray] | None = None  # the last frame's chroma planes (float) and its gray there
        self._plane_gray: np.ndarray | None = None
        self._motion: np.ndarray | None = None  # the last frame's ``motion_spectrum``
        self._motion_shape: tuple[int, int] | None = None

    def track(self, image: InputImage) -> None:
        """Add the picture's global motion from the last frame to this one to ``shift`` and
        keep it in ``step``: phase correlation (``motion_spectrum``, ``shift_between``) on the
        frame's lightness shrunk to at most ``_MOTION_COLUMNS`` wide. The shift restarts where
        the network runs."""
        self.step = np.zeros(2)
        height, width = image.size
        columns = min(width, _MOTION_COLUMNS)
        rows = max(1, round(height * columns / width))
        if min(rows, columns) < 8:
            return
        spectrum = motion_spectrum(image.working_lightness(rows, columns))
        if self._motion is not None and self._motion_shape == (rows, columns):
            moved = shift_between(self._motion, spectrum, (rows, columns))
            if moved is not None:
                self.step = np.asarray(moved) * (height / rows, width / columns)
                self.shift += self.step
        self._motion, self._motion_shape = spectrum, (rows, columns)

    def due(self, lightness: np.ndarray) -> bool:
        """Whether the network runs on this frame: every ``every``-th frame, and at once after a
        cut (checked on every frame); between, the last ab stands."""
        if (
            self.ab is None
            or self.lightness is None
            or self.waited + 1 >= self.every
            or self.lightness.shape != lightness.shape
            or is_cut(self.lightness, lightness)
        ):
            self.waited = 0
            return True
        self.waited += 1
        return False

    def update(
        self, logits: np.ndarray, lightness: np.ndarray, cells_per_pixel: tuple[float, float] = (0.0, 0.0)
    ) -> tuple[np.ndarray, bool]:
        """(smoothed logits, whether this frame starts a new shot) for a frame's logits
        (h, w, bins) and its working-size lightness (H, W), H, W = stride * (h, w) or so.
        The past logits first move with the picture (``shift`` times ``cells_per_pixel``, the
        logit grid's cells per frame pixel); ``shift`` then restarts."""
        cut = self.lightness is None or self.lightness.shape != lightness.shape or is_cut(self.lightness, lightness)
        if cut or self.logits is None or self.logits.shape != logits.shape or self.smoothing == 0:
            self.cuts += int(cut and self.lightness is not None)
            self.logits = logits.astype(np.float32, copy=True)
        else:
            past = shift_grid(self.logits, self.shift[0] * cells_per_pixel[0], self.shift[1] * cells_per_pixel[1])
            keep = self.smoothing * _still(self.lightness, lightness, logits.shape[:2])[..., None]
            self.logits = keep * past + (1 - keep) * logits
        self.lightness = lightness
        self.shift = np.zeros(2)
        return self.logits, cut

    def smooth_planes(self, planes: list[np.ndarray], gray: np.ndarray, restart: bool) -> list[np.ndarray]:
        """Chroma planes (float, the frame's 4:2:0 half size) averaged with the last frame's,
        moved with the picture (``step``), where the gray at that size (``gray``, 0-255)
        stayed: the network's colors change only every few frames, but composing them with
        each frame's grainy gray shakes the chroma on every frame. ``restart``: a cut."""
        if (
            restart
            or not self.plane_smoothing
            or self._planes is None
            or self._plane_gray is None
            or self._plane_gray.shape != gray.shape
            or any(p.shape != gray.shape for p in planes)
        ):
            self._planes, self._plane_gray = planes, gray
            return planes
        rows, columns = self.step[0] / 2, self.step[1] / 2
        past_gray = shift_grid(self._plane_gray, rows, columns)
        change = np.abs((gray - gray.mean()) - (past_gray - past_gray.mean()))
        keep = self.plane_smoothing * np.clip(2.0 - change / (_PLANE_LEVEL / 2), 0.0, 1.0)
        planes = [
            keep * shift_grid(past, rows, columns) + (1 - keep) * plane for past, plane in zip(self._planes, planes)
        ]
        self._planes, self._plane_gray = planes, gray
        return planes


def is_cut(previous: np.ndarray, current: np.ndarray) -> bool:
    """A scene cut: the two frames' lightness (working size) correlates less than
    ``_CUT_CORRELATION``. Grain and a global exposure change keep it near 1."""
    a = previous - previous.mean()
    b = current - current.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if denominator < 1e-6:  # flat frames (black, fades): a cut only if the level jumped
        return abs(float(previous.mean() - current.mean())) > _MOTION_LEVEL
    return float((a * b).sum()) / denominator < _CUT_CORRELATION


def global_shift(previous: np.ndarray, current: np.ndarray) -> tuple[float, float] | None:
    """How far the picture moved from ``previous`` to ``current`` (2-D gray, same shape):
    (rows, columns), to a fraction of a pixel, by phase correlation (``motion_spectrum``,
    ``shift_between``); None where no single motion stands out."""
    if min(previous.shape) < 8:
        return None
    return shift_between(motion_spectrum(previous), motion_spectrum(current), previous.shape)


def motion_spectrum(gray: np.ndarray) -> np.ndarray:
    """A frame's spectrum for ``shift_between``: its Hann-windowed deviation from its mean."""
    window = np.outer(np.hanning(gray.shape[0]), np.hanning(gray.shape[1]))
    return np.fft.rfft2((gray - gray.mean()) * window)


def shift_between(previous: np.ndarray, current: np.ndarray, shape: tuple[int, int]) -> tuple[float, float] | None:
    """The motion (rows, columns) between two frames of ``shape`` from their
    ``motion_spectrum``: the peak of their correlation, refined by ``_peak_offset``, then once
    more with that shift undone. The cross-power spectrum is only partly whitened
    (``_WHITENING``): grain dominates the high frequencies that pure phase correlation would
    weigh as much as the picture's. None where the peak stands less than ``_MOTION_PEAK``
    standard deviations above the surface (no single motion: a cut, a still with only noise
    changing, motion in many directions)."""
    cross = current * np.conj(previous)
    cross = cross / np.maximum(np.abs(cross) ** _WHITENING, 1e-9)
    surface = np.fft.irfft2(cross, s=shape)
    peak = np.unravel_index(int(np.argmax(surface)), surface.shape)
    if not surface[peak] >= _MOTION_PEAK * surface.std():
        return None
    moved = np.array([p - n if p > n / 2 else p for p, n in zip(peak, surface.shape)], np.float64)
    moved += _peak_offset(surface, peak)
    # Once more with the estimate undone (the Fourier shift theorem): the parabola is unbiased
    # near a whole pixel, and the rest is near 0.
    frequencies = np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :]
    undone = cross * np.exp(2j * np.pi * (frequencies[0] * moved[0] + frequencies[1] * moved[1]))
    moved += _peak_offset(np.fft.irfft2(undone, s=shape), (0, 0))
    return float(moved[0]), float(moved[1])


def _peak_offset(surface: np.ndarray, peak: tuple[int, int]) -> np.ndarray:
    """Sub-pixel position of a correlation peak relative to ``peak`` (rows, columns), within
    half a pixel: a parabola through it and its neighbours on each axis (through their
    logarithm where they are positive: the peak is about Gaussian)."""
    offsets = np.zeros(2)
    for axis, size in enumerate(surface.shape):
        before, after = list(peak), list(peak)
        before[axis], after[axis] = (peak[axis] - 1) % size, (peak[axis] + 1) % size
        low, middle, high = surface[tuple(before)], surface[tuple(peak)], surface[tuple(after)]
        if low > 0 and high > 0 and middle > 0:
            low, middle, high = np.log(low), np.log(middle), np.log(high)
        curve = low - 2 * middle + high
        offsets[axis] = np.clip(0.5 * (low - high) / curve, -0.5, 0.5) if curve < 0 else 0.0
    return offsets


def shift_grid(values: np.ndarray, rows: float, columns: float) -> np.ndarray:
    """``values`` (h, w, ...) moved by (rows, columns) cells, bilinearly; edges repeat."""
    if abs(rows) < 1e-3 and abs(columns) < 1e-3:
        return values
    height, width = values.shape[:2]
    out = values
    for axis, (amount, size) in enumerate(((rows, height), (columns, width))):
        if abs(amount) < 1e-3:
            continue
        source = np.clip(np.arange(size) - amount, 0, size - 1)
        lower = np.floor(source).astype(np.intp)
        upper = np.minimum(lower + 1, size - 1)
        weight = (source - lower).astype(np.float32).reshape([-1 if a == axis else 1 for a in range(out.ndim)])
        out = np.take(out, lower, axis=axis) * (1 - weight) + np.take(out, upper, axis=axis) * weight
    return out.astype(values.dtype, copy=False)


def _still(previous: np.ndarray, current: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Per logit cell, 1 where the picture stayed (the past may be used): where its lightness
    changed by less than half ``_MOTION_LEVEL`` (after removing a global exposure change),
    falling to 0 at ``_MOTION_LEVEL``. Grain and a pan of a few pixels stay well under it."""
    change = np.abs((current - current.mean()) - (previous - previous.mean()))
    rows, cols = grid
    height, width = change.shape
    stride_r, stride_c = max(1, height // rows), max(1, width // cols)
    cells = change[: rows * stride_r, : cols * stride_c].reshape(rows, stride_r, cols, stride_c).mean(axis=(1, 3))
    if cells.shape != grid:  # padded logits: the extra cells have no picture behind them
        cells = np.pad(cells, ((0, rows - cells.shape[0]), (0, cols - cells.shape[1])), mode="edge")
    return np.clip(2.0 - cells / (_MOTION_LEVEL / 2), 0.0, 1.0).astype(np.float32)


def colorize_video(
    source: str | os.PathLike,
    target: str | os.PathLike,
    model: Any = None,
    vivid: bool = False,
    vividness: float | None = None,
    temperature: float | None = None,
    working_size: int | None = None,
    threads: int | None = None,
    hints: Any = None,
    smoothing: float = DEFAULT_SMOOTHING,
    network_every: int = DEFAULT_NETWORK_EVERY,
    quality: int = 20,
    overwrite: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: Callable[[int, int | None], None] | None = None,
    stretch: bool = False,
) -> VideoReport:
    """Colorize the video ``source`` into ``target`` (.mp4, .mkv or .mov; H.264, yuv420p).

    Same pixel size, frame rate, frame count and timestamps as the input; its sound and
    subtitle streams are copied without re-encoding where the target container holds them.

    Args:
        model, vivid, vividness, temperature, working_size, threads: as for ``colorize``; a film
            runs at the model's ``film_working_size`` where it has one, unless a working size
            was asked for (``Colorizer.for_films``).
        hints: color hints (``colorize``'s form) applied to every frame, in frame pixels.
        smoothing: weight of the past in the logits' moving average over frames (0: none, and
            no average of the chroma planes either: each frame on its own).
        network_every: the network runs on every N-th frame (and at every cut); the frames
            between keep the last colors, composed with their own gray.
        quality: x264's CRF, 0 (lossless) to 51; 20 looks like the source at 640x360.
        overwrite: replace an existing target.
        max_pixels: refuse frames larger than this (a stream may claim any size).
        progress: called as ``progress(frames_done, frames_total_or_None)``.
        stretch: as for ``colorize`` (faded films).
    Raises:
        VideoMissing: no PyAV; VideoError: an unusable input (nothing is left at ``target``);
        FileExistsError: ``target`` exists and ``overwrite`` is off; ValueError: bad settings.
    """
    from huenet.inference import Colorizer, Decoding

    av = require_av()
    source, target = Path(source), Path(target)
    if target.suffix.lower() not in OUTPUT_VIDEO_EXTENSIONS:
        raise ValueError(f"{target}: a video output must end {', '.join(OUTPUT_VIDEO_EXTENSIONS)}")
    if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 51:
        raise ValueError(f"quality (x264 CRF) must be a whole number from 0 to 51, got {quality!r}")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists (pass --overwrite to replace it)")
    if source.resolve() == target.resolve():
        raise ValueError(f"{target}: would overwrite the input")
    colorizer = (
        model
        if isinstance(model, Colorizer)
        else Colorizer(model, Decoding(temperature, vivid, vividness, stretch=stretch), working_size, threads)
    ).for_films()
    smoother = TemporalSmoother(smoothing, network_every)
    import time

    started = time.perf_counter()
    try:
        container = av.open(str(source), mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise VideoError(f"not a readable video ({_reason(error)})") from None
    with container:
        if not container.streams.video:
            raise VideoError("no video stream (sound or data only)")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise VideoError(f"the video stream has no frame size ({width}x{height})")
        if max_pixels is not None and width * height > max_pixels:
            raise VideoError(
                f"frames of {width}x{height} = {width * height} pixels are over the {max_pixels}-pixel limit "
                "(--max-pixels raises it for files you trust)"
            )
        placed = colorizer.check_hints(hints, (height, width)) if hints else None
        total = stream.frames or None
        rate = stream.average_rate or stream.guessed_rate or Fraction(24, 1)
        stream.thread_type = "AUTO"
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent)
        os.close(handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's owner-only
        try:
            frames, copied = _run(
                av,
                container,
                stream,
                Path(partial),
                target.suffix.lower(),
                rate,
                (height, width),
                colorizer,
                smoother,
                placed,
                quality,
                total,
                progress,
            )
            if frames == 0:
                raise VideoError("the video has no frames")
            if target.exists() and not overwrite:
                raise FileExistsError(f"{target} exists (pass --overwrite to replace it)")
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise
    seconds = time.perf_counter() - started
    return VideoReport(frames, smoother.cuts, seconds, frames / seconds if seconds else 0.0, width, height, copied)


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text.split("; last error log:")[0].strip()


def _run(
    av: Any,
    container: Any,
    stream: Any,
    partial: Path,
    suffix: str,
    rate: Fraction,
    size: tuple[int, int],
    colorizer: Any,
    smoother: TemporalSmoother,
    hints: list | None,
    quality: int,
    total: int | None,
    progress: Callable[[int, int | None], None] | None,
) -> tuple[int, int]:
    """Decode, colorize and encode through bounded queues: (frames written, streams copied)."""
    height, width = size
    output = av.open(str(partial), mode="w", format={".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}[suffix])
    with output:
        encoder = output.add_stream("libx264" if "libx264" in av.codecs_available else "h264", rate=rate)
        # 4:2:0 input (nearly every film): the output keeps the input's own luma plane and gets new
        # chroma planes, computed at their own half resolution; anything else goes through RGB.
        planar = stream.codec_context.pix_fmt in ("yuv420p", "yuvj420p") and width % 2 == 0 and height % 2 == 0
        encoder.width, encoder.height = width, height
        # yuv420p (what every player plays) halves the chroma, so it needs even sizes; an odd-sized
        # film keeps its exact size in 4:4:4 instead.
        encoder.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        encoder.time_base = stream.time_base or Fraction(1, 1000)
        encoder.options = {"crf": str(quality), "preset": "veryfast"}
        encoder.thread_count = 1  # colorizing has the other core
        copies = {}
        for other in container.streams:
            if other.index == stream.index or other.type not in ("audio", "subtitle"):
                continue
            with contextlib.suppress(Exception):  # a codec the container cannot hold is left out
                copies[other.index] = output.add_stream_from_template(other)
        decoded: queue.Queue = queue.Queue(_QUEUE)
        colored: queue.Queue = queue.Queue(_QUEUE)
        failure: list[BaseException] = []
        stop = threading.Event()  # set when anything fails: every thread then ends at its next step

        def put(target_queue: queue.Queue, item: Any) -> bool:
            while not stop.is_set():
                try:
                    target_queue.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        def get(source_queue: queue.Queue) -> Any:
            while not stop.is_set():
                try:
                    return source_queue.get(timeout=0.2)
                except queue.Empty:
                    continue
            return None

        def read() -> None:
            try:
                for packet in container.demux():
                    if stop.is_set():
                        return
                    if packet.stream.index == stream.index:
                        for frame in packet.decode():
                            if (frame.height, frame.width) != (height, width):
                                raise VideoError(
                                    f"the frame size changes mid-stream ({width}x{height} to "
                                    f"{frame.width}x{frame.height})"
                                )
                            if not put(decoded, (_planes(frame, planar), frame.pts, frame.time_base)):
                                return
                    elif packet.stream.index in copies and packet.dts is not None:
                        packet.stream = copies[packet.stream.index]
                        if not put(colored, packet):
                            return
                put(decoded, None)
            except BaseException as error:  # noqa: BLE001  handed to the main thread
                failure.append(error)
                stop.set()

        def write() -> None:
            try:
                while (item := get(colored)) is not None:
                    if not isinstance(item, tuple):  # a copied sound or subtitle packet
                        output.mux(item)
                        continue
                    pixels, pts, time_base = item
                    frame = av.VideoFrame.from_ndarray(pixels, format="yuv420p" if planar else "rgb24")
                    frame.pts, frame.time_base = pts, time_base
                    output.mux(encoder.encode(frame))
                if not stop.is_set():
                    output.mux(encoder.encode())
            except BaseException as error:  # noqa: BLE001
                failure.append(error)
                stop.set()

        reader, writer = threading.Thread(target=read, daemon=True), threading.Thread(target=write, daemon=True)
        reader.start()
        writer.start()
        frames = 0
        try:
            while (item := get(decoded)) is not None:
                planes, pts, time_base = item
                if planar:
                    luma_plane, full_range = planes
                    pixels = _yuv420(
                        luma_plane, *colorize_chroma(colorizer, smoother, luma_plane, full_range, hints), full_range
                    )
                else:
                    pixels = colorize_frame(colorizer, smoother, InputImage(planes, None, []), hints)
                if not put(colored, (pixels, pts, time_base)):
                    break
                frames += 1
                if progress is not None:
                    progress(frames, total)
            put(colored, None)
            writer.join()
        except BaseException:
            stop.set()
            raise
        finally:
            stop.set()
            writer.join(timeout=60)
            reader.join(timeout=60)
        if failure:
            error = failure[0]
            if isinstance(error, ImageError):
                raise error
            if isinstance(error, (av.error.FFmpegError, OSError, ValueError)):
                raise VideoError(f"cannot read or write the video ({_reason(error)})") from None
            raise error
    return frames, len(copies)


def _frame_ab(
    colorizer: Any, smoother: TemporalSmoother, image: InputImage, hints: list | None
) -> tuple[np.ndarray, tuple[float, float]]:
    """A frame's ab at the working resolution: network logits, smoothed over time, decoded
    (and corrected to the hints), and how far (rows, columns; frame pixels) the picture has
    moved since (``compose``'s ``shift``). Between the frames the network runs on (every
    ``smoother.every``-th, and every cut), the last ab stands, moved with the picture."""
    from huenet.inference import decode_ab

    shape = colorizer.working_shape(image.size)
    lightness = image.working_lightness(*shape)
    if hints is None:  # hints hold where they were put: the colors do not follow the picture
        smoother.track(image)
    if not smoother.due(lightness):
        return smoother.ab, (float(smoother.shift[0]), float(smoother.shift[1]))
    (logits,) = colorizer.network_outputs([image], [hints] if hints else None)
    cells = (shape[0] / image.size[0] / colorizer.stride, shape[1] / image.size[1] / colorizer.stride)
    smoothed, _ = smoother.update(logits, lightness, cells)
    if hints:
        smoother.ab = colorizer.honor_hints(image, smoothed, hints)
    else:
        smoother.ab = decode_ab(colorizer.model, smoothed[None], colorizer.decoding, colorizer.shrink(image))[0]
    return smoother.ab, (0.0, 0.0)


def colorize_frame(
    colorizer: Any, smoother: TemporalSmoother, image: InputImage, hints: list | None = None
) -> np.ndarray:
    """One frame -> uint8 RGB (height, width, 3), as ``colorize`` would make it, smoothed over time."""
    ab, shift = _frame_ab(colorizer, smoother, image, hints)
    return np.asarray(colorizer.compose(image, ab, shift))


# Limited-range ("TV") 8-bit luma: 16 is black and 235 white.
_LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)


def colorize_chroma(
    colorizer: Any, smoother: TemporalSmoother, luma_plane: np.ndarray, full_range: bool, hints: list | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A 4:2:0 frame's new chroma planes (Cb, Cr), uint8 (height / 2, width / 2), from its luma plane.

    The gray the network sees is the luma in full range, as a gray image file holds it. The
    color is composed at the chroma planes' half resolution (the 2x2 mean of the gray) the
    way ``compose`` does it, so its luma is the gray's, and turned into ITU-R 601 Cb and Cr.
    """
    gray = luma_plane if full_range else _LIMITED_TO_FULL[luma_plane]
    cuts = smoother.cuts
    ab, shift = _frame_ab(colorizer, smoother, InputImage(gray, None, []), hints)
    height, width = gray.shape
    # Films of 2 * _COARSE_FROM rows or more get their color composed at a quarter of their size
    # and its chroma upsampled to the planes' half size: the network's colors are coarser still.
    step = 4 if height >= 2 * _COARSE_FROM and height % 4 == 0 and width % 4 == 0 else 2
    half = gray.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3), dtype=np.float32)  # the chroma planes' size
    small = (
        half
        if step == 2
        else gray.reshape(height // step, step, width // step, step).mean(axis=(1, 3), dtype=np.float32)
    ) / 255.0
    rgb = (
        np.asarray(colorizer.compose(InputImage(small, None, []), ab, (shift[0] / step, shift[1] / step)), np.float32)
        / 255.0
    )
    luma = color.luma(rgb)
    scale = 255.0 if full_range else 224.0
    planes = [
        128.0 + scale * 0.5 * (rgb[..., 2] - luma) / (1 - 0.114),
        128.0 + scale * 0.5 * (rgb[..., 0] - luma) / (1 - 0.299),
    ]
    if step != 2:
        from PIL import Image

        planes = [
            np.asarray(
                Image.fromarray(plane.astype(np.float32), mode="F").resize(
                    (width // 2, height // 2), Image.Resampling.BILINEAR
                )
            )
            for plane in planes
        ]
    cb, cr = smoother.smooth_planes(planes, half, restart=smoother.cuts != cuts)
    return (np.clip(np.round(cb), 0, 255).astype(np.uint8), np.clip(np.round(cr), 0, 255).astype(np.uint8))


def _planes(frame: Any, planar: bool) -> Any:
    """What the colorizing thread needs of a decoded frame: (luma plane, full range) for 4:2:0
    input, else the gray image."""
    if not planar:
        return frame.to_ndarray(format="gray")
    full_range = frame.format.name == "yuvj420p" or getattr(frame, "color_range", 0) == 2
    return frame.to_ndarray()[: frame.height], full_range


def _yuv420(luma_plane: np.ndarray, cb: np.ndarray, cr: np.ndarray, full_range: bool) -> np.ndarray:
    """yuv420p as PyAV lays it out: (height * 3 / 2, width), the three planes one after another.
    The output is limited range: a full-range input's luma is mapped to it."""
    if full_range:
        luma_plane = np.round(16 + luma_plane.astype(np.float32) * (219.0 / 255.0)).astype(np.uint8)
        cb = np.round(128 + (cb.astype(np.float32) - 128) * (224.0 / 255.0)).astype(np.uint8)
        cr = np.round(128 + (cr.astype(np.float32) - 128) * (224.0 / 255.0)).astype(np.uint8)
    height, width = luma_plane.shape
    return np.concatenate([luma_plane.ravel(), cb.ravel(), cr.ravel()]).reshape(height * 3 // 2, width)


def iter_frames(path: str | os.PathLike, format: str = "rgb24") -> Iterator[np.ndarray]:
    """Every frame of a video as an array (for tests and benchmarks)."""
    av = require_av()
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format=format)


__all__ = ["TemporalSmoother", "VideoError", "VideoMissing", "VideoReport", "colorize_video", "is_video"]
