"""``huenet colorize --ray``: the same batch on a Ray cluster, through Ray Data.

The driver (this process) plans the batch as the plain CLI does (``batch.plan`` and
``batch.triage``: same names, collisions and no-overwrite rules), then hands the list of
(source, target) pairs to Ray Data. ``map_batches`` runs them on a fixed pool of actors;
each actor loads the model once and colorizes its rows with ``batch.run``, the plain CLI's
own loop, so the outputs are the plain CLI's. Only file names travel through Ray's object
store: each actor reads its inputs and writes its outputs itself (local paths, which every
node must see, or pyarrow URIs), and groups images by pixel count, so an actor holds at
most one large photo at a time.

A worker that dies mid-batch is restarted by Ray and its batch done again. Outputs are
published atomically and never overwritten without ``--overwrite``, so a redone batch
finds the outputs its dead attempt finished already there and counts them as done: nothing
is lost, duplicated or half-written.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

from huenet import batch, storage

RAY_EXTRA_HINT = "pip install 'huenet[ray]'"
ERROR_LOG = "errors.jsonl"


class RayMissing(ImportError):
    """Ray is not installed; printed as one line with the install command."""


def require_ray() -> None:
    _use_token_if_present()  # read by Ray at import
    try:
        import pyarrow  # noqa: F401
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        raise RayMissing(
            f"--ray needs Ray Data, which a plain install leaves out; install it with: {RAY_EXTRA_HINT}"
        ) from None


@dataclasses.dataclass(frozen=True)
class RaySettings:
    """Where and how wide: ``address`` is "local" (start Ray here), "auto" (RAY_ADDRESS or
    the cluster this machine belongs to), HOST:PORT of a head, or ray://HOST:PORT."""

    address: str = "local"
    workers: int | None = None
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"--ray-workers must be at least 1, got {self.workers}")
        if self.batch_size < 1:
            raise ValueError(f"--ray-batch-size must be at least 1, got {self.batch_size}")


class _ColorizeActor:
    """One Ray actor: a model loaded once, colorizing the rows of each batch it is given."""

    def __init__(
        self, model: Any, engine: str, decoding: Any, working_size: int | None, overwrite: bool, max_pixels: int | None
    ):
        # One actor per CPU, each on one thread: TensorFlow (the Keras engine) reads these
        # when it is first imported, which in a fresh worker process is below.
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from huenet.inference import Colorizer
        from huenet.modelfile import load_model

        if isinstance(model, bytes):  # a model file from the driver's disk, sent through Ray
            handle, path = tempfile.mkstemp(suffix=".keras")
            with os.fdopen(handle, "wb") as stream:
                stream.write(model)
            try:
                loaded = load_model(path, engine=engine)
            finally:
                os.remove(path)
        else:
            loaded = load_model(model, engine=engine)
        self.colorizer = Colorizer(loaded, decoding, working_size, threads=1)
        self.overwrite = overwrite
        self.max_pixels = max_pixels

    def __call__(self, rows: dict[str, Any]) -> dict[str, list]:
        jobs = [batch.Job(str(s), str(t)) for s, t in zip(rows["source"], rows["target"])]
        columns: dict[str, list] = {"source": [], "target": [], "status": [], "reason": [], "notes": []}
        for outcome in batch.run(self.colorizer, jobs, self.overwrite, self.max_pixels, planned_missing=True):
            columns["source"].append(outcome.source)
            columns["target"].append(outcome.target)
            columns["status"].append(outcome.status)
            columns["reason"].append(outcome.problem.reason if outcome.problem else "")
            columns["notes"].append("\n".join(outcome.notes))
        return columns


def colorize_on_ray(
    jobs: Sequence[batch.Job],
    settings: RaySettings,
    model: str | None,
    engine: str,
    decoding: Any,
    working_size: int | None,
    overwrite: bool,
    max_pixels: int | None,
) -> Iterator[batch.Outcome]:
    """Outcomes of ``jobs`` colorized on Ray, as batches finish (not in input order)."""
    require_ray()
    import ray

    model_argument = _model_for_workers(model, engine, decoding, working_size)
    started_here = _connect(settings.address)
    try:
        workers = settings.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        # At least 4 tasks a worker, each sent to an idle worker only: a worker that starts
        # late (loading its model) would otherwise find its share queued on the first one,
        # and 20 photos of 12 MP took as long on 2 workers as on 1.
        batch_size = max(1, min(settings.batch_size, math.ceil(len(jobs) / (4 * workers))))
        blocks = math.ceil(len(jobs) / batch_size)
        workers = min(workers, blocks)
        dataset = ray.data.from_items(
            [{"source": job.source, "target": job.target} for job in jobs], override_num_blocks=blocks
        )
        results = dataset.map_batches(
            _ColorizeActor,
            fn_constructor_kwargs={
                "model": model_argument,
                "engine": batch.choose_engine(engine, len(jobs)),
                "decoding": decoding,
                "working_size": working_size,
                "overwrite": overwrite,
                "max_pixels": max_pixels,
            },
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
            num_cpus=1,
        )
        for rows in results.iter_batches(batch_size=None, batch_format="numpy"):
            for source, target, status, reason, notes in zip(
                rows["source"], rows["target"], rows["status"], rows["reason"], rows["notes"]
            ):
                problem = batch.Problem(str(source), str(reason)) if status == "failed" else None
                yield batch.Outcome(
                    str(source), str(target), str(status), problem, tuple(n for n in str(notes).split("\n") if n)
                )
    except ray.exceptions.RayError as error:  # retries exhausted, the cluster gone...
        raise ValueError(f"--ray {settings.address}: the batch failed on Ray ({storage.first_line(error)})") from None
    finally:
        if started_here:
            ray.shutdown()
    # Every task has finished: a temporary file still beside an output was left by a worker
    # that died mid-write (its task was redone and published the output).
    from huenet.files import remove_leftovers

    remove_leftovers([local for job in jobs if (local := storage.local_path(job.target)) is not None])


def _model_for_workers(model: str | None, engine: str, decoding: Any, working_size: int | None) -> Any:
    """What the actors load: a bundled model's name, or the bytes of a model file.

    The model is loaded here once first, so that an unknown name, a broken file or a
    setting the model cannot use fails in one line before Ray starts.
    """
    from huenet.inference import Colorizer
    from huenet.modelfile import bundled_name, load_model

    Colorizer(load_model(model, engine="numpy"), decoding, working_size, threads=1)
    if model is None or bundled_name(model) is not None:
        return model
    return Path(model).read_bytes()  # workers on other machines cannot see this path


def _connect(address: str) -> bool:
    """Connect to (or start) Ray; True when this call started it and must shut it down."""
    import ray
    import ray.data

    if ray.is_initialized():  # a library user's own Ray session
        return False
    from huenet.kerasutil import native_stderr_silenced

    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    # Ray's C++ core logs to stderr, at level error, that Ray Data's actors (restartable:
    # that is how a dead worker's batch is redone) take arguments from the object store:
    # advice for Ray's developers, noise to a user. Only fatal lines stay; the one line
    # that says so is written during init, which stays off the terminal.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    if address not in ("local", "auto"):
        _check_reachable(address)  # Ray itself retries an unreachable head for minutes
    try:
        with native_stderr_silenced():
            if address == "local":
                ray.init(include_dashboard=False, configure_logging=True, **quiet)
            else:
                ray.init(address=address, **quiet)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as error:
        raise ValueError(f"--ray {address}: cannot connect ({storage.first_line(error)})") from None
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # huenet's own bar counts images
    context.print_on_execution_start = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return True


def _use_token_if_present() -> None:
    """Send this machine's Ray token to an explicit HOST:PORT, as Ray does for "auto".

    Ray 2.60 (the version tested) starts clusters with token authentication, and ``ray start``
    saves the token in ~/.ray/auth_token; but ``ray.init(address=...)`` only sends it when
    RAY_AUTH_MODE=token is set. An explicit RAY_AUTH_MODE is left as the user set it.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    if (
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or (Path.home() / ".ray" / "auth_token").is_file()
    ):
        os.environ["RAY_AUTH_MODE"] = "token"


def _check_reachable(address: str) -> None:
    """Fail in one line, within seconds, when nothing listens at HOST:PORT (or ray://HOST:PORT)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(
            f"--ray {address}: give HOST:PORT of the cluster's head (as ray start prints it), ray://HOST:PORT, or auto"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as error:
        raise ValueError(
            f"--ray {address}: cannot connect ({error.strerror or error}); is the Ray head running?"
        ) from None


def error_log_location(jobs: Sequence[batch.Job], output: str | None) -> str:
    """errors.jsonl beside the outputs: in the output folder, or beside a single output file."""
    destination = batch.destination(jobs, output)
    if destination.endswith(("/", os.sep)):
        return storage.join(destination, ERROR_LOG)
    if storage.is_uri(destination):
        return destination.rsplit("/", 1)[0] + "/" + ERROR_LOG
    return str(Path(destination).parent / ERROR_LOG)


def write_error_log(problems: Sequence[batch.Problem], jobs: Sequence[batch.Job], output: str | None) -> str:
    """Replace errors.jsonl with this run's problems, one JSON object per line (empty: none)."""
    location = error_log_location(jobs, output)
    text = "".join(json.dumps({"source": p.source, "error": p.reason}, ensure_ascii=False) + "\n" for p in problems)
    storage.write_text(text, location)
    return location
