#!/usr/bin/env bash
# Stage 8 on the lent GPU machine, which has JAX but no TensorFlow: a wide teacher (width 64, 1x stem, 7x7
# CBAM kernels) trained from scratch, then the shipped model distilled from it and from itself with stage 7's
# recipe. Run from the repository root by the device tool with `.carry` carried (DEVELOPERS.md, "Training on
# the lent GPU machine"):
#     bash tools/stage8_gpu.sh
# What comes back in $OUT: the student's model.keras, and runs.tgz with both runs' configs, logs and reports.
# A second call on the same warm machine resumes both runs where the first stopped. TEACHER_SETTINGS and
# STUDENT_SETTINGS append `--set` arguments to each run (a dry run: --set training.epochs=1).
set -euo pipefail
export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax
out=${OUT:-runs/stage8-out}
mkdir -p "$out"
source tools/gpu_setup.sh

train() {
    [ -f "$1/report.json" ] && return
    local output=$1
    shift
    python3 -m keras_fer.cli train "$@" --data /tmp/fer2013 --output "$output" 2>&1 | tee -a "$out/stage8.log"
}
train runs/teacher fer2013 --set model.width=64 --set model.stem=small --set model.spatial_kernel_size=7 \
    --set training.mixed_precision=mixed_bfloat16 --set training.epochs=40 --set training.monitor=val_accuracy \
    ${TEACHER_SETTINGS:-}
train runs/stage8 saved_models/fer2013/stage7.yaml --set model.weights=keras_fer/assets/fer2013.keras \
    --teachers runs/teacher/model.keras keras_fer/assets/fer2013.keras ${STUDENT_SETTINGS:-}
cp runs/stage8/model.keras "$out/"
tar czf "$out/runs.tgz" --exclude=model.keras --exclude=backup runs/teacher runs/stage8
