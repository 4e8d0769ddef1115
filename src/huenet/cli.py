"""The ``huenet`` command: a thin shell over the library.

Heavy imports (Keras, TensorFlow) happen inside the commands, so ``huenet --help`` is
instant. Errors a user can cause print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from huenet.batch import UsageError  # noqa: F401  (raised here and by batch.plan, caught in main)

_PROGRAM = "huenet"


# Control characters (a newline in a file name, say) written as escapes, so that every
# message stays one line that scripts can split on.
_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROL_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def _one_line(message: str) -> str:
    return message.translate(_CONTROL_ESCAPES)


def _error(message: str, during_progress: bool = False) -> None:
    line = f"{_PROGRAM}: error: {_one_line(message)}"
    if during_progress:  # above the progress bar, not through it
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)


def _warn(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(f"{_PROGRAM}: warning: {_one_line(message)}", file=sys.stderr)


# --- colorize ---------------------------------------------------------------------------------


def command_colorize(arguments: argparse.Namespace) -> int:
    from tqdm import tqdm

    from huenet import batch

    if arguments.ray is not None:
        from huenet.scaleout import require_ray

        require_ray()  # before any listing: the one-line install hint, not a late failure
    jobs, errors = batch.plan(arguments.inputs, arguments.output, arguments.format)
    hints = _hints_for(jobs, arguments)  # every hint is checked before any image is read
    if arguments.confidence_map is not None:
        _check_confidence_map(arguments, jobs)
    runnable, skipped, triage_errors = batch.triage(jobs, arguments.overwrite, arguments.skip_existing)
    errors += triage_errors
    for problem in errors:
        _error(str(problem))
    destination = batch.destination(jobs, arguments.output)
    if not runnable:
        if errors:  # each already said in its own line
            return 1
        if skipped:
            if not arguments.quiet:
                print(
                    f"{_PROGRAM}: nothing to do: all {skipped} output(s) already exist in {destination}",
                    file=sys.stderr,
                )
            return 0
        _error("nothing to colorize")
        return 1

    from huenet.inference import Decoding

    engine = arguments.engine
    if engine == "keras":
        from huenet.kerasutil import require_keras

        require_keras("--engine keras")
    decoding = Decoding(arguments.temperature, arguments.vivid, arguments.vividness, stretch=arguments.stretch)
    if arguments.ray is not None:
        from huenet.scaleout import RaySettings, colorize_on_ray

        settings = RaySettings(arguments.ray, arguments.ray_workers, arguments.ray_batch_size)
        outcomes = colorize_on_ray(
            runnable,
            settings,
            arguments.model,
            engine,
            decoding,
            arguments.working_size,
            arguments.overwrite,
            arguments.max_pixels,
        )
    else:
        outcomes = _colorize_here(runnable, arguments, engine, decoding, hints)
    written = 0
    with tqdm(total=len(runnable), unit="image", disable=len(runnable) < 2 or arguments.quiet, file=sys.stderr) as bar:
        for outcome in outcomes:
            for note in outcome.notes:
                _warn(f"{outcome.source}: {note}")
            if outcome.problem is not None:
                errors.append(outcome.problem)
                _error(str(outcome.problem), during_progress=True)
            else:
                written += 1
            bar.update(1)
    if arguments.ray is not None:
        from huenet.scaleout import write_error_log

        write_error_log(errors, jobs, arguments.output)
    if arguments.confidence_map is not None and written:
        _write_confidence_map(arguments, runnable[0], engine, decoding, hints)
    failed = len(errors)
    if not arguments.quiet or failed:
        kept = f", {skipped} already there" if skipped else ""
        print(f"{_PROGRAM}: colorized {written} image(s) into {destination}{kept}, {failed} error(s)", file=sys.stderr)
    return 1 if failed else 0


def _colorize_here(
    jobs: list, arguments: argparse.Namespace, engine: str, decoding: Any, hints: dict[str, list] | None = None
) -> Any:
    """Outcomes of colorizing ``jobs`` in this process (a generator: the model loads on first use)."""
    from huenet import batch
    from huenet.inference import Colorizer
    from huenet.modelfile import load_model

    engine = batch.choose_engine(engine, len(jobs))
    # A setting the model cannot use fails here, before any image is read.
    colorizer = Colorizer(
        load_model(arguments.model, engine=engine), decoding, arguments.working_size, arguments.threads
    )
    if hints and not colorizer.takes_hints:
        raise ValueError(f"model {arguments.model or 'default'} does not take color hints")
    return batch.run(
        colorizer,
        jobs,
        arguments.overwrite,
        arguments.max_pixels,
        hints=hints,
        video_quality=arguments.video_quality,
        video_progress=not arguments.quiet,
    )


def _hints_for(jobs: list, arguments: argparse.Namespace) -> dict[str, list] | None:
    """Each job's hints (source -> list) from --hint and --hints, or None when none are given."""
    from huenet import guided

    if not arguments.hint and arguments.hints is None:
        return None
    if arguments.ray is not None:
        raise UsageError("--hint and --hints do not run with --ray; colorize those images without it")
    given = [guided.parse_cli_hint(text) for text in arguments.hint or []]
    from_file = guided.read_hints_file(arguments.hints) if arguments.hints is not None else []
    if isinstance(from_file, dict):
        if given:
            raise UsageError("--hint cannot be combined with a --hints file that maps file names to hints")
        return _match_hint_names(jobs, from_file, arguments.hints)
    given += from_file
    if len(jobs) != 1:
        raise UsageError(
            f"--hint and a --hints list are for one input, but {len(jobs)} were given; for several, "
            "give --hints a JSON mapping from file name to hints"
        )
    return {jobs[0].source: given}


def _match_hint_names(jobs: list, by_name: dict[str, list], hints_file: str) -> dict[str, list]:
    """A hints mapping's keys matched to the jobs: a key names an input by its path as given,
    its path inside the input folder, or its file name, when that is unique."""
    matched: dict[str, list] = {}
    for key, hints in by_name.items():
        wanted = Path(key).as_posix()
        found = [
            job.source
            for job in jobs
            if Path(job.source).as_posix() == wanted or Path(job.source).as_posix().endswith("/" + wanted)
        ]
        if len(found) != 1:
            what = "no input" if not found else f"{len(found)} inputs"
            raise UsageError(f"{hints_file}: hints for {key!r} match {what}")
        matched[found[0]] = hints
    return matched


def _check_confidence_map(arguments: argparse.Namespace, jobs: list) -> None:
    from huenet.images import OUTPUT_EXTENSIONS

    path = Path(arguments.confidence_map)
    if arguments.ray is not None or len(jobs) != 1:
        raise UsageError("--confidence-map is for one input (and not with --ray)")
    if path.suffix.lower() not in OUTPUT_EXTENSIONS:
        raise UsageError(
            f"--confidence-map {path}: name a file ending .{', .'.join(sorted(e.lstrip('.') for e in OUTPUT_EXTENSIONS))}"
        )
    if path.resolve() in (Path(jobs[0].source).resolve(), Path(jobs[0].target).resolve()):
        raise UsageError(f"--confidence-map {path}: is the input or the output")
    if path.exists() and not arguments.overwrite:
        raise UsageError(f"--confidence-map {path}: exists (pass --overwrite to replace it)")


def _write_confidence_map(
    arguments: argparse.Namespace, job: Any, engine: str, decoding: Any, hints: dict | None
) -> None:
    from huenet import batch, guided, storage
    from huenet.inference import Colorizer
    from huenet.modelfile import load_model

    colorizer = Colorizer(
        load_model(arguments.model, engine=batch.choose_engine(engine, 1)),
        decoding,
        arguments.working_size,
        arguments.threads,
    )
    image = storage.read(job.source, arguments.max_pixels)
    level = guided.confidence(image, (hints or {}).get(job.source), colorizer)
    storage.write_image(guided.confidence_image(level), arguments.confidence_map, overwrite=arguments.overwrite)


# --- models -----------------------------------------------------------------------------------


def command_models(arguments: argparse.Namespace) -> int:
    from huenet.evaluate import test_set_name
    from huenet.modelfile import bundled_model_path, bundled_models, model_aliases, read_metadata
    from huenet.models import get_preset, preset_names

    print("Bundled models (use with --model NAME):")
    for name in bundled_models():
        metadata = read_metadata(bundled_model_path(name))
        metrics = metadata.get("metrics", {})
        settings = metadata["settings"]
        entry = bundled_models()[name]
        released = f"version {entry['version']} ({entry['date']}), " if "version" in entry else ""
        heading = f"  {name:10s} {released}preset {metadata['preset']}, working size {settings.get('working_size')}"
        if settings.get("film_working_size"):
            heading += f" (films {settings['film_working_size']})"
        if "evaluations" in metrics:  # one summary per test set
            print(heading)
            for test_set, summary in metrics.get("summary", {}).items():
                print(f"  {'':10s} {test_set}: {summary}")
        else:
            summary = (
                ", ".join(f"{key} {value}" for key, value in metrics.get("summary", {}).items())
                or "no recorded metrics"
            )
            dataset = metrics.get("dataset")
            print(f"{heading}: {summary}" + (f" ({test_set_name(dataset)})" if dataset else ""))
        if "temperature" in settings:  # ab-bin models: the decoding the defaults and --vivid use
            print(f"  {'':10s} decoding: {_decoding_summary(settings)}")
            if "shrunk" in settings:
                print(
                    f"  {'':10s} images shrunk {settings['shrunk']['shrink']:g}x or more to the working size: "
                    f"{_decoding_summary(settings['shrunk'])} (blended in between)"
                )
        if settings.get("hint_inputs"):
            print(f"  {'':10s} takes color hints (--hint, --hints; the page and API too)")
    for alias, entry in model_aliases().items():
        print(f"  {alias:10s} stands for {entry['alias']}: {entry.get('note', 'an alias')}")
    print("\nPresets (use with huenet train --preset NAME):")
    for name in preset_names():
        preset = get_preset(name)
        print(f"  {name:20s} {preset.description}")
    return 0


# --- train / evaluate -------------------------------------------------------------------------


def _decoding_summary(settings: dict[str, Any]) -> str:
    """A settings block's faithful decoding and its --vivid one, in words (a chroma contrast
    only where it is not 1)."""
    vivid = settings.get("vivid", {})

    def contrast(block: dict[str, Any]) -> str:
        return f", contrast {block['contrast']}" if block.get("contrast", 1.0) != 1.0 else ""

    return f"temperature {settings['temperature']}, vividness {settings.get('vividness', 0.0)}{contrast(settings)}" + (
        f"; --vivid: temperature {vivid.get('temperature', settings['temperature'])}, vividness {vivid['vividness']}"
        + contrast(vivid)
        if "vividness" in vivid
        else ""
    )


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls: Any, skip: Sequence[str] = ()) -> None:
    """One flag per dataclass field: --field-name, typed from the field's annotation."""
    kinds = {"int": int, "float": float, "str": str, "bool": bool}
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        flag = "--" + field.name.replace("_", "-")
        # Annotations are strings here ("float | None"): the first type named is the flag's.
        kind = kinds[str(field.type).split("|")[0].strip()]
        if kind is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=field.default, help=field.metadata.get("help")
            )
        else:
            parser.add_argument(
                flag, type=kind, default=field.default, metavar=field.name.upper(), help=field.metadata.get("help")
            )


def command_train(arguments: argparse.Namespace) -> int:
    from huenet.kerasutil import require_keras
    from huenet.train import TrainConfig, train

    require_keras("huenet train")
    values = {field.name: getattr(arguments, field.name) for field in dataclasses.fields(TrainConfig)}
    train(TrainConfig(**values))
    return 0


def command_evaluate(arguments: argparse.Namespace) -> int:
    from huenet.evaluate import evaluate_command
    from huenet.kerasutil import require_keras

    require_keras("huenet evaluate")
    return evaluate_command(arguments)


def command_serve(arguments: argparse.Namespace) -> int:
    import importlib.util

    missing = [name for name in ("starlette", "uvicorn", "multipart") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"huenet serve needs {', '.join(missing)}, which a plain install leaves out; "
            "install them with: pip install 'huenet[serve]'"
        )
    from huenet.serve import ServeConfig, serve

    for name, value, low in (
        ("--port", arguments.port, 0),
        ("--workers", arguments.workers, 1),
        ("--queue", arguments.queue, 0),
    ):
        if value < low:
            raise UsageError(f"{name} must be at least {low}, got {value}")
    if not arguments.max_upload_mb > 0:
        raise UsageError(f"--max-upload-mb must be positive, got {arguments.max_upload_mb}")
    config = ServeConfig(
        model=arguments.model,
        max_upload_mb=arguments.max_upload_mb,
        workers=arguments.workers,
        queue=arguments.queue,
        max_pixels=arguments.max_pixels,
        cors_origins=arguments.cors_origin or [],
    )
    serve(arguments.host, arguments.port, config, open_browser=arguments.open)
    return 0


# --- entry point ------------------------------------------------------------------------------


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, where it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, False, "", argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    from huenet import __version__
    from huenet.batch import KERAS_FROM_IMAGES, format_names
    from huenet.images import DEFAULT_MAX_PIXELS

    parser = argparse.ArgumentParser(prog=_PROGRAM, description="Colorize grayscale images with a small CNN.")
    parser.add_argument("--version", action="version", version=f"{_PROGRAM} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    colorize = commands.add_parser("colorize", help="colorize image files, folders or globs")
    colorize.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or glob patterns"
    )
    colorize.add_argument(
        "-o",
        "--output",
        help="output folder (mirrors the input tree; default ./colorized) or, for one input, an output file",
    )
    colorize.add_argument(
        "--format", default="png", help=f"output format for folder outputs: one of {format_names()} (default png)"
    )
    colorize.add_argument(
        "-m", "--model", default=None, help="bundled model name or .keras file (default: the bundled model)"
    )
    colorize.add_argument(
        "--vivid",
        action="store_true",
        help="more colorful, less faithful colors (the model's calibrated vivid setting)",
    )
    colorize.add_argument(
        "--vividness",
        type=float,
        help="chroma strength for ab-bin models, -2 (muted) to 3 (default: the model's calibrated faithful value; --vivid picks its vivid one; huenet models shows both)",
    )
    colorize.add_argument(
        "--stretch",
        action="store_true",
        help="faded or low-contrast photos: the network sees the gray stretched to a normal contrast (the output keeps the photo's own gray levels)",
    )
    colorize.add_argument(
        "--temperature", type=float, help="annealed-mean temperature for ab-bin models (advanced; default: the model's)"
    )
    colorize.add_argument(
        "--working-size",
        type=int,
        help="long side in pixels at which the network runs (default: the model's; films: its film size if it has one)",
    )
    colorize.add_argument(
        "--engine",
        choices=("auto", "numpy", "keras"),
        default="auto",
        help=f"what runs the network: numpy starts in under a second, keras (TensorFlow) "
        f"takes about 4 s to import but is faster per image; auto: numpy up to {KERAS_FROM_IMAGES} images",
    )
    colorize.add_argument(
        "--threads",
        type=int,
        help="threads for the full-resolution work (default: the cores not busy with other processes)",
    )
    colorize.add_argument("--overwrite", action="store_true", help="replace existing output files (never inputs)")
    colorize.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave existing output files alone and colorize only the missing ones (resume a batch)",
    )
    colorize.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse larger images (decompression-bomb guard, default {DEFAULT_MAX_PIXELS})",
    )
    colorize.add_argument(
        "--hint",
        action="append",
        metavar="X,Y,#RRGGBB[,SIZE]",
        help="a color hint (repeatable): the patch of SIZE pixels (default about 1%% of the long side) "
        "centered at column X, row Y has this color's chroma; for a model that takes hints (huenet models)",
    )
    colorize.add_argument(
        "--hints",
        metavar="FILE.json",
        help='hints from a JSON file: a list of {"x", "y", "color", "size"} for one input, or a mapping '
        "from input file name to such a list",
    )
    colorize.add_argument(
        "--confidence-map",
        metavar="OUT.png",
        help="also write where the model is sure of its colors (white) and unsure (black), for one input",
    )
    colorize.add_argument(
        "--video-quality",
        type=int,
        default=20,
        metavar="CRF",
        help="videos: x264 quality, 0 (lossless) to 51 (default 20; lower is better and larger)",
    )
    colorize.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    colorize.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="colorize on a Ray cluster: HOST:PORT of its head, ray://HOST:PORT (Ray Client), "
        "auto (RAY_ADDRESS); alone, a local Ray on this machine. Needs pip install 'huenet[ray]'",
    )
    colorize.add_argument(
        "--ray-workers", type=int, help="with --ray: colorizing processes (default: one per CPU of the cluster)"
    )
    colorize.add_argument(
        "--ray-batch-size",
        type=int,
        default=32,
        help="with --ray: images per task; a dead worker's task is redone whole",
    )
    colorize.set_defaults(handler=command_colorize)

    serve = commands.add_parser(
        "serve",
        help="a local web page (and HTTP API) to colorize photos in a browser",
        formatter_class=_DefaultsFormatter,
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface, with a warning)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (0: any free port)")
    serve.add_argument("-m", "--model", default=None, help="the bundled model the page starts with")
    serve.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload accepted, in MB")
    serve.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="largest image accepted, in pixels (decompression-bomb guard)",
    )
    serve.add_argument("--workers", type=int, default=1, help="images colorized at once")
    serve.add_argument(
        "--queue", type=int, default=8, help="requests waiting for a worker before the server answers 503"
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="allow cross-origin requests from ORIGIN (repeatable; none by default)",
    )
    serve.add_argument("--open", action="store_true", help="open the page in a browser")
    serve.set_defaults(handler=command_serve)

    models = commands.add_parser("models", help="list bundled models and presets")
    models.set_defaults(handler=command_models)

    from huenet.train import TrainConfig

    train = commands.add_parser(
        "train", help="train a preset on a folder, archive or CIFAR-10 release", formatter_class=_DefaultsFormatter
    )
    _add_dataclass_flags(train, TrainConfig)
    train.set_defaults(handler=command_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a model and the trivial baselines on held-out images",
        formatter_class=_DefaultsFormatter,
    )
    from huenet.evaluate import add_evaluate_arguments

    add_evaluate_arguments(evaluate)
    evaluate.set_defaults(handler=command_evaluate)
    return parser


# Options whose values may start with a minus: argparse takes "--hint -5,10,#ff0000" for an
# unknown option and answers with the whole usage text; the value goes through the option's own
# check instead ("outside the image").
_VALUES_MAY_START_WITH_MINUS = ("--hint",)


def _attach_option_values(argv: list[str]) -> list[str]:
    """``--hint -5,10,...`` -> ``--hint=-5,10,...`` (what argparse reads as the option's value)."""
    joined, index = [], 0
    while index < len(argv):
        if argv[index] == "--":
            return joined + argv[index:]
        value = argv[index + 1] if index + 1 < len(argv) else ""
        if argv[index] in _VALUES_MAY_START_WITH_MINUS and value[:1] == "-" and value[1:2] in set("0123456789."):
            joined.append(f"{argv[index]}={value}")
            index += 2
            continue
        joined.append(argv[index])
        index += 1
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    # TensorFlow's C++ start-up chatter (CPU features, oneDNN) is noise to a CLI user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    arguments = parser.parse_args(_attach_option_values(list(sys.argv[1:] if argv is None else argv)))

    from huenet.images import ImageError
    from huenet.kerasutil import KerasMissing
    from huenet.modelfile import ModelFileError
    from huenet.scaleout import RayMissing

    try:
        return arguments.handler(arguments)
    except BrokenPipeError:  # the reader went away (huenet models | head): nothing to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that Python's flush at exit cannot fail again
        return 141  # what a shell reports for SIGPIPE
    except UsageError as error:
        _error(str(error))
        return 2
    except (
        ImageError,
        ModelFileError,
        ValueError,
        FileExistsError,
    ) as error:  # DatasetError, StorageError: ValueErrors
        _error(str(error))
        return 1
    except OSError as error:  # an output folder that is a file, a full disk, no permission...
        _error(f"{error.filename}: {error.strerror}" if error.filename and error.strerror else str(error))
        return 1
    except (KerasMissing, RayMissing) as error:
        _error(str(error))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
