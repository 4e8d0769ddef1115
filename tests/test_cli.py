"""The huenet command end to end, on the bundled model."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from huenet import cli
from huenet.modelfile import bundled_model_path, bundled_models, read_metadata


@pytest.fixture
def good_png(tmp_path):
    path = tmp_path / "in" / "good.png"
    path.parent.mkdir()
    Image.fromarray(np.tile(np.arange(0, 240, 8, dtype=np.uint8), (20, 1))).save(path)
    return path


def _run(arguments, capsys):
    code = cli.main([str(a) for a in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_folder_with_bad_files(tmp_path, good_png, capsys):
    folder = good_png.parent
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(buffer, "JPEG")
    (folder / "truncated.jpg").write_bytes(buffer.getvalue()[:200])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("this is not a picture\n")
    out = tmp_path / "out"
    code, _, err = _run(["colorize", folder, "-o", out, "-q"], capsys)
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["good.png"]
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert len(error_lines) == 3, err
    for name in ("truncated.jpg", "empty.png", "text.png"):
        assert sum(name in line for line in error_lines) == 1
    assert "Traceback" not in err
    assert f"colorized 1 image(s) into {out}{os.sep}, 3 error(s)" in err
    with Image.open(out / "good.png") as result:
        assert result.size == (30, 20) and result.mode == "RGB"


def test_control_characters_in_names_keep_each_message_on_one_line(tmp_path, good_png, capsys):
    folder = good_png.parent
    (folder / "bad\nname.png").write_text("not a picture")
    (folder / "tab\tname.jpg").write_bytes(b"")
    code, _, err = _run(["colorize", folder, "-o", tmp_path / "out", "-q"], capsys)
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 3, err  # two errors and the summary, nothing split across lines
    assert any(line.endswith("bad\\nname.png: not an image Pillow can read") for line in lines), err
    assert any("tab\\tname.jpg: empty file" in line for line in lines), err
    assert (tmp_path / "out" / "good.png").exists()


def test_output_tree_mirrors_input_tree(tmp_path, good_png, capsys):
    nested = good_png.parent / "a" / "b"
    nested.mkdir(parents=True)
    Image.open(good_png).save(nested / "deep.jpg")
    out = tmp_path / "out"
    code, _, _ = _run(["colorize", good_png.parent, "-o", out], capsys)
    assert code == 0
    assert (out / "good.png").is_file() and (out / "a" / "b" / "deep.png").is_file()


@pytest.mark.parametrize("name", ["out.gif", "out.jgp"])
def test_an_output_name_in_a_format_we_cannot_write_is_refused(tmp_path, good_png, capsys, name):
    code, _, err = _run(["colorize", good_png, "-o", tmp_path / name], capsys)
    suffix = name.rsplit(".", 1)[1]
    assert code == 1 and err.count("\n") == 1, err  # one line, exit 1
    assert f".{suffix} is not an output format" in err and ".png, .jpg, .webp, .tiff, .bmp" in err
    assert list(tmp_path.iterdir()) == [good_png.parent]  # nothing created: not turned into a folder of that name


def test_an_existing_folder_with_a_dot_or_a_plain_name_is_an_output_folder(tmp_path, good_png, capsys):
    dotted = tmp_path / "results.v2"
    dotted.mkdir()
    assert _run(["colorize", good_png, "-o", dotted, "-q"], capsys)[0] == 0
    assert (dotted / "good.png").is_file()
    assert _run(["colorize", good_png, "-o", tmp_path / "plain", "-q"], capsys)[0] == 0
    assert (tmp_path / "plain" / "good.png").is_file()


def test_the_summary_says_where_the_outputs_went(tmp_path, good_png, capsys):
    code, _, err = _run(["colorize", good_png.parent, "-o", tmp_path / "folder"], capsys)
    assert code == 0 and f"colorized 1 image(s) into {tmp_path / 'folder'}{os.sep}, 0 error(s)" in err
    code, _, err = _run(["colorize", good_png, "-o", tmp_path / "one.png"], capsys)
    assert code == 0 and f"colorized 1 image(s) into {tmp_path / 'one.png'}, 0 error(s)" in err


def test_skip_existing_resumes_a_batch(tmp_path, good_png, capsys):
    folder = good_png.parent
    Image.open(good_png).save(folder / "second.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "good.png").write_bytes(b"done before")
    code, _, err = _run(["colorize", folder, "-o", out, "--skip-existing"], capsys)
    assert code == 0 and "error:" not in err and "1 already there" in err
    assert (out / "good.png").read_bytes() == b"done before" and (out / "second.png").is_file()
    written = (out / "second.png").stat().st_mtime_ns
    code, _, err = _run(["colorize", folder, "-o", out, "--skip-existing"], capsys)
    assert code == 0 and err.strip().splitlines() == [
        f"huenet: nothing to do: all 2 output(s) already exist in {out}{os.sep}"
    ]
    assert (out / "good.png").read_bytes() == b"done before" and (out / "second.png").stat().st_mtime_ns == written


@pytest.mark.parametrize("kind", ["missing", "empty folder"])
def test_one_error_is_one_line(tmp_path, capsys, kind):
    target = tmp_path / ("nope.png" if kind == "missing" else "empty")
    if kind == "empty folder":
        target.mkdir()
    code, _, err = _run(["colorize", target, "-o", tmp_path / "out"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert str(target) in err


def test_warnings_are_lines_of_their_own_beside_the_progress_bar(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(np.random.default_rng(index).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
            folder / f"c{index}.png"
        )
    result = subprocess.run(
        [sys.executable, "-m", "huenet", "colorize", str(folder), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # What a terminal shows: the text after the last carriage return of each line.
    shown = [line.rsplit("\r", 1)[-1] for line in result.stderr.split("\n")]
    warnings = [line for line in shown if "warning:" in line]
    assert len(warnings) == 3 and all(line.startswith("huenet: warning: ") for line in warnings), shown
    assert all("RGB input has color" in line for line in warnings)


def test_an_unknown_format_names_the_option_and_the_formats(tmp_path, good_png, capsys):
    code, _, err = _run(["colorize", good_png.parent, "-o", tmp_path / "out", "--format", "gif"], capsys)
    assert (
        code == 1 and err.strip() == "huenet: error: --format gif: not an output format; use png, jpg, webp, tiff, bmp"
    )
    colorize_help = " ".join(cli.build_parser()._subparsers._group_actions[0].choices["colorize"].format_help().split())
    assert "one of png, jpg, webp, tiff, bmp" in colorize_help  # the formats --help lists
    assert not (tmp_path / "out").exists()


def test_train_and_evaluate_help_show_defaults(capsys):
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    train_help = " ".join(commands["train"].format_help().split()).replace("- ", "-")  # help wraps at hyphens
    for shown in (
        "(default: unet-regression)",
        "(default: 10)",
        "(default: 128)",
        "(default: 0.001)",
        "(default: float32)",
    ):
        assert shown in train_help, shown
    evaluate_help = " ".join(commands["evaluate"].format_help().split())
    assert "(default: test)" in evaluate_help and "(default: evaluation)" in evaluate_help


def test_train_flags_are_typed_from_the_settings_fields():
    parser = cli.build_parser()
    arguments = parser.parse_args(
        [
            "train",
            "--class-loss-weight",
            "0",
            "--dropout-rate",
            "0.2",
            "--limit",
            "40",
            "--crop-size",
            "16",
            "--epochs",
            "3",
            "--init-from",
            "m.keras",
            "--no-flip",
        ]
    )
    assert arguments.class_loss_weight == 0.0 and isinstance(arguments.class_loss_weight, float)
    assert (arguments.dropout_rate, arguments.limit, arguments.crop_size, arguments.epochs) == (0.2, 40, 16, 3)
    assert arguments.init_from == "m.keras" and arguments.flip is False and arguments.validation_data is None


def test_an_output_folder_that_is_a_file_is_refused_once(tmp_path, good_png, capsys):
    blocker = tmp_path / "results"
    blocker.write_bytes(b"keep me")
    code, _, err = _run(["colorize", good_png, good_png.parent, "-o", blocker], capsys)
    assert code != 0 and err.strip().splitlines() == [f"huenet: error: -o {blocker}: exists and is not a folder"]
    assert blocker.read_bytes() == b"keep me"


def test_no_overwrite_without_flag(tmp_path, good_png, capsys):
    target = tmp_path / "result.png"
    target.write_bytes(b"keep me")
    code, _, err = _run(["colorize", good_png, "-o", target], capsys)
    assert code == 1 and "exists" in err
    assert target.read_bytes() == b"keep me"
    code, _, _ = _run(["colorize", good_png, "-o", target, "--overwrite"], capsys)
    assert code == 0
    with Image.open(target) as result:
        assert result.size == (30, 20)


def test_never_writes_over_an_input(tmp_path, good_png, capsys):
    original = good_png.read_bytes()
    code, _, err = _run(["colorize", good_png, "-o", good_png, "--overwrite"], capsys)
    assert code == 1 and "would overwrite an input" in err
    assert good_png.read_bytes() == original


def test_single_file_to_jpeg_and_glob(tmp_path, good_png, capsys):
    target = tmp_path / "one.jpg"
    assert _run(["colorize", good_png, "-o", target], capsys)[0] == 0
    with Image.open(target) as result:
        assert result.format == "JPEG"
    out = tmp_path / "globbed"
    assert _run(["colorize", str(good_png.parent / "*.png"), "-o", out, "--format", "webp"], capsys)[0] == 0
    assert (out / "good.webp").is_file()


def test_no_partial_output_after_a_failed_write(tmp_path, good_png, capsys, monkeypatch):
    from huenet import images

    real_chunk = images._png_chunk

    def failing_chunk(kind, data):  # the PNG writer fails part-way, after writing its header
        if kind == b"IDAT":
            raise OSError("no space left on device")
        return real_chunk(kind, data)

    monkeypatch.setattr(images, "_png_chunk", failing_chunk)
    out = tmp_path / "out"
    code, _, err = _run(["colorize", good_png, "-o", out], capsys)
    assert code == 1 and "no space left" in err
    assert not out.exists() or list(out.iterdir()) == []


def test_alpha_survives_to_png(tmp_path, capsys):
    source = tmp_path / "alpha.png"
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., 3] = 100
    Image.fromarray(rgba, "RGBA").save(source)
    target = tmp_path / "alpha-out.png"
    assert _run(["colorize", source, "-o", target], capsys)[0] == 0
    with Image.open(target) as result:
        assert result.mode == "RGBA" and np.asarray(result)[..., 3].max() == 100


def test_missing_input_and_unknown_model(tmp_path, good_png, capsys):
    code, _, err = _run(["colorize", tmp_path / "nope.png", "-o", tmp_path / "o"], capsys)
    assert code == 1 and "nope.png" in err
    code, _, err = _run(["colorize", good_png, "-o", tmp_path / "o", "--model", "no-such-model"], capsys)
    assert code == 1 and "no-such-model" in err and "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipes_and_devices_are_refused_not_read(tmp_path, capsys):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)  # opening it for reading would block forever
    code, _, err = _run(["colorize", pipe, "-o", tmp_path / "out.png"], capsys)
    assert code == 1 and f"{pipe}: not a regular file or folder" in err


def test_broken_link_and_written_files_are_readable(tmp_path, good_png, capsys):
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "gone.png")
    code, _, err = _run(["colorize", link, "-o", tmp_path / "o"], capsys)
    assert code == 1 and "link.png: broken symbolic link" in err
    previous = os.umask(0o022)
    try:
        code, _, _ = _run(["colorize", good_png, "-o", tmp_path / "o", "-q"], capsys)
    finally:
        os.umask(previous)
    assert code == 0 and (tmp_path / "o" / "good.png").stat().st_mode & 0o044 == 0o044  # readable by others too


def test_models_lists_the_bundled_model(capsys):
    code, out, _ = _run(["models"], capsys)
    assert code == 0 and "cifar10" in out and "default" in out and "unet-tiny" in out
    for name, entry in bundled_models().items():  # each model's version and date (CHANGELOG.md)
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"]) and re.fullmatch(r"\d{4}-\d\d-\d\d", entry["date"])
        assert f"{name:10s} version {entry['version']} ({entry['date']})" in out
    settings = read_metadata(bundled_model_path("default"))["settings"]  # the decoding the defaults use is shown
    assert f"temperature {settings['temperature']}, vividness {settings['vividness']}" in out
    assert f"--vivid: temperature {settings['vivid']['temperature']}, vividness {settings['vivid']['vividness']}" in out
    if "shrunk" in settings:  # and the decoding of photos shrunk to the working size
        shrunk = settings["shrunk"]
        assert (
            f"shrunk {shrunk['shrink']:g}x or more to the working size: temperature {shrunk['temperature']}, "
            f"vividness {shrunk['vividness']}; --vivid: temperature {shrunk['vivid']['temperature']}"
        ) in out


def test_models_imports_no_keras():
    script = "import sys; from huenet import cli\ncli.main(['models'])\nprint('keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip().endswith("False"), result.stderr
    assert "huenet-photo" in result.stdout


def test_help_is_fast_and_imports_no_keras():
    script = "import sys; from huenet import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit: pass\nprint('keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith("False")


def test_python_dash_m_runs_the_same_command_line(tmp_path, good_png):
    out = tmp_path / "via-module.png"
    result = subprocess.run(
        [sys.executable, "-m", "huenet", "colorize", str(good_png), "-o", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.size == Image.open(good_png).size and image.mode == "RGB"
    missing = subprocess.run(
        [sys.executable, "-m", "huenet", "colorize", str(tmp_path / "nope.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and missing.stderr.strip().endswith(
        "nope.png: no such file, folder or matching files"
    )


def test_threads_option(tmp_path, good_png, capsys):
    code, _, err = _run(["colorize", good_png, "-o", tmp_path / "a.png", "--threads", "0"], capsys)
    assert code == 1 and err.strip() == "huenet: error: threads must be a whole number, at least 1, got 0"
    assert not (tmp_path / "a.png").exists()
    assert _run(["colorize", good_png, "-o", tmp_path / "b.png", "--threads", "2", "-q"], capsys)[0] == 0
    assert (tmp_path / "b.png").is_file()


def test_a_reader_that_stops_early_is_not_an_error():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before huenet writes, as in `huenet models | head -0`
    try:
        result = subprocess.run(
            [sys.executable, "-m", "huenet", "models"], stdout=write_end, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write_end)
    stderr = result.stderr.decode()
    assert "error" not in stderr.lower() and "Traceback" not in stderr
    assert result.returncode == 141


@pytest.mark.parametrize("hint", ["-5,10,#ff0000", "10,-5,#ff0000", "-0.5,3,#00ff00"])
def test_a_hint_with_a_negative_coordinate_is_one_line_outside_the_image(tmp_path, good_png, capsys, hint):
    """argparse alone reads '--hint -5,...' as an unknown option and prints the whole usage."""
    code, _, err = _run(["colorize", good_png, "-o", tmp_path / "out.png", "--hint", hint, "-q"], capsys)
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert code == 1 and "usage:" not in err, err
    assert len(error_lines) == 1 and "is outside the 30x20 image" in error_lines[0], err
    assert not (tmp_path / "out.png").exists()


def test_models_names_a_chroma_contrast_only_where_there_is_one():
    settings = {"temperature": 0.4, "vividness": 0.3, "vivid": {"temperature": 0.4, "vividness": 1.0, "contrast": 1.2}}
    assert cli._decoding_summary(settings) == (
        "temperature 0.4, vividness 0.3; --vivid: temperature 0.4, vividness 1.0, contrast 1.2"
    )
    settings["vivid"]["contrast"] = 1.0
    assert "contrast" not in cli._decoding_summary(settings)


def test_stretch_reaches_the_network_from_the_command_line(tmp_path, capsys):
    """--stretch colors a faded picture as the API's stretch=True does, and not as without it."""
    import huenet

    faded = np.round(
        80
        + 0.3
        * np.asarray(Image.open(Path(__file__).resolve().parents[1] / "examples" / "bsds-103070.png").convert("L"))
    ).astype(np.uint8)
    source = tmp_path / "faded.png"
    Image.fromarray(faded).save(source)
    for flags, name in (([], "plain.png"), (["--stretch"], "stretched.png")):
        assert _run(["colorize", source, "-o", tmp_path / name, "-q", *flags], capsys)[0] == 0
    stretched = np.asarray(Image.open(tmp_path / "stretched.png"))
    np.testing.assert_array_equal(stretched, np.asarray(huenet.colorize(faded, stretch=True)))
    assert np.abs(stretched.astype(int) - np.asarray(Image.open(tmp_path / "plain.png"))).max() > 0
