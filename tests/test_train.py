import csv
import json
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from huenet import models
from huenet.modelfile import load_model, read_metadata
from huenet.rundir import read_history
from huenet.train import TrainConfig, train


def _config(image_folder, tmp_path, preset, **overrides):
    settings = dict(
        preset=preset,
        data=str(image_folder),
        epochs=1,
        batch_size=8,
        validation_fraction=0.25,
        run_dir=str(tmp_path / "run"),
        verbose=0,
        crop_size=8,
    )
    return TrainConfig(**{**settings, **overrides})


@pytest.mark.parametrize("preset", models.preset_names())
def test_every_preset_trains_and_writes_a_run(image_folder, tmp_path, preset):
    multiple = models.pad_multiple(models.resolve_settings(preset))
    if multiple > 8:  # the encoder network: crops of 32, from images three times the fixture's size
        for path in image_folder.rglob("*.png"):
            with Image.open(path) as image:
                image.resize((image.width * 3, image.height * 3), Image.NEAREST).save(path)
    model_path = train(_config(image_folder, tmp_path, preset, crop_size=max(8, multiple)))
    run = tmp_path / "run"
    for name in (
        "config.json",
        "history.csv",
        "curves.png",
        "model-card.md",
        "best.keras",
        "checkpoints/epoch-001.keras",
    ):
        assert (run / name).is_file(), name
    metadata = read_metadata(model_path)
    assert metadata["preset"] == preset and metadata["training"]["epochs_run"] == 1
    training = metadata["training"]  # the GPU's name, if any, is its own field and in the machine line
    assert "accelerator" in training and (training["accelerator"] is None) == (", GPU " not in training["machine"])
    assert json.loads((run / "config.json").read_text())["preset"] == preset
    model = load_model(model_path)
    assert model.network.count_params() == models.build_model(preset).count_params()


def test_a_crop_larger_than_the_images_is_refused(image_folder, tmp_path):
    with pytest.raises(ValueError, match="--crop-size 16 is larger than the 12x12 training images"):
        train(_config(image_folder, tmp_path, "unet-tiny", crop_size=16))


def test_training_changes_the_weights(image_folder, tmp_path):
    keras.utils.set_random_seed(0)
    initial = models.build_model("unet-tiny").get_weights()
    trained = load_model(train(_config(image_folder, tmp_path, "unet-tiny", learning_rate=0.01))).network.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(initial, trained))


class _Crash(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("power cut")


def test_resume_continues_after_the_last_finished_epoch(image_folder, tmp_path):
    config = _config(image_folder, tmp_path, "unet-tiny", epochs=3)
    with pytest.raises(RuntimeError, match="power cut"):
        train(config, extra_callbacks=[_Crash()])
    with pytest.raises(ValueError, match="not empty"):
        train(config)
    train(TrainConfig(**{**config.__dict__, "resume": True}))
    with open(tmp_path / "run" / "history.csv") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == [0, 1, 2]  # epoch 0 was not trained twice


def test_bad_settings_are_refused(image_folder, tmp_path):
    with pytest.raises(ValueError, match="has no setting color_space"):
        train(_config(image_folder, tmp_path, "unet-tiny", color_space="hsv"))
    with pytest.raises(ValueError, match="multiple of 4"):
        train(TrainConfig(preset="unet-tiny", data=str(image_folder), crop_size=6, run_dir=str(tmp_path / "r2")))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("epochs", 0, "epochs must be at least 1"),
        ("batch_size", 0, "batch size must be at least 1"),
        ("learning_rate", -1.0, "learning rate must be positive"),
        ("learning_rate", float("nan"), "learning rate must be positive"),
        ("weight_decay", -1.0, "weight decay must be 0 or more"),
        ("limit", 0, "limit must be at least 1"),
        ("max_shift", -1, "max shift must be 0 or more"),
        ("crop_size", -8, "crop size must be at least 1"),
        ("early_stopping_patience", -2, "early stopping patience"),
        ("dropout_rate", 1.5, "dropout rate must be in"),
        ("schedule", "linear", "unknown schedule"),
        ("verbose", 3, "verbose must be 0, 1 or 2"),
    ],
)
def test_impossible_settings_are_refused_before_reading_data(tmp_path, field, value, message):
    config = TrainConfig(
        preset="unet-tiny", data=str(tmp_path / "not-read"), run_dir=str(tmp_path / "run"), **{field: value}
    )
    with pytest.raises(ValueError, match=message):
        train(config)  # the data path does not exist: the setting is refused first
    assert not (tmp_path / "run").exists()


def test_training_an_encoder_needs_a_pretrained_encoder_preset_and_a_block_that_exists(tmp_path):
    run = str(tmp_path / "run")
    with pytest.raises(ValueError, match="has no setting train_encoder_from"):
        train(TrainConfig(preset="unet-tiny", data=str(tmp_path / "not-read"), run_dir=run, train_encoder_from=8))
    with pytest.raises(ValueError, match="a block from 0 to 15, got 16"):
        train(TrainConfig(preset="huenet-lite0", data=str(tmp_path / "not-read"), run_dir=run, train_encoder_from=16))
    assert not (tmp_path / "run").exists()


def test_mixed_precision_trains_and_saves_a_float32_model(image_folder, tmp_path):
    model = load_model(train(_config(image_folder, tmp_path, "unet-tiny", precision="bfloat16")))
    assert keras.mixed_precision.global_policy().name == "float32"  # not leaked to the process
    checkpoint = keras.saving.load_model(tmp_path / "run" / "checkpoints" / "epoch-001.keras", compile=False)
    assert {layer.dtype_policy.name for layer in checkpoint.layers if layer.weights} == {"mixed_bfloat16"}
    assert {layer.dtype_policy.name for layer in model.network.layers} == {"float32"}
    with pytest.raises(ValueError, match="unknown precision"):
        train(_config(image_folder, tmp_path, "unet-tiny", precision="int8", run_dir=str(tmp_path / "r3")))


def test_model_card_shows_notes_only_when_given():
    from huenet.rundir import model_card

    metadata = {
        "preset": "huenet-base",
        "head": "ab_bins",
        "settings": {},
        "training": {"machine": "x86_64, 2 CPU cores, GPU NVIDIA H200"},
    }
    plain = model_card(metadata)
    assert "## Notes" not in plain and "GPU NVIDIA H200" in plain
    noted = model_card({**metadata, "notes": "Reproduce in 60 minutes with `huenet train --epochs 15`.\n"})
    assert "## Notes\n\nReproduce in 60 minutes with `huenet train --epochs 15`." in noted
    assert "Hint branch" not in plain
    branch = {
        "config": {"data": "runs/photo-mix/train"},
        "train_images": 57042,
        "epochs_run": 4,
        "best_epoch": 4,
        "monitor": "val_ab_error",
        "best_value": 9.5,
        "wall_time_seconds": 8000.0,
    }
    carded = model_card({**metadata, "hint_branch_training": branch})
    assert (
        "- Hint branch: trained alone on the frozen network, data `runs/photo-mix/train`, 57042 training images, 4 epochs"
        in carded
    )
    assert "WiSE-FT" not in plain
    averaged = model_card(
        {
            **metadata,
            "interpolation": {
                "alpha": 0.5,
                "base": {"file": "runs/a.keras", "sha256": "ab" * 32},
                "fine_tuned": {"file": "runs/b.keras", "sha256": "cd" * 32},
            },
        }
    )
    assert (
        "- Weights: 0.5 x `runs/a.keras` (sha256 abababababab) + 0.5 x `runs/b.keras` (sha256 cdcdcdcdcdcd)" in averaged
    )


def test_batch_workers_change_speed_not_results(image_folder, tmp_path):
    def losses(workers):
        run = tmp_path / f"run-{workers}"
        train(_config(image_folder, tmp_path, "unet-tiny", epochs=2, workers=workers, run_dir=str(run)))
        return [float(row["loss"]) for row in read_history(run / "history.csv")]

    np.testing.assert_allclose(losses(2), losses(1), rtol=1e-5)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        train(_config(image_folder, tmp_path, "unet-tiny", workers=0, run_dir=str(tmp_path / "bad")))


def test_class_loss_trains_on_folder_classes_and_saves_colors_only(image_folder, tmp_path):
    models.derive_preset(
        "unet-classification", "test-train-class", base_filters=8, depth=2, global_context=True, class_loss_weight=0.5
    )
    model_path = train(_config(image_folder, tmp_path, "test-train-class"))
    run = tmp_path / "run"
    assert json.loads((run / "config.json").read_text())["classes"] == ["", "sub"]  # top level and sub/
    (row,) = read_history(run / "history.csv")
    assert "val_class_accuracy" in row and "val_ab_bins_ab_error" in row
    network = load_model(model_path).network
    assert len(network.outputs) == 1 and network.outputs[0].shape[-1] == network.get_layer("ab_bins").output.shape[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one plain input, as every huenet model takes (no structure warning)
        network(np.zeros((1, 8, 8, 1), np.float32))


def test_class_loss_needs_two_classes(image_folder, tmp_path):
    models.derive_preset(
        "unet-classification", "test-train-class", base_filters=8, depth=2, global_context=True, class_loss_weight=0.5
    )
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in (image_folder / "sub").iterdir():
        (flat / path.name).write_bytes(path.read_bytes())
    with pytest.raises(ValueError, match="at least two classes.*outside class folders"):
        train(_config(flat, tmp_path, "test-train-class"))
    assert not any((tmp_path / "run").iterdir())  # nothing written: the same command can run again


def test_palette_loss_trains_without_labels_and_saves_colors_only(image_folder, tmp_path):
    models.derive_preset(
        "unet-classification",
        "test-train-palette",
        base_filters=8,
        depth=2,
        global_context=True,
        palette_loss_weight=0.5,
    )
    model_path = train(_config(image_folder, tmp_path, "test-train-palette"))
    (row,) = read_history(tmp_path / "run" / "history.csv")
    assert "val_palette_loss" in row and "val_ab_bins_ab_error" in row
    assert "classes" not in json.loads((tmp_path / "run" / "config.json").read_text())
    assert len(load_model(model_path).network.outputs) == 1


def test_a_resumed_run_equals_an_uninterrupted_one(image_folder, tmp_path):
    # Dropout and shifts make every epoch random: resuming must replay the same draws.
    settings = dict(epochs=3, dropout_rate=0.3, max_shift=1)
    train(_config(image_folder, tmp_path, "unet-tiny", run_dir=str(tmp_path / "whole"), **settings))
    split = _config(image_folder, tmp_path, "unet-tiny", run_dir=str(tmp_path / "split"), **settings)
    with pytest.raises(RuntimeError, match="power cut"):
        train(split, extra_callbacks=[_Crash()])
    assert json.loads((tmp_path / "split" / "wall_time.json").read_text())["epochs"] == 1  # kept across the crash
    train(TrainConfig(**{**split.__dict__, "resume": True}))
    for epoch in (1, 3):
        name = f"checkpoints/epoch-{epoch:03d}.keras"
        whole = keras.saving.load_model(tmp_path / "whole" / name, compile=False).get_weights()
        resumed = keras.saving.load_model(tmp_path / "split" / name, compile=False).get_weights()
        for a, b in zip(whole, resumed):
            np.testing.assert_array_equal(a, b)
    assert read_history(tmp_path / "whole" / "history.csv") == read_history(tmp_path / "split" / "history.csv")


def test_init_from_starts_a_run_from_a_models_weights_and_prior(image_folder, tmp_path):
    models.derive_preset(
        "unet-classification", "test-train-init", base_filters=8, depth=2, global_context=True, class_loss_weight=0.5
    )
    base = train(_config(image_folder, tmp_path, "test-train-init", learning_rate=0.01))
    # A fine-tune without the class loss, at a learning rate too small to move the weights:
    # its convolutions must be the base model's, and its prior the base model's own.
    tuned = train(
        _config(
            image_folder,
            tmp_path,
            "test-train-init",
            init_from=str(base),
            class_loss_weight=0.0,
            learning_rate=1e-12,
            weight_decay=0.0,
            run_dir=str(tmp_path / "tuned"),
        )
    )
    kernels = [
        [
            w
            for layer in load_model(path, engine="keras").network.layers
            if type(layer).__name__ == "Conv2D"
            for w in layer.get_weights()
        ]
        for path in (base, tuned)
    ]
    assert len(kernels[0]) > 2 and all(np.allclose(a, b, atol=1e-6) for a, b in zip(*kernels))
    base_meta, tuned_meta = read_metadata(base), read_metadata(tuned)
    assert tuned_meta["bin_prior"] == base_meta["bin_prior"]
    init = tuned_meta["training"]["init_from"]
    assert (
        init["file"] == str(base)
        and init["training"]["wall_time_seconds"] == base_meta["training"]["wall_time_seconds"]
    )
    assert tuned_meta["settings"]["class_loss_weight"] == 0.0
    card = (tmp_path / "tuned" / "model-card.md").read_text()
    total = base_meta["training"]["wall_time_seconds"] + tuned_meta["training"]["wall_time_seconds"]
    assert f"- Fine-tuned from `{base}`" in card and f"Wall time of all runs together: {total:.1f} s" in card
    # A fresh run of the same settings starts elsewhere.
    fresh = train(
        _config(
            image_folder,
            tmp_path,
            "test-train-init",
            class_loss_weight=0.0,
            learning_rate=1e-12,
            weight_decay=0.0,
            run_dir=str(tmp_path / "fresh"),
        )
    )
    fresh_kernels = [
        w
        for layer in load_model(fresh, engine="keras").network.layers
        if type(layer).__name__ == "Conv2D"
        for w in layer.get_weights()
    ]
    assert not all(np.allclose(a, b, atol=1e-6) for a, b in zip(kernels[0], fresh_kernels))


def test_a_hint_branch_trains_alone_and_colors_without_hints_exactly_as_the_initial_model(image_folder, tmp_path):
    from huenet import unet

    models.derive_preset("unet-classification", "test-train-branch", base_filters=8, depth=2, global_context=True)
    base = train(_config(image_folder, tmp_path, "test-train-branch", hint_inputs=True, learning_rate=0.01))
    branched = train(
        _config(
            image_folder,
            tmp_path,
            "test-train-branch",
            init_from=str(base),
            hint_branch=True,
            learning_rate=0.01,
            run_dir=str(tmp_path / "branch"),
        )
    )
    initial, tuned = load_model(base, engine="keras"), load_model(branched, engine="keras")
    assert tuned.settings["hint_branch"] and tuned.settings["hint_inputs"]
    main = [layer for layer in tuned.network.layers if layer.weights and not layer.name.startswith(unet.HINT_PREFIX)]
    for old, new in zip([layer for layer in initial.network.layers if layer.weights], main, strict=True):
        for a, b in zip(old.get_weights(), new.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)  # frozen, batch-norm statistics included
    zero_convs = [layer for layer in tuned.network.layers if layer.name.startswith(unet.HINT_PREFIX + "zero_")]
    assert zero_convs and all(np.abs(layer.get_weights()[0]).max() > 0 for layer in zero_convs)  # the branch learned
    batch = np.zeros((2, 8, 8, 4), np.float32)
    batch[..., 0] = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8))
    np.testing.assert_array_equal(
        np.asarray(tuned.network(batch, training=False)), np.asarray(initial.network(batch, training=False))
    )


def test_a_hint_branch_needs_a_network_to_branch_from(image_folder, tmp_path):
    with pytest.raises(ValueError, match="--hint-branch .* give --init-from"):
        train(_config(image_folder, tmp_path, "unet-classification", hint_branch=True))


def test_init_from_refuses_a_model_of_another_preset(image_folder, tmp_path):
    base = train(_config(image_folder, tmp_path, "unet-tiny"))
    with pytest.raises(ValueError, match="cannot start a 'unet-classification' run; pass --preset unet-tiny"):
        train(
            _config(image_folder, tmp_path, "unet-classification", init_from=str(base), run_dir=str(tmp_path / "other"))
        )
    assert not (tmp_path / "other").exists()


def test_a_finished_run_resumed_with_more_epochs_equals_one_longer_run(image_folder, tmp_path):
    # Keras deletes backup/ when a run ends; --resume with a higher --epochs then continues from
    # the last checkpoint, optimizer state included. Constant learning rate: the schedules agree.
    settings = dict(dropout_rate=0.3, max_shift=1, schedule="constant")
    train(_config(image_folder, tmp_path, "unet-tiny", run_dir=str(tmp_path / "whole"), epochs=3, **settings))
    short = _config(image_folder, tmp_path, "unet-tiny", run_dir=str(tmp_path / "short"), epochs=2, **settings)
    train(short)
    assert not (tmp_path / "short" / "backup").exists()
    with pytest.raises(ValueError, match="already has 2 epochs"):
        train(TrainConfig(**{**short.__dict__, "resume": True}))
    train(TrainConfig(**{**short.__dict__, "resume": True, "epochs": 3}))
    name = "checkpoints/epoch-003.keras"
    whole = keras.saving.load_model(tmp_path / "whole" / name, compile=False).get_weights()
    extended = keras.saving.load_model(tmp_path / "short" / name, compile=False).get_weights()
    for a, b in zip(whole, extended):
        np.testing.assert_array_equal(a, b)
    assert read_history(tmp_path / "whole" / "history.csv") == read_history(tmp_path / "short" / "history.csv")


def test_checkpoint_names_are_spelled_once_and_found_past_999(tmp_path):
    from huenet import rundir

    (tmp_path / rundir.CHECKPOINTS).mkdir()
    for epoch in (2, 999, 1000, 7):
        (tmp_path / rundir.CHECKPOINTS / rundir.checkpoint_name(epoch)).write_bytes(b"")
    (tmp_path / rundir.CHECKPOINTS / "epoch-x.keras").write_bytes(b"")  # not a checkpoint of ours
    assert rundir.checkpoint_name().format(epoch=1000) == rundir.checkpoint_name(1000) == "epoch-1000.keras"
    assert [epoch for epoch, _ in rundir.checkpoints(tmp_path)] == [2, 7, 999, 1000]
    assert rundir.finished_run_checkpoint(tmp_path, True, 1001) == (
        tmp_path / rundir.CHECKPOINTS / "epoch-1000.keras",
        1000,
    )
    with pytest.raises(ValueError, match="already has 1000 epochs"):
        rundir.finished_run_checkpoint(tmp_path, True, 1000)


def test_a_longer_schedule_stops_the_cosine_early(image_folder, tmp_path):
    """--epochs 2 --schedule-epochs 4: the first two epochs of a 4-epoch cosine schedule."""
    train(_config(image_folder, tmp_path, "unet-tiny", epochs=2, schedule_epochs=4, learning_rate=0.01))
    rates = [float(row["learning_rate"]) for row in read_history(tmp_path / "run" / "history.csv")]
    np.testing.assert_allclose(rates, [0.01, 0.005 * (1 + np.cos(np.pi / 4))], rtol=1e-6)
    with pytest.raises(ValueError, match="schedule epochs must be at least --epochs"):
        train(_config(image_folder, tmp_path, "unet-tiny", epochs=3, schedule_epochs=2, run_dir=str(tmp_path / "r2")))
