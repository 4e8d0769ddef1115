"""The bundled model: its recorded hash, a golden output, and safe loading."""

import os
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import huenet
from huenet import modelfile, models
from huenet.modelfile import ModelFileError, bundled_model_path, bundled_models, load_model, save_model, sha256_of

GOLDEN = Path(__file__).parent / "golden"


def _fixtures():
    ramp = np.tile(np.linspace(0, 255, 20).astype(np.uint8), (14, 1))
    y, x = np.mgrid[0:32, 0:32]
    rings = (127 + 120 * np.sin(np.hypot(y - 16, x - 10) / 3)).astype(np.uint8)
    y, x = np.mgrid[0:150, 0:400]  # shrunk to the working size: the decoding of shrunk photos
    scene = (127 + 100 * np.sin(np.hypot(y - 40, x - 150) / 9) * np.cos(x / 31)).astype(np.uint8)
    return {"ramp": ramp, "rings": rings, "scene": scene}


@pytest.mark.parametrize("name", list(bundled_models()))
def test_bundled_model_matches_its_recorded_sha256(name):
    assert sha256_of(bundled_model_path(name)) == bundled_models()[name]["sha256"]


@pytest.mark.parametrize("engine", ["numpy", "keras"])
@pytest.mark.parametrize("fixture", list(_fixtures()))
@pytest.mark.parametrize("name", list(bundled_models()))
def test_golden_output_of_each_bundled_model(name, fixture, engine):
    result = np.asarray(huenet.colorize(_fixtures()[fixture], model=load_model(name, engine=engine)), dtype=np.int16)
    golden_path = GOLDEN / f"{name}-{fixture}.png"
    if os.environ.get("HUENET_UPDATE_GOLDEN") and engine == "keras":
        Image.fromarray(result.astype(np.uint8)).save(golden_path)
    expected = np.asarray(Image.open(golden_path), dtype=np.int16)
    assert result.shape == expected.shape
    difference = np.abs(result - expected)
    assert difference.mean() < 0.5 and difference.max() <= 4


def test_bundled_model_records_what_it_needs():
    model = load_model()
    assert model.head in ("ab_bins", "ab_regression", "levels")
    assert model.working_size > 0
    assert model.metadata["training"]["wall_time_seconds"] > 0
    assert load_model("default") is model  # loaded once per process


def test_aliases_stand_for_a_bundled_model(capsys):
    from huenet import cli
    from huenet.modelfile import DEFAULT_MODEL, bundled_name, model_aliases

    aliases = model_aliases()
    assert DEFAULT_MODEL in aliases and aliases[DEFAULT_MODEL]["alias"] in bundled_models()
    assert bundled_name(DEFAULT_MODEL) == aliases[DEFAULT_MODEL]["alias"]
    assert load_model(DEFAULT_MODEL) is load_model(aliases[DEFAULT_MODEL]["alias"]) is load_model()
    assert bundled_model_path(DEFAULT_MODEL) == bundled_model_path(aliases[DEFAULT_MODEL]["alias"])
    assert bundled_name("no-such-model") is None
    with pytest.raises(ModelFileError, match=r"default \(= "):
        load_model("no-such-model")
    assert cli.main(["models"]) == 0
    assert f"default    stands for {aliases[DEFAULT_MODEL]['alias']}: " in capsys.readouterr().out


def test_save_and_load_round_trip(tmp_path):
    from conftest import make_color_model

    model = make_color_model("unet-tiny")
    path = save_model(model.network, tmp_path / "m.keras", {**model.metadata, "note": "hello"})
    loaded = load_model(path)
    assert loaded.metadata["note"] == "hello" and loaded.metadata["format"] == modelfile.FORMAT_VERSION
    x = np.random.default_rng(0).random((1, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded.network(x)), np.asarray(model.network(x)), atol=1e-6)


def test_unusable_model_files(tmp_path):
    plain = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(plain)
    with pytest.raises(ModelFileError, match="without huenet settings"):
        load_model(plain)
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a readable"):
        load_model(junk)
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "missing.keras")


def test_lambda_layers_are_refused_by_safe_mode(tmp_path):
    inputs = keras.Input((None, None, 1))
    network = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = save_model(network, tmp_path / "lambda.keras", {"preset": "x", "head": "ab_regression", "settings": {}})
    with pytest.raises(ModelFileError, match="could not load"):
        load_model(path)


def test_float16_storage_loads_as_float32(tmp_path):
    from conftest import make_color_model

    model = make_color_model("unet-tiny")
    path = save_model(model.network, tmp_path / "half.keras", model.metadata, weights_dtype="float16")
    loaded = load_model(path)
    assert loaded.metadata["weights_dtype"] == "float16"
    assert all(weight.dtype == "float32" for weight in loaded.network.weights)
    x = np.random.default_rng(0).random((1, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded.network(x)), np.asarray(model.network(x)), atol=2e-2)


def test_saving_follows_the_umask_and_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    import stat

    network = models.build_model("unet-tiny")
    metadata = {"preset": "unet-tiny", "head": "ab_regression", "settings": models.get_preset("unet-tiny").settings}
    previous = os.umask(0o077)
    try:
        private = save_model(network, tmp_path / "private.keras", metadata)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600  # a user's private umask is kept

    target = tmp_path / "model.keras"
    save_model(network, target, metadata)
    before = target.read_bytes()

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(network, target, metadata)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "private.keras"]
