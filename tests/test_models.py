import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from huenet import batches, color, losses, models, unet

PRESETS = models.preset_names()


@pytest.mark.parametrize("name", PRESETS)
def test_preset_builds_runs_and_has_gradients(name):
    preset = models.get_preset(name)
    settings = models.resolve_settings(name)
    network = models.build_model(name)
    size = 8 * models.pad_multiple(settings)
    rgb = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    inputs, targets = batches.make_batch(
        rgb, preset.head, models.output_stride(settings), settings.get("color_space", "rgb")
    )
    outputs = np.asarray(network(inputs))
    stride = models.output_stride(settings)
    channels = {"levels": 768, "ab_bins": len(color.ab_bins()), "ab_regression": 2}[preset.head]
    assert outputs.shape == (2, size // stride, size // stride, channels)
    assert np.isfinite(outputs).all()
    assert targets.shape[:3] == outputs.shape[:3]
    loss, _ = losses.make_loss_and_metrics(settings, preset.head)
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = loss(targets, network(inputs, training=True))
    gradients = tape.gradient(value, network.trainable_weights)
    assert np.isfinite(float(value))
    for weight, gradient in zip(network.trainable_weights, gradients):
        assert gradient is not None, weight.path
        assert np.isfinite(np.asarray(gradient)).all(), weight.path


def test_unknown_preset_lists_valid_names():
    with pytest.raises(ValueError, match="unknown preset 'nope'.*seed-dense"):
        models.build_model("nope")


def test_unknown_override_is_refused():
    with pytest.raises(ValueError, match="has no setting colour"):
        models.build_model("unet-tiny", colour="red")


def test_overrides_reach_the_network():
    wide = models.build_model("unet-tiny", base_filters=16)
    narrow = models.build_model("unet-tiny")
    assert wide.count_params() > narrow.count_params()
    assert any(
        isinstance(layer, keras.layers.SpatialDropout2D)
        for layer in models.build_model("unet-tiny", dropout_rate=0.3).layers
    )


def test_rebalancing_weights_favour_rare_bins():
    prior = np.zeros(len(color.ab_bins()))
    prior[:10] = 1.0
    weights = color.rebalancing_weights(prior, mix=0.5)
    assert weights[100] > weights[0]
    smoothed_expectation = color.rebalancing_weights(prior, mix=1.0)
    np.testing.assert_allclose(smoothed_expectation, 1.0, rtol=1e-5)


def test_ab_bin_loss_is_lowest_for_the_true_bin():
    bins = color.ab_bins()
    loss = losses.AbBinCrossEntropy(np.ones(len(bins)).tolist())
    target = color.normalize_ab(bins[[40]])[None, None]  # (1, 1, 1, 2)
    right = np.full((1, 1, 1, len(bins)), -5.0, np.float32)
    right[..., 40] = 5.0
    wrong = np.full((1, 1, 1, len(bins)), -5.0, np.float32)
    wrong[..., 200] = 5.0
    assert float(loss(target, right)) < float(loss(target, wrong))


def _other_backends():
    return [name for name in ("jax", "torch") if importlib.util.find_spec(name) is not None]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_presets_build_under_other_backends(backend):
    if backend not in _other_backends():
        pytest.skip(f"{backend} is not installed")
    script = (
        "import json, keras, numpy as np\n"
        "from huenet import models\n"
        "shapes = {}\n"
        "for name in models.preset_names():\n"
        "    size = max(16, models.pad_multiple(models.resolve_settings(name)))  # the encoder network: 32\n"
        "    out = keras.ops.convert_to_numpy(models.build_model(name)(np.zeros((1, size, size, 1), 'float32')))\n"
        "    assert np.isfinite(out).all(), name\n"
        "    shapes[name] = list(out.shape)\n"
        "print(json.dumps(shapes))\n"
    )
    environment = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    shapes = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(shapes) == set(PRESETS)
    assert shapes["unet-tiny"] == [1, 8, 8, 2]


def test_derived_preset_changes_only_the_given_settings():
    preset = models.derive_preset("unet-tiny", "unet-tiny-test-wide", base_filters=12)
    base = models.get_preset("unet-tiny")
    assert preset.settings == {**base.settings, "base_filters": 12} and preset.head == base.head
    assert models.build_model("unet-tiny-test-wide").count_params() > models.build_model("unet-tiny").count_params()
    assert models.derive_preset("unet-tiny", "unet-tiny-test-wide", base_filters=12) is preset  # same again: fine
    with pytest.raises(ValueError, match="already exists"):
        models.derive_preset("unet-tiny", "unet-tiny-test-wide", base_filters=16)
    with pytest.raises(ValueError, match="no setting"):
        models.derive_preset("unet-tiny", "unet-tiny-test-bad", widht=3)
    with pytest.raises(ValueError, match="letters, digits"):
        models.derive_preset("unet-tiny", "unet-tiny+base_filters=12", base_filters=12)


def test_skip_squeeze_slims_the_decoder_and_keeps_the_output_shape():
    plain = models.build_model("unet-tiny")
    squeezed = models.build_model("unet-tiny", skip_squeeze=True)
    assert squeezed.count_params() < plain.count_params()
    x = np.zeros((1, 16, 16, 1), "float32")
    assert squeezed(x).shape == plain(x).shape == (1, 8, 8, 2)
    assert any(layer.__class__.__name__ == "Conv2D" and layer.kernel_size == (1, 1) for layer in squeezed.layers[:-1])


def test_class_head_is_for_training_only():
    models.derive_preset(
        "unet-classification", "test-class-head", base_filters=8, depth=2, global_context=True, class_loss_weight=0.5
    )
    network = models.build_model("test-class-head", num_classes=3)
    outputs = network(np.zeros((2, 8, 8, 1), np.float32))
    assert set(outputs) == {"ab_bins", unet.CLASS_OUTPUT} and outputs[unet.CLASS_OUTPUT].shape == (2, 3)
    colors_only = unet.inference_network(network)
    assert np.allclose(
        colors_only(np.ones((1, 8, 8, 1), np.float32)), network(np.ones((1, 8, 8, 1), np.float32))["ab_bins"], atol=1e-5
    )
    assert unet.inference_network(colors_only) is colors_only
    with pytest.raises(ValueError, match="no class head"):
        models.build_model("huenet-base", num_classes=3)  # its class_loss_weight is 0
    for bad in (-0.1, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="class_loss_weight must be"):
            models.resolve_settings("huenet-class", class_loss_weight=bad)


def test_palette_head_is_for_training_only_and_needs_bins_and_context():
    models.derive_preset(
        "unet-classification",
        "test-palette-head",
        base_filters=8,
        depth=2,
        global_context=True,
        palette_loss_weight=0.2,
    )
    network = models.build_model("test-palette-head", palette=True)
    outputs = network(np.zeros((2, 8, 8, 1), np.float32))
    assert set(outputs) == {"ab_bins", unet.PALETTE_OUTPUT}
    assert outputs[unet.PALETTE_OUTPUT].shape == (2, outputs["ab_bins"].shape[-1])
    assert len(unet.inference_network(network).outputs) == 1
    with pytest.raises(ValueError, match="no palette head"):
        models.build_model("huenet-class", palette=True)  # its palette_loss_weight is 0
    with pytest.raises(ValueError, match="global context"):
        models.build_model("unet-classification", palette=True, palette_loss_weight=0.1)
    with pytest.raises(ValueError, match="needs the ab_bins head"):
        models.build_model("unet-regression", palette=True, palette_loss_weight=0.1, global_context=True)
    with pytest.raises(ValueError, match="palette_loss_weight must be"):
        models.resolve_settings("huenet-class", palette_loss_weight=-1.0)


def test_palette_loss_is_smallest_at_the_images_own_histogram():
    bins = color.ab_bins()
    ab = np.zeros((2, 4, 4, 2), np.float32)
    ab[0, :2] = bins[7] / color.AB_SCALE  # image 0: half one color, half another
    ab[0, 2:] = bins[40] / color.AB_SCALE
    ab[1] = bins[100] / color.AB_SCALE  # image 1: one color
    loss = losses.PaletteCrossEntropy(sigma=5.0)

    def value(logits):
        return float(keras.ops.convert_to_numpy(loss(ab, logits)))

    def logits_for(weights):
        return np.log(np.clip(weights, 1e-9, None)).astype(np.float32)

    # The image's histogram: each pixel's Gaussian soft encoding over the bins, averaged.
    distance2 = ((ab[..., None, :] * color.AB_SCALE - bins) ** 2).sum(-1)
    encoded = np.exp(-(distance2 - distance2.min(-1, keepdims=True)) / 50.0)
    own = (encoded / encoded.sum(-1, keepdims=True)).mean(axis=(1, 2))
    swapped = own[::-1].copy()
    uniform = np.ones((2, len(bins))) / len(bins)
    assert value(logits_for(own)) < value(logits_for(own * 0.5 + uniform * 0.5)) < value(logits_for(uniform))
    assert value(logits_for(uniform)) < value(logits_for(swapped))
