"""Interpolate the weights of a fine-tuned model and a model it descends from.

    python experiments/interpolate_weights.py runs/photo-mix-scenes/run/model.keras 0.5 \
        --base runs/photo-scenes/model.keras --output runs/photo-soup-0.5/model.keras

Part of the photo model's release pipeline since 2026-12-03 (``make_photo_model.sh`` step 6);
a 2026-12-01 study of base and scene fine-tune found them on one frontier (experiment log,
"three cheap levers").

Weight-space ensembling of a fine-tune and its base (Wortsman et al. 2022, "Robust
fine-tuning of zero-shot models", WiSE-FT): ``(1 - alpha) * base + alpha * fine-tuned``,
layer by layer, batch-norm statistics included. alpha 1 is the fine-tune, 0 the base. One
network, so colorizing costs the same. The base is the fine-tune's ``init_from`` file; layers
are paired by name (the base may have more: a bundled file's hint layers). The output
keeps the fine-tune's metadata (its bin prior is the base's) and records the interpolation.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from huenet.modelfile import load_model, read_metadata, save_model, sha256_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("finetuned", help="a model file trained with --init-from")
    parser.add_argument("alpha", type=float, help="share of the fine-tune (0 = base, 1 = fine-tune)")
    parser.add_argument("--base", help="the base model file (default: the fine-tune's init_from)")
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()

    metadata = read_metadata(arguments.finetuned)
    metadata.pop("format", None)
    base_path = arguments.base or metadata["training"]["init_from"]["file"]
    finetuned = load_model(arguments.finetuned, engine="keras").network
    base = {layer.name: layer for layer in load_model(base_path, engine="keras").network.layers}
    alpha = arguments.alpha
    # Layer by layer, by name: a bundled base carries the hint inputs' layers, which a network
    # trained from it (huenet train --init-from copies weights by name) lacks.
    for layer in finetuned.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        other = base[layer.name].get_weights() if layer.name in base else None
        if other is None or [w.shape for w in other] != [w.shape for w in weights]:
            raise SystemExit(f"{base_path} has no layer {layer.name} shaped as in {arguments.finetuned}")
        layer.set_weights(
            [((1 - alpha) * a.astype(np.float64) + alpha * b).astype(b.dtype) for a, b in zip(other, weights)]
        )
    metadata["interpolation"] = {
        "method": "WiSE-FT: (1 - alpha) * base + alpha * fine-tuned, every weight",
        "alpha": alpha,
        "base": {"file": base_path, "sha256": sha256_of(base_path)},
        "fine_tuned": {"file": arguments.finetuned, "sha256": sha256_of(arguments.finetuned)},
    }
    Path(arguments.output).parent.mkdir(parents=True, exist_ok=True)
    save_model(finetuned, arguments.output, metadata)
    print(f"alpha {alpha}: {base_path} x {arguments.finetuned} -> {arguments.output}")


if __name__ == "__main__":
    main()
