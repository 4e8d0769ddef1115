#!/usr/bin/env bash
# A photo network on EfficientNet-Lite1 (preset huenet-lite1): the lineage of
# make_photo_model.sh's steps on the larger encoder, with its own 16 CPU hours. Started
# 2026-12-07; not bundled. Steps so far, and what comes next:
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
SCRATCH=${SCRATCH:-../scratch}   # the unpacked repositories (docs/data.md)
PHOTOS=${PHOTOS:-runs/lite0-photos}
RUN=${RUN:-runs/lite1-frozen}

# 1. The same whole photos as the Lite0 lineage (256 px long side; 10,118 train, 733 validation).
[ -d $PHOTOS/train ] || python experiments/encoder_photos.py --imagenette $SCRATCH/imagenette \
    --voc $SCRATCH/voc/JPEGImages --bsds $DATA/bsds500-jpeg/train.tar \
    --bsds-validation $DATA/bsds500-jpeg/val.tar --output $PHOTOS

# 2. The decoder on the frozen encoder, Lite0's step 2 exactly (2026-12-07: 2,413 s here;
#    validation ab error 12.43, 12.37, 12.09, 11.93, 11.96 against Lite0's 12.59, 12.16, 12.14,
#    12.19, 12.03; epoch 4 kept).
huenet train --preset huenet-lite1 --data $PHOTOS/train --validation-data $PHOTOS/validation \
    --crop-size 160 --max-shift 0 --epochs 5 --schedule-epochs 8 --batch-size 32 --learning-rate 1e-3 \
    --precision bfloat16 --run-dir $RUN --verbose 2

# Next: make_photo_model.sh's step 2b (the Tiny ImageNet photos beside these, --init-from
# $RUN/model.keras), then steps 3-6 with --preset huenet-lite1 where a preset is named.
