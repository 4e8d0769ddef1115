"""The NumPy engine gives what Keras gives, refuses what it does not know, and imports no Keras."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import randomized

from huenet import models, unet
from huenet.inference import run_network
from huenet.modelfile import ModelFileError, load_model, save_model
from huenet.numpy_network import NumpyNetwork, Unsupported


def _saved(tmp_path, network, preset="unet-tiny", name="model.keras"):
    head = models.get_preset(preset).head
    metadata = {"preset": preset, "head": head, "settings": models.resolve_settings(preset)}
    return save_model(network, tmp_path / name, metadata)


@pytest.mark.parametrize("preset", models.preset_names())
def test_every_preset_runs_the_same_as_keras(tmp_path, preset, rng):
    network = randomized(models.build_model(preset), rng)
    path = _saved(tmp_path, unet.inference_network(network), preset)
    multiple = max(models.pad_multiple(models.resolve_settings(preset)), 2)
    batch = rng.uniform(-1, 1, (2, 3 * multiple, 5 * multiple, 1)).astype(np.float32)
    expected = run_network(load_model(path, engine="keras"), batch)
    numpy_model = load_model(path, engine="numpy")
    assert numpy_model.engine == "numpy"
    got = run_network(numpy_model, batch)
    assert got.shape == expected.shape and got.dtype == np.float32
    scale = np.abs(expected).max()
    assert scale > 0
    np.testing.assert_allclose(got, expected, atol=2e-4 * scale, rtol=1e-3)


def _channels(model) -> int:
    """Lightness, plus the hint channels for a model that takes hints (the bundled photo model)."""
    return 4 if model.settings.get("hint_inputs") else 1


def test_the_bundled_model_runs_the_same_as_keras(rng):
    multiple = max(models.pad_multiple(load_model().settings), 16)  # the encoder network: 32
    batch = rng.uniform(-1, 1, (3, 2 * multiple, 3 * multiple, _channels(load_model()))).astype(np.float32)
    batch[..., 1:] = np.where(batch[..., 3:4] > 0.5, batch[..., 1:], 0.0)  # hints on some cells, none elsewhere
    expected = run_network(load_model(engine="keras"), batch)
    got = run_network(load_model(engine="numpy"), batch)
    np.testing.assert_allclose(got, expected, atol=1e-4 * np.abs(expected).max())


def test_large_working_sizes_run_in_strips(monkeypatch, rng):
    import huenet.numpy_network as engine

    network = NumpyNetwork(load_model(engine="keras").source)
    batch = rng.uniform(-1, 1, (1, 64, 64, _channels(load_model()))).astype(np.float32)
    whole = network(batch)
    monkeypatch.setattr(engine, "_PATCH_BYTES", 1)  # one row of patches at a time
    np.testing.assert_allclose(network(batch), whole, rtol=1e-5, atol=1e-5)


def test_an_unknown_layer_goes_to_keras_or_is_refused(tmp_path):
    import keras

    inputs = keras.Input((None, None, 1), name="lightness")
    x = keras.layers.Conv2DTranspose(4, 3, padding="same")(inputs)
    outputs = keras.layers.Conv2D(2, 1, name="ab")(x)
    path = _saved(tmp_path, keras.Model(inputs, outputs))
    with pytest.raises(Unsupported, match="Conv2DTranspose"):
        NumpyNetwork(path)
    assert load_model(path).engine == "keras"  # auto falls back
    with pytest.raises(ModelFileError, match="NumPy engine cannot run this network.*Conv2DTranspose"):
        load_model(path, engine="numpy")
    with pytest.raises(ModelFileError, match="engine 'fast'"):
        load_model(path, engine="fast")


def test_weights_that_do_not_fit_the_graph_are_refused(tmp_path):
    import zipfile

    source = _saved(tmp_path, models.build_model("unet-tiny"))
    other = _saved(tmp_path, models.build_model("seed-conv"), preset="seed-conv", name="other.keras")
    spliced = tmp_path / "spliced.keras"
    with zipfile.ZipFile(source) as first, zipfile.ZipFile(other) as second, zipfile.ZipFile(spliced, "w") as out:
        for member in first.namelist():
            data = second.read(member) if member == "model.weights.h5" else first.read(member)
            out.writestr(member, data)
    with pytest.raises(Unsupported):
        NumpyNetwork(spliced)
    with pytest.raises(ModelFileError):
        load_model(spliced, engine="numpy")


def test_colorizing_with_the_numpy_engine_imports_no_keras():
    code = (
        "import sys, numpy as np, huenet\n"
        "image = huenet.colorize(np.tile(np.arange(0, 250, 10, dtype=np.uint8), (9, 1)))\n"
        "assert image.size == (25, 9), image.size\n"
        "print(sorted(name for name in ('keras', 'tensorflow', 'jax', 'torch') if name in sys.modules))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]", output.stdout + output.stderr


def test_a_file_asking_for_huge_upsampling_is_not_run(tmp_path):
    import json
    import zipfile

    source = _saved(tmp_path, models.build_model("unet-tiny"))
    hostile = tmp_path / "hostile.keras"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(hostile, "w") as out:
        for member in original.namelist():
            data = original.read(member)
            if member == "config.json":
                config = json.loads(data)
                for layer in config["config"]["layers"]:
                    if layer["class_name"] == "UpSampling2D":
                        layer["config"]["size"] = [100000, 100000]
                data = json.dumps(config).encode()
            out.writestr(member, data)
    with pytest.raises(Unsupported, match="upsampling by"):
        NumpyNetwork(hostile)


def test_a_run_leaves_nothing_for_the_garbage_collector(rng):
    """Activations are freed when a call returns: a reference cycle would keep a frame's
    (tens of MB at film sizes) until Python's collector happened to run."""
    import gc

    network = NumpyNetwork(load_model(engine="numpy").source)
    batch = rng.uniform(-1, 1, (1, 32, 64, network.input_channels)).astype(np.float32)
    network(batch)
    gc.collect()
    gc.disable()
    try:
        network(batch)
        assert gc.collect() == 0
    finally:
        gc.enable()
