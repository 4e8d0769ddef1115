#!/usr/bin/env bash
# One training run on a lent GPU machine (the `device` tool), in one call.
#
# Here, once:   bash experiments/gpu_lease.sh prepare
#   puts the keras/namex/optree wheels for the device's Python 3.12 and a copy of the
#   CIFAR-10 train archive into .gpu/ (ignored by git; about 19 MB; carry it).
# There:        BUDGET=470 DEADLINE=505 EXTRA="--preset huenet-class --train max_shift=4" bash experiments/gpu_lease.sh run
#   with carry [".gpu"] and timeout_s about DEADLINE + 60. EXTRA_B="..." trains a second
#   variant beside the first (outputs in $OUT/a and $OUT/b), EXTRA_C and EXTRA_D a third
#   and fourth; CALIBRATE and KEEP are explained below. BUDGET and DEADLINE are seconds
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
    PY=${PYTHON:-python3}  # the device image's Python; PYTHON and SKIP_INSTALL=1 let it rehearse here
    if [ -z "${SKIP_INSTALL:-}" ]; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 1
        export PYTHONPATH=/tmp/site:src
    fi
    export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
    train() {  # BACKEND OUT_DIR EXTRA...
        local backend=$1 out=$2
        shift 2
        mkdir -p "$out"
        KERAS_BACKEND=$backend "$PY" experiments/gpu_train.py --data "${DATA:-.gpu/train.tar.gz}" --started "$START" \
            --budget "${BUDGET:?}" --deadline "${DEADLINE:?}" --max-epochs "${MAX_EPOCHS:-60}" "$@" \
            --run-dir "/tmp/run-$backend-$(basename "$out")-$START" --out "$out"  # $START: fresh on a warm machine too
    }
    if [ -n "${EXTRA_B:-}" ]; then
        # Variants side by side: on 2026-11-26 one run left the GPU waiting on the batch
        # pipeline (7 ms step, 18-22 ms pipeline), so a second run costs the first little.
        # 2026-11-26, H200, 8 pipeline threads each: 3.5-4 s per epoch for each of two.
        # EXTRA_C and EXTRA_D add a third and fourth (fewer threads each: 16 cores in all).
        # Each picks its epochs while the others start up; all count the pipeline and the
        # step as not overlapping, the safe side. Results land in $OUT/a, $OUT/b, ...
        runs="a b"
        [ -n "${EXTRA_C:-}" ] && runs="$runs c"
        [ -n "${EXTRA_D:-}" ] && runs="$runs d"
        workers=$((16 / $(echo $runs | wc -w)))
        for run in $runs; do
            case $run in a) extra=${EXTRA:-} ;; b) extra=$EXTRA_B ;; c) extra=$EXTRA_C ;; d) extra=$EXTRA_D ;; esac
            # shellcheck disable=SC2086  # the EXTRA variables hold several arguments
            train jax "$OUT/$run" --workers "$workers" $extra > "$OUT/$run.log" 2>&1 &
            sleep 5  # each starts while the previous loads data, so their step timings overlap less
        done
        wait
        if [ -n "${CALIBRATE:-}" ]; then
            # Score each run on its validation split here, e.g. CALIBRATE="--temperatures 0.3
            # --vividness 0 0.7 --working-sizes 32", so models need not come back to be compared.
            for run in $runs; do
                [ -f "$OUT/$run/model.keras.part-0" ] || continue
                cat "$OUT/$run"/model.keras.part-* > "/tmp/model-$run-$START.keras"
                # shellcheck disable=SC2086
                KERAS_BACKEND=jax "$PY" experiments/calibrate.py "/tmp/model-$run-$START.keras" --data "${DATA:-.gpu/train.tar.gz}" \
                    $CALIBRATE --output "/tmp/calibrated-$run-$START.keras" > "$OUT/$run/calibrate.log" 2>&1 &
            done
            wait
        fi
        # Only 8 files come back from a call (2026-11-26 lost run b's whole output to that),
        # so each run's small files go into its log, and KEEP names the runs whose model
        # parts come back (default: all; four logs and four one-part models make the 8).
        for run in $runs; do
            for name in config.json history.csv wall_time.json model-card.md calibrate.log; do
                [ -f "$OUT/$run/$name" ] && { echo "=== $name"; cat "$OUT/$run/$name"; rm "$OUT/$run/$name"; } >> "$OUT/$run.log"
            done
            case " ${KEEP:-$runs} " in *" $run "*) ;; *) rm -rf "${OUT:?}/$run" ;; esac
        done
        for run in $runs; do tail -n 12 "$OUT/$run.log"; done
        ls -la "$OUT" "$OUT"/*/
        exit 0
    fi
    mkdir -p "$OUT"
    # shellcheck disable=SC2086
    train jax "$OUT" ${EXTRA:-} 2>&1 | tee "$OUT/log.txt"
    if ! ls "$OUT"/model.keras.part-0 >/dev/null 2>&1; then
        echo "=== jax failed; trying torch with the time left" | tee -a "$OUT/log.txt"
        # shellcheck disable=SC2086
        train torch "$OUT" ${EXTRA:-} 2>&1 | tee -a "$OUT/log.txt"
    fi
    ls -la "$OUT"
    ;;
*)
    echo "usage: $0 prepare | run" >&2
    exit 2
    ;;
esac
