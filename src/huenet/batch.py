"""A batch of files to colorize: which output each input gets, and colorizing them.

One set of rules for ``huenet colorize`` on one machine and on Ray (``scaleout.py``):
``plan`` maps inputs to outputs (mirrored folders, one output format, no two inputs on one
output), ``triage`` applies the no-overwrite rules, and ``run`` reads, colorizes and
writes each job, one outcome per job. Locations are local paths or pyarrow URIs
(``storage.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
from pathlib import Path
from typing import Iterator, Sequence

from huenet import storage

# Above this many images, TensorFlow's 4-second import pays for itself: end to end on 2
# cores the Keras engine colorized 111 CIFAR-sized images/s against NumPy's 68 (2026-11-26).
KERAS_FROM_IMAGES = 500


class UsageError(Exception):
    """A problem with the command line; the CLI prints it as one line, exit code 2."""


@dataclasses.dataclass(frozen=True)
class Job:
    source: str
    target: str


@dataclasses.dataclass(frozen=True)
class Problem:
    """An input that gave no output, and why; printed as "SOURCE: REASON"."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of one job: "written", "failed", or "present" (the output appeared
    while the batch ran: on Ray, an earlier attempt of a retried batch wrote it)."""

    source: str
    target: str
    status: str
    problem: Problem | None = None
    notes: tuple[str, ...] = ()


def choose_engine(engine: str, images: int) -> str:
    """The engine "auto" stands for: Keras for big batches where it is installed, else NumPy."""
    if engine != "auto":
        return engine
    from huenet.kerasutil import keras_available

    return "keras" if images > KERAS_FROM_IMAGES and keras_available() else "numpy"


def format_names(separator: str = ", ") -> str:
    from huenet.images import OUTPUT_FORMAT_NAMES

    return separator.join(OUTPUT_FORMAT_NAMES)


def plan(inputs: Sequence[str], output: str | None, image_format: str) -> tuple[list[Job], list[Problem]]:
    """Map inputs (files, folders, globs, URIs) to outputs; returns (jobs, problems)."""
    from huenet.images import OUTPUT_EXTENSIONS, readable_extensions
    from huenet.video import OUTPUT_VIDEO_EXTENSIONS, VIDEO_EXTENSIONS

    extensions = readable_extensions() | VIDEO_EXTENSIONS
    pairs: list[tuple[str, str]] = []  # (source, path relative to the output folder, / separated)
    errors: list[Problem] = []
    for argument in inputs:
        found, problem = (
            _list_uri(argument, extensions) if storage.is_uri(argument) else _list_local(argument, extensions)
        )
        pairs += found
        if problem:
            errors.append(Problem(argument, problem))
    suffix = "." + image_format.lower().lstrip(".")
    if suffix not in OUTPUT_EXTENSIONS:
        raise ValueError(f"--format {image_format}: not an output format; use {format_names()}")
    output_suffix = storage.suffix(output) if output else ""
    single_file_target = output is not None and output_suffix.lower() in OUTPUT_EXTENSIONS | set(
        OUTPUT_VIDEO_EXTENSIONS
    )
    if output_suffix and not single_file_target and storage.kind(output) != "folder":
        # Only a name without an extension, or an existing folder, is an output folder: a
        # mistyped file name (out.jgp) would otherwise silently become a folder.
        raise ValueError(
            f"-o {output}: {output_suffix} is not an output format; name a file ending "
            f".{format_names(', .')} (videos: {', '.join(OUTPUT_VIDEO_EXTENSIONS)}), or a folder "
            "(a name without an extension)"
        )
    if single_file_target and len(pairs) == 1:
        source_is_video = Path(pairs[0][0]).suffix.lower() in VIDEO_EXTENSIONS
        target_is_video = output_suffix.lower() in OUTPUT_VIDEO_EXTENSIONS
        if source_is_video and not target_is_video:
            raise UsageError(
                f"-o {output}: {pairs[0][0]} is a video; name an output ending {', '.join(OUTPUT_VIDEO_EXTENSIONS)}"
            )
    if single_file_target and len(pairs) > 1:
        raise UsageError(f"-o {output} names one file but {len(pairs)} inputs were given; give a folder")
    out_dir = output or "colorized"
    if not single_file_target and _is_not_a_folder(out_dir):
        # Checked once here; otherwise every image would fail alone with a bare "File exists".
        raise UsageError(f"-o {out_dir}: exists and is not a folder")
    jobs, claimed = [], {}
    for source, relative in pairs:
        if single_file_target:
            target = output
        else:
            own = Path(relative).suffix.lower()
            # A video keeps its container where it holds H.264 (.mkv, .mov), else becomes .mp4.
            kept = (own if own in OUTPUT_VIDEO_EXTENSIONS else ".mp4") if own in VIDEO_EXTENSIONS else suffix
            target = storage.join(out_dir, str(Path(relative).with_suffix(kept).as_posix()))
        key = target if storage.is_uri(target) else os.path.normcase(os.path.abspath(target))
        if key in claimed:
            errors.append(Problem(source, f"its output {target} is already the output of {claimed[key]}; skipped"))
            continue
        claimed[key] = source
        jobs.append(Job(source, target))
    return jobs, errors


def _is_not_a_folder(location: str) -> bool:
    """Whether something other than a folder is there: a file, a pipe, a dangling link."""
    if storage.is_uri(location):
        return storage.kind(location) == "file"
    path = Path(location)
    return (path.exists() or path.is_symlink()) and not path.is_dir()


def _list_local(argument: str, extensions: frozenset[str]) -> tuple[list[tuple[str, str]], str]:
    path = Path(argument)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
        return [
            (str(p), p.relative_to(path).as_posix()) for p in found
        ], "" if found else "no image files in this folder"
    if path.is_file():
        return [(argument, path.name)], ""
    matches = sorted(Path(m) for m in glob.glob(argument, recursive=True) if Path(m).is_file())
    if matches:
        return [(str(m), m.name) for m in matches], ""
    if path.is_symlink():
        return [], "broken symbolic link (its target is missing or a loop)"
    if path.exists():  # a pipe or device: reading it could block forever
        return [], "not a regular file or folder"
    return [], "no such file, folder or matching files"


def _list_uri(argument: str, extensions: frozenset[str]) -> tuple[list[tuple[str, str]], str]:
    try:
        what = storage.kind(argument)
        if what == "folder":
            found = storage.list_folder(argument, extensions)
            return found, "" if found else "no image files in this folder"
    except storage.StorageError as error:
        return [], error.reason
    if what == "file":
        return [(argument, argument.rstrip("/").rsplit("/", 1)[-1])], ""
    return [], "no such file or folder (URIs take no glob patterns)"


def triage(jobs: Sequence[Job], overwrite: bool, skip_existing: bool) -> tuple[list[Job], int, list[Problem]]:
    """(jobs to run, outputs already there and kept, problems) under the no-overwrite rules."""
    sources = {Path(job.source).resolve() for job in jobs if not storage.is_uri(job.source)}
    present = storage.existing([job.target for job in jobs])
    runnable, skipped, errors = [], 0, []
    for job in jobs:
        if (not storage.is_uri(job.target) and Path(job.target).resolve() in sources) or storage.same(
            job.target, job.source
        ):
            errors.append(Problem(job.source, f"output {job.target} would overwrite an input; skipped"))
        elif job.target in present and skip_existing:
            skipped += 1
        elif job.target in present and not overwrite:
            errors.append(
                Problem(job.source, f"output {job.target} exists (pass --overwrite to replace it, or --skip-existing)")
            )
        else:
            runnable.append(job)
    return runnable, skipped, errors


def destination(jobs: Sequence[Job], output: str | None) -> str:
    """Where the outputs go, for the summary: the file of a single-file output, else the folder."""
    if len(jobs) == 1 and output is not None and jobs[0].target == output:
        return jobs[0].target
    folder = output or "colorized"
    return folder.rstrip("/") + "/" if storage.is_uri(folder) else f"{Path(folder)}{os.sep}"


def chunks(jobs: Sequence[Job], files_per_chunk: int = 256, pixels_per_chunk: int = 16_000_000) -> Iterator[list[Job]]:
    """Groups of small files share network batches; a big image is read on its own, so
    memory holds at most one large decoded image (plus its output) at a time."""
    chunk: list[Job] = []
    budget = 0
    for job in jobs:
        pixels = storage.pixel_count(job.source)
        if chunk and (len(chunk) >= files_per_chunk or budget + pixels > pixels_per_chunk):
            yield chunk
            chunk, budget = [], 0
        chunk.append(job)
        budget += pixels
    if chunk:
        yield chunk


def run(
    colorizer,
    jobs: Sequence[Job],
    overwrite: bool,
    max_pixels: int | None,
    planned_missing: bool = False,
    hints: dict[str, list] | None = None,
    video_quality: int = 20,
    video_progress: bool = False,
) -> Iterator[Outcome]:
    """Read, colorize and write each job; one Outcome per job, in order.

    ``planned_missing``: the jobs were triaged as having no output yet, so an output that
    exists at publication was written by an earlier attempt of this batch (Ray retries a
    batch whose worker died) and counts as done ("present"), not as an error.
    ``hints``: color hints by job source (``huenet.hints``); a hint that does not fit its
    image (outside it, say) fails that job alone. Videos (``is_video_job``) go through
    ``huenet.video`` first, one at a time, with x264 quality ``video_quality`` and a frame
    progress bar if ``video_progress``.
    """
    from huenet.hints import HintError
    from huenet.images import ImageError

    hints = hints or {}
    videos = [job for job in jobs if is_video_job(job)]
    for job in videos:
        yield _run_video(colorizer, job, overwrite, max_pixels, hints.get(job.source), video_quality, video_progress)
    jobs = [job for job in jobs if not is_video_job(job)]
    for chunk in chunks(jobs):
        loaded = []
        for job in chunk:
            try:
                image = storage.read(job.source, max_pixels)
                placed = colorizer.check_hints(hints.get(job.source), image.size) if job.source in hints else None
            except (ImageError, HintError, MemoryError) as error:
                yield Outcome(job.source, job.target, "failed", Problem(job.source, str(error) or "out of memory"))
                continue
            notes = list(image.notes)
            loaded.append((job, image, notes, placed))
        ab_maps = (
            colorizer.predict_ab([image for _, image, _, _ in loaded], [placed for *_, placed in loaded])
            if loaded
            else []
        )
        loaded = [(job, image, notes) for job, image, notes, _ in loaded]
        for (job, image, notes), ab in zip(loaded, ab_maps):
            try:
                result = colorizer.compose(image, ab)
                if result.mode == "RGBA" and storage.suffix(job.target).lower() in (".jpg", ".jpeg", ".bmp"):
                    notes.append(f"{storage.suffix(job.target)} cannot hold transparency; alpha dropped")
                storage.write_image(result, job.target, overwrite=overwrite, threads=colorizer.threads)
            except FileExistsError as error:
                if planned_missing and not overwrite:
                    yield Outcome(job.source, job.target, "present", notes=tuple(notes))
                else:
                    yield _failed(job, str(error), notes)
                continue
            except (OSError, ValueError, MemoryError) as error:
                yield _failed(job, str(error) or "out of memory", notes)
                continue
            yield Outcome(job.source, job.target, "written", notes=tuple(notes))


def is_video_job(job: Job) -> bool:
    """A job whose output is a video file (its input is a video, or an animated image)."""
    from huenet.video import OUTPUT_VIDEO_EXTENSIONS

    return storage.suffix(job.target).lower() in OUTPUT_VIDEO_EXTENSIONS


def _run_video(
    colorizer, job: Job, overwrite: bool, max_pixels: int | None, hints: list | None, quality: int, progress: bool
) -> Outcome:
    import sys

    from tqdm import tqdm

    from huenet.images import ImageError
    from huenet.video import colorize_video

    if storage.is_uri(job.source) or storage.is_uri(job.target):
        return Outcome(
            job.source, job.target, "failed", Problem(job.source, "videos are read and written on local paths only")
        )
    bars: list = []

    def advance(done: int, total: int | None) -> None:
        if not bars:  # made at the first frame: a file that fails at once shows no bar
            bars.append(
                tqdm(
                    total=total,
                    unit="frame",
                    desc=Path(job.source).name,
                    disable=not progress,
                    leave=False,
                    file=sys.stderr,
                )
            )
        bars[0].update(done - bars[0].n)

    with contextlib.ExitStack() as stack:
        stack.callback(lambda: bars and bars[0].close())
        try:
            colorize_video(
                job.source,
                job.target,
                colorizer,
                hints=hints,
                quality=quality,
                overwrite=overwrite,
                max_pixels=max_pixels,
                progress=advance,
            )
        except (ImageError, ValueError, MemoryError) as error:
            return Outcome(job.source, job.target, "failed", Problem(job.source, str(error) or "out of memory"))
        except (FileExistsError, OSError) as error:
            return _failed(job, str(error), [])
    return Outcome(job.source, job.target, "written")


def _failed(job: Job, reason: str, notes: list[str]) -> Outcome:
    return Outcome(
        job.source,
        job.target,
        "failed",
        Problem(job.source, f"cannot colorize or write {job.target} ({reason})"),
        tuple(notes),
    )
