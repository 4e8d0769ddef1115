"""Give a bundled-to-be model the hint branch trained for it (``huenet train --hint-branch``).

The branch run froze the model's network and trained only the branch, so the run's network
is the model's own plus the branch. This checks that (every weight outside the branch must
equal the model's), then writes the run's network with the model's metadata (decodings,
hint decay, training record) and ``hint_branch``, the branch run's record beside it.

    python experiments/add_hint_branch.py runs/photo-hint-branch/model.keras \\
        --onto runs/photo-recal/photo-1e-4.keras --output runs/photo-hint-branch/photo.keras
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from huenet import unet  # noqa: E402
from huenet.modelfile import WEIGHTS_DTYPES, load_model, read_metadata, save_model, sha256_of  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("branch_run_model", help="model.keras of the --hint-branch run")
    parser.add_argument("--onto", required=True, help="the model the run started from (--init-from)")
    parser.add_argument("--output", required=True)
    parser.add_argument(
        "--weights-dtype",
        choices=WEIGHTS_DTYPES,
        default="float16",
        help="how the weights are stored (default float16, as the bundled model ships)",
    )
    arguments = parser.parse_args()
    branched = load_model(arguments.branch_run_model, engine="keras")
    onto = load_model(arguments.onto, engine="keras")
    if not branched.settings.get("hint_branch"):
        raise SystemExit(f"add_hint_branch: {arguments.branch_run_model} has no hint branch")
    main_layers = [
        layer for layer in branched.network.layers if layer.weights and not layer.name.startswith(unet.HINT_PREFIX)
    ]
    onto_layers = [layer for layer in onto.network.layers if layer.weights]
    if len(main_layers) != len(onto_layers):
        raise SystemExit(
            f"add_hint_branch: {len(main_layers)} layers outside the branch, {arguments.onto} has {len(onto_layers)}"
        )
    for new, old in zip(main_layers, onto_layers):
        for a, b in zip(new.get_weights(), old.get_weights()):
            if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=1e-3 * max(1e-3, float(np.abs(b).max()))):
                raise SystemExit(
                    f"add_hint_branch: layer {new.name} differs from {arguments.onto}'s: was the run started from it?"
                )
    metadata = read_metadata(arguments.onto)
    metadata.pop("format", None)
    branch_record = read_metadata(arguments.branch_run_model)["training"]
    branch_record["init_from"] = {**branch_record.get("init_from", {}), "sha256": sha256_of(arguments.onto)}
    metadata["settings"] = {**metadata["settings"], "hint_inputs": True, "hint_branch": True}
    metadata["hint_branch_training"] = branch_record
    save_model(branched.network, arguments.output, metadata, weights_dtype=arguments.weights_dtype)
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
