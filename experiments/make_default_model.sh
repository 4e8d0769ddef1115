#!/usr/bin/env bash
# How the bundled default model was made, start to finish (about 70 minutes on 2 CPU cores).
# Each step writes into runs/default-v1; the last steps update the package and docs/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
RUN=runs/default-v1

# 1. Train (the model card records the wall time of this step).
huenet train --preset huenet-base --data $DATA/cifar10-jpeg/train.tar.gz --epochs 11 \
    --run-dir $RUN --verbose 2

# 2. Choose decoding settings and the working size on validation data (never the test split).
python experiments/calibrate.py $RUN/model.keras --data $DATA/cifar10-jpeg/train.tar.gz \
    --photos $DATA/bsds500-jpeg/val.tar --output $RUN/default.keras

# 3. Score it on the test split beside the baselines, with its vivid setting.
huenet evaluate $RUN/default.keras --vivid --data $DATA/cifar10-jpeg/test.tar.gz --output-dir docs/default-evaluation

# 4. Bundle it: metrics, model card, sha256 in src/huenet/weights/models.json.
python experiments/publish_model.py $RUN/default.keras --evaluation docs/default-evaluation/evaluation.json \
    --name default --command "experiments/make_default_model.sh (huenet train --preset huenet-base --data cifar10-jpeg/train.tar.gz --epochs 11)"

# 5. Golden outputs for the tests, README pictures.
HUENET_UPDATE_GOLDEN=1 python -m pytest -q tests/test_modelfile.py -k golden
python experiments/make_grids.py --cifar $DATA/cifar10-jpeg/test.tar.gz --photos $DATA/bsds500-jpeg/val.tar --output docs/images
