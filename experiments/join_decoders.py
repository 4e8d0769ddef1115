"""Join encoder networks trained apart into one network: the shared encoder once, each one's
decoder, their logits averaged (``unet.build_encoder_unet(decoders=N)``).

Decoders trained from different starts on the same frozen encoder make different errors, so
their mean predicts better than either (docs/experiment-log.md, "two networks together").
The first file gives the joined file its metadata (decodings, hint settings, bin prior,
training record); the others' training records are kept beside it. Every network must have
the same preset, decoder widths and encoder weights (within float16's rounding); the joined
network has the hint inputs if the first has, at zero in decoders that had none. The decodings of the first
network are not chosen for the mean: calibrate the joined file (calibrate_photo.py).

    python experiments/join_decoders.py src/huenet/weights/photo.keras runs/lite0b-mix-frozen/model.keras \\
        --output runs/joint/joint.keras

A decoder alone: ``--extract MODEL --output DECODER.npz`` writes a one-decoder file's decoder
weights and metadata (float16, 2.4 MB against the whole file's 10 MB: its frozen encoder is
EfficientNet's published weights), and a ``.npz`` named among the models is rebuilt on the
pretrained encoder (the train extra's package) before joining. So a decoder trained in one
work period can be kept, small, for the join of the next.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from huenet import models, unet  # noqa: E402
from huenet.modelfile import WEIGHTS_DTYPES, load_model, read_metadata, save_model, sha256_of  # noqa: E402

# Settings that shape the network: every joined file must agree on them.
SHAPE = ("decoder_filters", "context_filters", "encoder_variant", "depth", "output_stride")


METADATA_KEY = "metadata"  # the npz entry holding the model file's metadata, as JSON text


def _one_decoder(path: str, metadata: dict) -> dict:
    """``metadata`` of a file that holds one decoder and no hint branch, or exit naming ``path``."""
    if metadata["settings"].get("decoders", 1) != 1 or metadata["settings"].get("hint_branch"):
        raise SystemExit(f"join_decoders: {path} must hold one decoder and no hint branch")
    return metadata


def _build(metadata: dict, **changes: object) -> object:
    """The network of a model file's preset and settings (those the preset has), with ``changes``."""
    preset = models.get_preset(metadata["preset"])
    settings = {key: value for key, value in metadata["settings"].items() if key in preset.settings}
    return models.build_model(metadata["preset"], **{**settings, **changes})


def extract(model_path: str, output: str) -> None:
    """A one-decoder model file's decoder weights (float16) and metadata, in a pickle-free npz."""
    metadata = _one_decoder(model_path, read_metadata(model_path))
    network = load_model(model_path, engine="keras").network
    arrays = {
        f"{layer.name}/{i}": np.asarray(weight, np.float16)
        for layer in network.layers
        if layer.weights and unet.is_decoder_layer(layer.name, metadata["head"])
        for i, weight in enumerate(layer.get_weights())
    }
    record = {key: value for key, value in metadata.items() if key != "format"}
    record["extracted_from"] = {"source": str(model_path), "sha256": sha256_of(model_path)}
    np.savez_compressed(output, **arrays, **{METADATA_KEY: np.array(json.dumps(record))})
    print(f"wrote {output}: {len({k.split('/')[0] for k in arrays})} decoder layers")


def rebuild(decoder_path: str) -> tuple[dict, object]:
    """An npz of ``extract`` -> (its metadata, its network on the pretrained encoder)."""
    with np.load(decoder_path, allow_pickle=False) as stored:
        metadata = json.loads(str(stored[METADATA_KEY]))
        arrays = {key: stored[key] for key in stored.files if key != METADATA_KEY}
    network = _build(_one_decoder(decoder_path, metadata), encoder_weights="imagenet")
    filled = set()
    for layer in network.layers:
        if layer.weights and unet.is_decoder_layer(layer.name, metadata["head"]):
            weights = [arrays.get(f"{layer.name}/{i}") for i in range(len(layer.weights))]
            if any(w is None or w.shape != tuple(v.shape) for w, v in zip(weights, layer.weights)):
                raise SystemExit(f"join_decoders: {decoder_path} does not fit layer {layer.name!r}")
            layer.set_weights([w.astype(np.float32) for w in weights])
            filled.add(layer.name)
    left = {key.split("/")[0] for key in arrays} - filled
    if left:
        raise SystemExit(f"join_decoders: {decoder_path} has layers the network lacks: {', '.join(sorted(left)[:5])}")
    return metadata, network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="huenet model files (or extracted decoders) of one preset")
    parser.add_argument("--extract", metavar="MODEL", help="write MODEL's decoder alone to --output (an npz)")
    parser.add_argument("--output", required=True)
    parser.add_argument(
        "--weights-dtype",
        choices=WEIGHTS_DTYPES,
        default="float16",
        help="how the weights are stored (default float16, as the bundled model ships)",
    )
    arguments = parser.parse_args()
    if arguments.extract:
        extract(arguments.extract, arguments.output)
        return
    if len(arguments.models) < 2:
        raise SystemExit("join_decoders: name two model files or more")
    rebuilt = {path: rebuild(path) for path in arguments.models if path.endswith(".npz")}
    metadata = [
        rebuilt[path][0] if path in rebuilt else _one_decoder(path, read_metadata(path)) for path in arguments.models
    ]
    first = metadata[0]
    for path, other in zip(arguments.models[1:], metadata[1:]):
        if other.get("preset") != first.get("preset"):
            raise SystemExit(f"join_decoders: {path} is preset {other.get('preset')!r}, not {first.get('preset')!r}")
        for key in SHAPE:
            if other["settings"].get(key) != first["settings"].get(key):
                raise SystemExit(f"join_decoders: {path} has another {key} than {arguments.models[0]}")
    settings = {**first["settings"], "decoders": len(arguments.models)}
    joint = _build({**first, "settings": settings}, encoder_weights=None)
    networks = [
        rebuilt[path][1] if path in rebuilt else load_model(path, engine="keras").network for path in arguments.models
    ]
    try:
        unet.join_decoders(networks, joint, rtol=2e-3, atol=1e-6)  # float16 weights round by 2^-11
    except ValueError as error:
        raise SystemExit(f"join_decoders: {error}") from None
    joined = {key: value for key, value in first.items() if key != "format"}
    joined["settings"] = settings
    joined["joined_decoders"] = [
        {
            "source": str(path),
            "sha256": sha256_of(path),
            "training": data.get("training"),
            **({"extracted_from": data["extracted_from"]} if "extracted_from" in data else {}),
        }
        for path, data in zip(arguments.models, metadata)
    ]
    save_model(joint, arguments.output, joined, weights_dtype=arguments.weights_dtype)
    print(f"wrote {arguments.output}: {len(networks)} decoders on one encoder")


if __name__ == "__main__":
    main()
