"""The pretrained encoder: its weights are read without running pickled code, checked, and
recognize what is in a gray photo; its layers are EfficientNet-Lite0's (or Lite1's)."""

import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import randomized
from PIL import Image

from huenet import encoder

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _legacy_file(path, state_pickle: bytes, keys_pickle: bytes = pickle.dumps([], protocol=2), storages: bytes = b""):
    """A file in PyTorch's legacy layout: magic, protocol, system info, state dict, keys, storages."""
    with open(path, "wb") as file:
        file.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
        file.write(pickle.dumps(1001, protocol=2))
        file.write(pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2))
        file.write(state_pickle + keys_pickle + storages)
    return path


def _tensor_pickle(key: str, size: int, shape: tuple) -> bytes:
    """The state dict {'w': tensor} as torch.save writes it (protocol 2, by hand: no torch here)."""

    def unicode(text):
        data = text.encode()
        return b"X" + struct.pack("<I", len(data)) + data

    ints = b"".join(b"J" + struct.pack("<i", n) for n in shape)
    strides = [int(np.prod(shape[i + 1 :])) for i in range(len(shape))]
    stride_ints = b"".join(b"J" + struct.pack("<i", n) for n in strides)
    return (
        b"\x80\x02ccollections\nOrderedDict\n)R("
        + unicode("w")
        + b"ctorch._utils\n_rebuild_tensor_v2\n("
        + b"("
        + unicode("storage")
        + b"ctorch\nFloatStorage\n"
        + unicode(key)
        + unicode("cpu")
        + b"J"
        + struct.pack("<i", size)
        + b"Nt"
        + b"Q"
        + b"J\x00\x00\x00\x00"
        + b"("
        + ints
        + b"t"
        + b"("
        + stride_ints
        + b"t"
        + b"\x89"
        + b"ccollections\nOrderedDict\n)R"
        + b"tR"
        + b"u."
    )


def _one_tensor_file(path, announced: int, data: bytes):
    """A legacy file whose state dict is one 2x3 float tensor 'w' on a storage that announces
    ``announced`` elements and holds ``data``."""
    return _legacy_file(
        path,
        _tensor_pickle("1", announced, (2, 3)),
        pickle.dumps(["1"], protocol=2),
        struct.pack("<q", announced) + data,
    )


def test_a_legacy_file_is_read_without_torch(tmp_path):
    values = np.arange(6, dtype="<f4")
    path = _one_tensor_file(tmp_path / "small.pth", 6, values.tobytes())
    state = encoder.read_legacy_torch(path)
    assert list(state) == ["w"]
    np.testing.assert_array_equal(state["w"], values.reshape(2, 3))


def test_a_pickle_that_would_run_a_command_is_refused(tmp_path):
    marker = tmp_path / "ran"
    hostile = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."  # os.system("touch ...")
    for position in ("state", "keys"):
        path = tmp_path / f"hostile-{position}.pth"
        if position == "state":
            _legacy_file(path, hostile)
        else:
            _legacy_file(path, _tensor_pickle("1", 6, (2, 3)), hostile)
        with pytest.raises(encoder.EncoderWeightsError, match="refused to load os.system|posix.system"):
            encoder.read_legacy_torch(path)
    assert not marker.exists()


def test_a_truncated_or_inconsistent_file_is_refused(tmp_path):
    values = np.arange(6, dtype="<f4")
    short = _one_tensor_file(tmp_path / "short.pth", 6, values.tobytes()[:10])
    with pytest.raises(encoder.EncoderWeightsError, match="ends inside storage"):
        encoder.read_legacy_torch(short)
    beyond = _one_tensor_file(tmp_path / "beyond.pth", 4, values.tobytes()[:16])
    with pytest.raises(encoder.EncoderWeightsError, match="reaches past its storage"):
        encoder.read_legacy_torch(beyond)
    (tmp_path / "junk.pth").write_bytes(pickle.dumps(5, protocol=2))
    with pytest.raises(encoder.EncoderWeightsError, match="not a PyTorch legacy-format file"):
        encoder.read_legacy_torch(tmp_path / "junk.pth")


def test_a_file_other_than_the_published_one_is_refused(tmp_path):
    copy = tmp_path / encoder.VARIANTS["lite0"].file_name
    copy.write_bytes(b"not the weights")
    with pytest.raises(encoder.EncoderWeightsError, match="sha256"):
        encoder.load_state(copy)
    with pytest.raises(encoder.EncoderWeightsError, match="not the published EfficientNet-Lite1 file"):
        encoder.load_state(copy, name="lite1")
    with pytest.raises(ValueError, match="unknown encoder 'lite9'; choose one of lite0, lite1"):
        encoder.load_state(copy, name="lite9")


@pytest.fixture(scope="module")
def state():
    try:
        return encoder.load_state()
    except encoder.EncoderWeightsError as error:
        pytest.skip(f"the encoder's package is not installed ({error})")


def test_the_published_weights_are_efficientnet_lite0(state):
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert not any(np.isnan(value).any() for value in state.values() if value.dtype.kind == "f")
    weights = encoder.keras_weights(state)
    # Summed over RGB: a gray image in one channel gives what it gives copied to three.
    np.testing.assert_allclose(
        weights[f"{encoder.PREFIX}stem_conv"][0][..., 0, :],
        np.transpose(state["_conv_stem.weight"], (2, 3, 1, 0)).sum(axis=2) * 127.5 / 128,
        rtol=1e-6,
    )
    assert sum(1 for name in weights if name.endswith("_depthwise")) == 16


def _photo(name: str) -> np.ndarray:
    from PIL import Image

    archive = SHARED / "imagenet-sample-jpeg" / "val.tar"
    if not archive.exists():
        pytest.skip("imagenet-sample photos not at hand")
    with tarfile.open(archive) as tar:
        image = Image.open(io.BytesIO(tar.extractfile(f"./{name}").read())).convert("L")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return np.asarray(image.crop((left, top, left + side, top + side)).resize((224, 224), Image.BICUBIC)) / 255.0


@pytest.mark.parametrize("name, blocks", [("lite0", 16), ("lite1", 21)])
def test_the_encoder_recognizes_what_is_in_a_gray_photo(name, blocks):
    """Its ImageNet classifier on top, a gray goldfish and a gray golden retriever come out as
    ImageNet classes 1 and 207: the layers, their order, padding and the reading are right."""
    from huenet import color
    from huenet.kerasutil import import_keras_quietly

    try:
        state = encoder.load_state(name=name)
    except encoder.EncoderWeightsError as error:
        pytest.skip(f"the encoder's package is not installed ({error})")
    keras = import_keras_quietly()
    inputs = keras.Input((224, 224, 1))
    features = encoder.build_encoder(inputs, name)
    logits = keras.layers.Dense(1000, name="fc")(keras.layers.GlobalAveragePooling2D()(features["head"]))
    network = keras.Model(inputs, logits)
    assert (
        encoder.set_weights(network, state, name) == 4 + blocks * 6 - 2
    )  # stem and head: 2 layers each; 6 per block, block 0 has no expansion
    network.get_layer("fc").set_weights([state["_fc.weight"].T, state["_fc.bias"]])
    batch = np.stack(
        [color.network_input(_photo(name)) for name in ("n01443537_goldfish.jpg", "n02099601_golden_retriever.jpg")]
    )
    assert np.argmax(np.asarray(network(batch)), axis=-1).tolist() == [1, 207]
    assert {name: tuple(features[name].shape[1:]) for name in encoder.FEATURES} == {
        name: (224 // stride, 224 // stride, channels) for name, (channels, stride) in encoder.FEATURES.items()
    }


def test_the_hint_inputs_change_nothing_until_trained_and_both_engines_agree(tmp_path, state):
    """A trained automatic network given the hint channels (add_hint_inputs.py, --init-from):
    weights copied by layer name, the encoder reading the lightness alone, the hint path at
    zero; without hints it predicts exactly what it did, in Keras and in the NumPy engine."""
    from huenet import models, train, unet
    from huenet.inference import run_network
    from huenet.modelfile import load_model, read_metadata, save_model

    rng = np.random.default_rng(0)
    automatic = models.build_model("huenet-lite0", encoder_weights=None)
    encoder.set_weights(automatic, state)
    randomized(automatic, rng)  # a "trained" decoder
    settings = models.resolve_settings("huenet-lite0")
    path = save_model(
        automatic, tmp_path / "auto.keras", {"preset": "huenet-lite0", "head": "ab_bins", "settings": settings}
    )
    hinted = models.build_model("huenet-lite0", hint_inputs=True, encoder_weights=None)
    train._copy_weights(load_model(path, engine="keras"), hinted)
    lightness = rng.uniform(-1, 1, (2, 64, 96, 1)).astype(np.float32)
    no_hints = np.concatenate([lightness, np.zeros((2, 64, 96, 3), np.float32)], axis=-1)
    expected = np.asarray(automatic(lightness))
    assert np.isfinite(expected).all() and np.abs(expected).max() > 0
    np.testing.assert_array_equal(np.asarray(hinted(no_hints)), expected)
    hinted_path = save_model(
        hinted,
        tmp_path / "hints.keras",
        {"preset": "huenet-lite0", "head": "ab_bins", "settings": {**settings, "hint_inputs": True}},
    )
    numpy_model = load_model(hinted_path, engine="numpy")
    assert numpy_model.engine == "numpy"
    np.testing.assert_allclose(run_network(numpy_model, no_hints), expected, atol=2e-4 * np.abs(expected).max())
    # ... so one forward pass serves every set of hints (the page's re-render), until the hint
    # path carries weight on a hint channel.
    assert not numpy_model.network_reads_hints
    path_layer = hinted.get_layer(unet.ENCODER_UNET_HINTS)
    (kernel,) = path_layer.get_weights()
    kernel[1, 1, 3, 0] = 0.5  # the hint mask, into one decoder channel
    path_layer.set_weights([kernel])
    metadata = {key: value for key, value in read_metadata(hinted_path).items() if key != "format"}
    trained_path = save_model(hinted, tmp_path / "trained.keras", metadata)
    assert load_model(trained_path, engine="numpy").network_reads_hints
    assert load_model(trained_path, engine="keras").network_reads_hints  # Keras: assumed, not checked


def test_training_the_upper_blocks_leaves_the_lower_ones_and_every_batch_norm_frozen():
    """--train-encoder-from 11: the convolutions of blocks 11-15 and the head train, the stem and
    blocks 0-10 stay frozen, and no batch norm trains (ImageNet's statistics are kept)."""
    from huenet import models

    network = models.build_model("huenet-lite0", encoder_weights=None, train_encoder_from=11)
    trainable = {layer.name for layer in network.layers if layer.trainable and layer.weights}
    encoder_layers = [layer for layer in network.layers if layer.name.startswith(encoder.PREFIX) and layer.weights]
    for layer in encoder_layers:
        part = layer.name[len(encoder.PREFIX) :].split("_")[0]
        upper = part == "head" or (part.startswith("block") and int(part[5:]) >= 11)
        is_norm = type(layer).__name__ == "BatchNormalization"
        assert (layer.name in trainable) == (upper and not is_norm), layer.name
    assert any(name.startswith(encoder.PREFIX + "block11") for name in trainable)
    frozen = models.build_model("huenet-lite0", encoder_weights=None)
    assert not any(layer.trainable for layer in frozen.layers if layer.name.startswith(encoder.PREFIX))


def test_the_encoder_networks_hint_branch_is_gated_and_both_engines_run_it(tmp_path, state):
    """--hint-branch on the encoder network: without hints exactly the network alone (the gate
    shuts the branch, whatever it learned, and the NumPy engine skips it whole); with hints
    the branch changes the colors, the same in both engines."""
    from huenet import models, train, unet
    from huenet.modelfile import load_model, save_model
    from huenet.numpy_network import NumpyNetwork

    rng = np.random.default_rng(4)
    alone = models.build_model("huenet-lite0", hint_inputs=True, encoder_weights=None)
    encoder.set_weights(alone, state)
    randomized(alone, rng)
    settings = {**models.resolve_settings("huenet-lite0"), "hint_inputs": True}
    alone_path = save_model(
        alone, tmp_path / "alone.keras", {"preset": "huenet-lite0", "head": "ab_bins", "settings": settings}
    )
    branched = models.build_model("huenet-lite0", hint_inputs=True, hint_branch=True, encoder_weights=None)
    train._copy_weights(load_model(alone_path, engine="keras"), branched)  # by name; the branch starts anew
    branch_layers = [layer for layer in branched.layers if layer.name.startswith(unet.HINT_PREFIX) and layer.weights]
    assert {f"{unet.HINT_PREFIX}zero{stride}" for stride in (2, 4, 8, 16, 32)} <= {
        layer.name for layer in branch_layers
    }
    for layer in branch_layers:
        if layer.name != unet.HINT_PREFIX + "mask":  # the fixed mask selector stays
            randomized_weights = [rng.normal(0, 0.1, w.shape).astype(np.float32) for w in layer.get_weights()]
            if type(layer).__name__ == "BatchNormalization":
                randomized_weights[-1] = np.abs(randomized_weights[-1]) + 0.5  # variance > 0
            layer.set_weights(randomized_weights)

    lightness = rng.uniform(-1, 1, (2, 64, 96, 1)).astype(np.float32)
    hints = np.zeros((2, 64, 96, 3), np.float32)
    hints[1, 20:23, 30:33] = (0.4, -0.3, 1.0)  # image 1 has one hint, image 0 none
    batch = np.concatenate([lightness, hints], axis=-1)
    expected_alone = np.asarray(alone(batch))
    with_branch = np.asarray(branched(batch))
    np.testing.assert_array_equal(with_branch[0], expected_alone[0])
    assert np.abs(with_branch[1] - expected_alone[1]).max() > 1e-2
    # Far from the hint too: the deep levels carry it over the whole image.
    assert np.abs(with_branch[1, -4:, -4:] - expected_alone[1, -4:, -4:]).max() > 1e-3

    path = save_model(
        branched,
        tmp_path / "branched.keras",
        {"preset": "huenet-lite0", "head": "ab_bins", "settings": {**settings, "hint_branch": True}},
    )
    engine = NumpyNetwork(path)
    assert engine.reads_hints
    np.testing.assert_allclose(engine(batch), with_branch, atol=2e-4 * np.abs(with_branch).max())
    # The page's re-render: the first call (no hints) keeps the encoder's features; a call with
    # hints reuses them (with the encoder's weights broken, the colors are the same).
    reuse = {}
    no_hints = batch[1:].copy()
    no_hints[..., 1:] = 0
    np.testing.assert_array_equal(engine(no_hints, reuse), engine(no_hints))
    assert reuse and all(not name.startswith(unet.HINT_PREFIX) for name in reuse)
    assert any(name.startswith(encoder.PREFIX) for name in reuse)
    expected = engine(batch[1:])
    saved = {name: [v.copy() for v in variables] for name, variables in engine.weights.items()}
    for name, variables in engine.weights.items():
        if name.startswith(encoder.PREFIX) and variables:
            variables[0][...] = np.nan
    np.testing.assert_array_equal(engine(batch[1:], reuse), expected)
    engine.weights.update(saved)
    # The server's re-renders by image id keep those features: the same colors as colorize.
    import huenet
    from huenet import serve

    gray = np.random.default_rng(6).integers(0, 256, (80, 120), dtype=np.uint8)
    payload = io.BytesIO()
    Image.fromarray(gray).save(payload, "PNG")
    for hints in (None, [{"x": 30, "y": 40, "color": "#c02020"}], [{"x": 90, "y": 20, "color": "#2040c0"}]):
        png = serve.colorize_png(payload.getvalue(), str(path), False, None, 10**7, hints, "test-image")
        served = np.asarray(Image.open(io.BytesIO(png)), dtype=int)
        assert np.abs(served - np.asarray(huenet.colorize(gray, model=str(path), hints=hints), dtype=int)).max() <= 1
    assert any(key[0] == "test-image" for key in serve._features.items)
    for name, variables in engine.weights.items():  # the branch broken: images without hints are untouched
        if name.startswith(unet.HINT_PREFIX + "down") and variables:
            variables[0][...] = np.nan
    assert np.isfinite(engine(batch[:1])).all()
    assert np.isnan(engine(batch[1:])).any()


def test_two_decoders_on_one_encoder_average_their_logits_in_both_engines(tmp_path, state):
    """decoders=2: two decoders trained apart on the same frozen encoder, joined into one
    network (unet.join_decoders) that runs the encoder once and predicts the mean of their
    logits, in Keras and in the NumPy engine. Networks whose encoders differ are refused."""
    from huenet import models, unet
    from huenet.inference import run_network
    from huenet.modelfile import load_model, save_model

    rng = np.random.default_rng(7)
    first, second = (models.build_model("huenet-lite0", hint_inputs=True, encoder_weights=None) for _ in range(2))
    for network in (first, second):
        encoder.set_weights(network, state)
        randomized(network, rng)
        hint_path = network.get_layer(unet.ENCODER_UNET_HINTS)  # untrained: zero, as add_hint_inputs.py leaves it
        hint_path.set_weights([np.zeros_like(w) for w in hint_path.get_weights()])
    joint = models.build_model("huenet-lite0", hint_inputs=True, encoder_weights=None, decoders=2)
    unet.join_decoders([first, second], joint)
    lightness = rng.uniform(-1, 1, (2, 64, 96, 1)).astype(np.float32)
    batch = np.concatenate([lightness, np.zeros((2, 64, 96, 3), np.float32)], axis=-1)
    one, two = np.asarray(first(batch)), np.asarray(second(batch))
    assert np.abs(one - two).max() > 0.1  # two different decoders
    expected = (one + two) / 2
    np.testing.assert_allclose(np.asarray(joint(batch)), expected, atol=1e-5 * np.abs(expected).max())
    # One encoder: its layers appear once.
    assert sum(layer.name.startswith(encoder.PREFIX) for layer in joint.layers) == sum(
        layer.name.startswith(encoder.PREFIX) for layer in first.layers
    )
    settings = {**models.resolve_settings("huenet-lite0"), "hint_inputs": True, "decoders": 2}
    path = save_model(
        joint, tmp_path / "joint.keras", {"preset": "huenet-lite0", "head": "ab_bins", "settings": settings}
    )
    numpy_model = load_model(path, engine="numpy")
    assert numpy_model.engine == "numpy"
    assert not numpy_model.network_reads_hints  # both hint paths at zero: one pass serves every hint
    np.testing.assert_allclose(run_network(numpy_model, batch), expected, atol=2e-4 * np.abs(expected).max())

    layer = next(layer for layer in second.layers if layer.name.startswith(encoder.PREFIX + "block3"))
    layer.set_weights([w * 1.01 for w in layer.get_weights()])
    with pytest.raises(ValueError, match="encoder differs"):
        unet.join_decoders([first, second], joint)
    with pytest.raises(ValueError, match="average 3 decoders"):
        unet.join_decoders([first, second, second], joint)
