"""Give an automatic model the color-hint inputs, at zero weight: one model for both uses.

The network gets the three hint channels of ``huenet.hints`` (hint ab and a mask) beside the
lightness, with zero weights into its first convolution, so with or without hints it
predicts exactly what it did. Hints then hold through ``hints.propagate``: the correction at
each hint is spread over the output grid by gray-level affinity (``--hint-decay`` and, where
given, ``--hint-flat-share``, stored in the model's settings). The model keeps its metadata
(training record, decodings), plus ``hint_inputs``, ``hint_decay`` and ``hint_flat_share``.

    python experiments/add_hint_inputs.py runs/photo-recal/photo.keras --hint-decay 1e-4 \\
        --output runs/photo-recal/photo-hints.keras
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from huenet import models  # noqa: E402
from huenet.modelfile import load_model, read_metadata, save_model  # noqa: E402
from huenet.train import _copy_weights  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--hint-decay", type=float, required=True, help="hints.propagate's pull toward no correction")
    parser.add_argument(
        "--hint-flat-share",
        type=float,
        help="hints.Spreading.flat_share: the decay on flat cells as a share of that on textured ones "
        "(default: hints.LOCAL's)",
    )
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    source = load_model(arguments.model, engine="keras")
    metadata = read_metadata(arguments.model)
    metadata.pop("format", None)
    if metadata["settings"].get("hint_inputs"):
        raise SystemExit(f"add_hint_inputs: {arguments.model} takes hints already")
    preset = metadata["preset"]
    overrides = {key: value for key, value in metadata["settings"].items() if key in models.get_preset(preset).settings}
    overrides.update(hint_inputs=True, class_loss_weight=0.0)
    network = models.build_model(preset, **{k: v for k, v in overrides.items() if k not in ("working_size",)})
    _copy_weights(source, network)
    metadata["settings"] = {**metadata["settings"], "hint_inputs": True, "hint_decay": arguments.hint_decay}
    if arguments.hint_flat_share is not None:
        metadata["settings"]["hint_flat_share"] = arguments.hint_flat_share
    save_model(network, arguments.output, metadata)
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
