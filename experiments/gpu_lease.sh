#!/usr/bin/env bash
# One training run on a lent GPU machine (the `device` tool), in one call.
#
# Here, once:   bash experiments/gpu_lease.sh prepare
#   puts the keras/namex/optree wheels for the device's Python 3.12 and a copy of the
#   CIFAR-10 train archive into .gpu/ (ignored by git; about 19 MB; carry it).
# There:        BUDGET=470 DEADLINE=505 EXTRA="--preset huenet-class --train max_shift=4" bash experiments/gpu_lease.sh run
#   with carry [".gpu"] and timeout_s about DEADLINE + 60. BUDGET and DEADLINE are seconds
#   from the start of the command (see experiments/gpu_train.py). The run's small files
#   and the model in parts under 16 MB land in $OUT; join the parts here with
#   cat model.keras.part-* > model.keras
set -uo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
    mkdir -p .git/info .gpu/whl
    grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >> .git/info/exclude
    PY=${PYTHON:-.venv/bin/python}  # the environment whose Keras version the device should get
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .gpu/whl "keras==$("$PY" -c 'import keras; print(keras.__version__)' 2>/dev/null)" \
        namex optree || exit 1
    cp -f ../shared/data/cifar10-jpeg/train.tar.gz .gpu/
    du -sh .gpu
    ;;
run)
    START=$(date +%s)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    train() {
        # shellcheck disable=SC2086  # EXTRA holds several arguments
        KERAS_BACKEND=$1 python3 experiments/gpu_train.py --data .gpu/train.tar.gz --started "$START" \
            --budget "${BUDGET:?}" --deadline "${DEADLINE:?}" --max-epochs "${MAX_EPOCHS:-60}" ${EXTRA:-} \
            --run-dir "/tmp/run-$1" --out "$OUT"
    }
    train jax 2>&1 | tee "$OUT/log.txt"
    if ! ls "$OUT"/model.keras.part-0 >/dev/null 2>&1; then
        echo "=== jax failed; trying torch with the time left" | tee -a "$OUT/log.txt"
        train torch 2>&1 | tee -a "$OUT/log.txt"
    fi
    ls -la "$OUT"
    ;;
*)
    echo "usage: $0 prepare | run" >&2
    exit 2
    ;;
esac
