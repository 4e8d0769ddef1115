import json

import numpy as np
import pytest
from conftest import make_color_model
from PIL import Image

from huenet import cli, color, evaluate, inference
from huenet.modelfile import load_model, save_model


def test_baselines(color_images):
    baselines = evaluate.baseline_predictions(color_images)
    gray = baselines["gray copy"]
    assert np.array_equal(gray[..., 0], color.rgb_to_gray(color_images)) and np.array_equal(gray[..., 0], gray[..., 2])
    no_chroma = color.rgb_to_lab(baselines["Lab, ab = 0"])
    np.testing.assert_allclose(no_chroma[..., 0], color.rgb_to_lab(color_images)[..., 0], atol=0.5)
    assert np.abs(no_chroma[..., 1:]).max() < 1.0
    mean_ab = color.rgb_to_lab(color_images)[..., 1:].reshape(-1, 2).mean(0)
    in_gamut = color.rgb_to_lab(baselines["Lab, mean ab"])[..., 1:].reshape(-1, 2)
    assert np.abs(np.median(in_gamut, axis=0) - mean_ab).max() < 2.0


@pytest.mark.parametrize("preset", ["unet-tiny", "seed-conv"])
def test_evaluate_command_writes_report_and_grid(tmp_path, image_folder, preset, capsys):
    model = make_color_model(preset, settings={**make_color_model(preset).settings, "working_size": 12})
    model_path = save_model(model.network, tmp_path / f"{preset}.keras", model.metadata)
    out = tmp_path / "report"
    code = cli.main(["evaluate", str(model_path), "--data", str(image_folder), "--output-dir", str(out)])
    assert code == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert report["images"] == 16 and report["left_out_grayscale"] == 1
    assert set(report["results"]) == {"gray copy", "Lab, ab = 0", "Lab, mean ab", preset}
    assert report["results"]["gray copy"]["colorfulness"] == 0.0
    with Image.open(out / "grid.png") as grid:
        assert grid.width == 3 * 12 * 8  # gray | model | truth, 12 px images scaled 8x
    captured = capsys.readouterr()
    assert "| gray copy |" in captured.out and f"| {preset} |" in captured.out
    assert f"huenet: colorizing 16 images with {preset}" in captured.err  # says what the long part is doing
    assert sorted(path.name for path in out.iterdir()) == ["evaluation.json", "grid.png"]  # no temporary files left
    assert cli.main(["evaluate", "--data", str(image_folder), "--output-dir", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_an_output_folder_that_cannot_be_made_is_one_error_line(tmp_path, image_folder, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = cli.main(["evaluate", "--data", str(image_folder), "--output-dir", str(blocker / "report"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Not a directory" in err and "Traceback" not in err


def test_rows_are_named_after_the_run_folder_of_a_model_keras(tmp_path, image_folder, capsys):
    model = make_color_model("unet-tiny", settings={**make_color_model("unet-tiny").settings, "working_size": 12})
    paths = []
    for run in ("run-a", "run-b"):
        (tmp_path / run).mkdir()
        paths.append(str(save_model(model.network, tmp_path / run / "model.keras", model.metadata)))
    out = tmp_path / "report"
    assert cli.main(["evaluate", *paths, "--data", str(image_folder), "--output-dir", str(out), "-q"]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert {"run-a", "run-b"} <= set(report["results"])
    assert "| run-a |" in capsys.readouterr().out
    assert evaluate.row_name("default") == "default" and evaluate.row_name("x/photo-v2.keras") == "photo-v2"


def test_photos_of_several_sizes_are_scored_at_full_size(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for index, (height, width) in enumerate([(30, 45), (45, 30), (30, 45), (21, 33)]):
        ramp = np.linspace(0, 1, width)[None, :, None] * rng.uniform(0.3, 1, (1, 1, 3))
        Image.fromarray((255 * np.broadcast_to(ramp, (height, width, 3))).astype(np.uint8)).save(
            folder / f"p{index}.png"
        )
    model = make_color_model("unet-tiny", settings={**make_color_model("unet-tiny").settings, "working_size": 16})
    model_path = save_model(model.network, tmp_path / "tiny.keras", model.metadata)
    out = tmp_path / "report"
    assert cli.main(["evaluate", str(model_path), "--data", str(folder), "--output-dir", str(out), "-q"]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert report["images"] == 4 and set(report["results"]) == {"gray copy", "Lab, ab = 0", "Lab, mean ab", "tiny"}
    assert report["results"]["gray copy"]["colorfulness"] == 0.0
    # The model's row is what huenet colorize gives each photo at its full size.
    from huenet.inference import colorize
    from huenet.modelfile import load_model

    truths = [np.asarray(Image.open(folder / f"p{i}.png")) for i in range(4)]
    outputs = [np.asarray(colorize(color.rgb_to_gray(t), load_model(model_path))) for t in truths]
    from huenet import metrics

    expected = metrics.all_metrics(outputs, truths)
    assert report["results"]["tiny"]["psnr_mean"] == pytest.approx(expected["psnr_mean"])
    with Image.open(out / "grid.png") as grid:
        assert grid.size == (3 * 160, 14 + 4 * 160)


@pytest.mark.parametrize(
    "dataset, name",
    [
        ("../shared/data/cifar10-jpeg/test.tar.gz", "cifar10-jpeg/test"),
        ("../shared/data/bsds500-jpeg/test.tar", "bsds500-jpeg/test"),
        ("photos", "photos"),
    ],
)
def test_a_summary_names_its_test_set_by_folder_and_stem(dataset, name):
    assert evaluate.test_set_name(dataset) == name


@pytest.mark.parametrize(
    "space, tolerance", [("hsv", 3), ("lab", 10), ("yuv", 1)]
)  # Lab: its 256 levels are coarse in the darks
def test_a_seed_preset_trains_decodes_and_is_evaluated_in_its_color_space(
    tmp_path, image_folder, color_images, capsys, space, tolerance
):
    """The seed report's color-space rows (issue 18.13): a seed preset trained with --color-space
    predicts that space's levels, and colorizing decodes them from that space, not from RGB."""
    run = tmp_path / f"seed-{space}"
    arguments = [
        "train",
        "--preset",
        "seed-conv",
        "--color-space",
        space,
        "--data",
        str(image_folder),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--run-dir",
        str(run),
        "--verbose",
        "0",
    ]
    assert cli.main(arguments) == 0
    model = load_model(run / "model.keras")
    assert model.settings["color_space"] == space
    levels = color.rgb_to_levels(color_images, space)
    perfect = np.eye(256, dtype=np.float32)[levels].reshape(*levels.shape[:-1], 3 * 256)  # one-hot truth levels
    decoded = inference.decode_levels(model, perfect)
    assert np.abs(decoded.astype(int) - color_images).max() <= tolerance
    out = tmp_path / "report"
    assert (
        cli.main(["evaluate", str(run / "model.keras"), "--data", str(image_folder), "--output-dir", str(out), "-q"])
        == 0
    )
    row = json.loads((out / "evaluation.json").read_text())["results"][f"seed-{space}"]
    assert 0.0 < row["psnr_mean"] < 100.0 and 0.0 <= row["exact_match"] <= 1.0


def test_the_vivid_row_shares_the_forward_pass_and_equals_colorizing_with_vivid(tmp_path, rng):
    """evaluate --vivid runs the network once per photo and decodes it twice; each row must be
    what colorizing with that decoding alone gives, and rows score as all_metrics does."""
    from huenet import metrics

    model = make_color_model("unet-classification")  # untrained: broad distributions, which vividness moves
    settings = {**model.settings, "working_size": 16, "vividness": 0.0, "vivid": {"temperature": 0.5, "vividness": 2.0}}
    model_path = save_model(model.network, tmp_path / "m.keras", {**model.metadata, "settings": settings})
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, (height, width) in enumerate([(30, 45), (45, 30), (21, 33)]):
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(folder / f"p{index}.png")
    report, predictions, truths = evaluate.evaluate([str(model_path)], str(folder), vivid=True)
    loaded = load_model(model_path)
    gray = [color.rgb_to_gray(truth) for truth in truths]
    for row, vivid in (("m", False), ("m (vivid)", True)):
        alone = evaluate.predict_rgb(loaded, gray, vivid=vivid)
        assert all(np.array_equal(a, b) for a, b in zip(predictions[row], alone)), row
        assert report["results"][row] == metrics.all_metrics(alone, truths)
    assert not all(np.array_equal(a, b) for a, b in zip(predictions["m"], predictions["m (vivid)"]))
