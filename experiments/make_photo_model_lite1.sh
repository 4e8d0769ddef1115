#!/usr/bin/env bash
# A photo network on EfficientNet-Lite1 (preset huenet-lite1): the lineage of
# make_photo_model.sh's steps on the larger encoder, with its own 16 CPU hours. Started
# 2026-12-07; not bundled (step 3 says why). Every step so far:
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
SCRATCH=${SCRATCH:-../scratch}   # the unpacked repositories (docs/data.md)
PHOTOS=${PHOTOS:-runs/lite0-photos}
RUN=${RUN:-runs/lite1-frozen}
MIX=${MIX:-runs/lite0-mix}
MIXRUN=${MIXRUN:-runs/lite1-mix-frozen}
OUT=${OUT:-runs/lite1-release}

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

# 2b. make_photo_model.sh's step 2b exactly: the Tiny ImageNet photos beside these (the same
#    29,870-photo mix, hard links), from step 2's network, encoder frozen, AdamW 5e-4 on a
#    4-epoch cosine (2026-12-07: 1,247, 1,196, 1,330 and 1,498 s here, resumable with
#    --resume; validation ab error 12.39, 12.19, 11.92, 11.94 against Lite0's 12.07, 11.93,
#    12.01, 12.00; the best epoch, 3, is kept).
mkdir -p $MIX
[ -d $MIX/train ] || cp -al $PHOTOS/train $PHOTOS/validation $MIX/
[ -d $MIX/train/tiny ] || python experiments/enlarged_thumbnails.py $DATA/tiny-imagenet-jpeg/train.tar.gz \
    --per-class 100 --size 160 --output $MIX/train/tiny
huenet train --preset huenet-lite1 --init-from $RUN/model.keras --data $MIX/train --validation-data $MIX/validation \
    --crop-size 160 --max-shift 0 --epochs 4 --batch-size 32 --learning-rate 5e-4 --precision bfloat16 \
    --run-dir $MIXRUN --verbose 2

# 3. Decodings, as make_photo_model.sh's steps 3-3c (the same 891 validation photos by kind,
#    the 280 held-out thumbnails, 288 px, T 0.4), on ten decodings named one by one
#    (--decodings, new: the contrast grid's cross product would cost an hour here): faithful
#    candidates 0.25-0.4, vivid candidates around 0.2.5's picks. 2026-12-07: stopped after
#    the first decoding. At vividness 0.25 the 411 ImageNet photos gave 24.40 dB at 0.535 of
#    the truth's colorfulness, 0.04 dB and 0.1 AuC point behind 0.2.5's network there (the
#    others +0.07, the thumbnails +0.10): not released. Lite1 and Lite0 averaged did better
#    (experiments/studies/photo_ensemble.py; docs/experiment-log.md).
python experiments/calibrate_photo.py $MIXRUN/model.keras --small-images $SCRATCH/tiny-heldout \
    --limit 500 --photos imagenet=$SCRATCH/imagenet-half other=$DATA/bsds500-jpeg/val.tar other=$SCRATCH/voc-val \
    other=$SCRATCH/other-photos --working-sizes 288 --film-working-size 224 --size-decodings "0.4,0.5" \
    --min-working-size 160 --decodings 0.4,0.25 0.4,0.3 0.4,0.35 0.4,0.4 0.4,1.25 0.4,1.5 0.4,1.0,1.2 \
    0.4,1.25,1.2 0.4,1.0,1.35 0.4,1.25,1.35 --min-colorfulness 0.4 --photos-min-colorfulness 0.5 \
    --output $OUT/calibrated.keras

