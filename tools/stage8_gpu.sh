#!/usr/bin/env bash
# A wide teacher and a distilled shipped model on the lent GPU machine, which has JAX but no TensorFlow. Run
# from the repository root by the device tool, once per part of .carry that tools/gpu_prepare.sh cut, one
# call at once after the other (carry [".carry/call-1"], then [".carry/call-2"], ...; the call with the last
# part trains; DEVELOPERS.md, "Training on the lent GPU machine"):
#     bash tools/stage8_gpu.sh            # FER2013: stage 8 of saved_models/fer2013
#     bash tools/stage8_gpu.sh ferplus    # FER+
# FER2013: a teacher (width 64, 1x stem, 7x7 CBAM kernels) trained from scratch, then the shipped fer2013
# model distilled from it and from itself with stage 7's recipe. FER+: the same teacher on FER+'s eight
# classes and vote distributions, then the shipped ferplus model distilled from it and from itself with
# saved_models/ferplus/distil.yaml.
# What comes back in $OUT: the student's model.keras, and runs.tgz with both runs' configs, logs and reports.
# A device call may run 600 s: the teacher trains at most TEACHER_SECONDS (default 300) and the student
# STUDENT_SECONDS (default 140), each with `keras-fer train --time-limit`, which after the first epoch
# shortens the run and its cosine schedule to the epochs that fit at the measured pace (the GPU's speed on
# this network has never been measured). A second call on the same warm machine resumes both runs where the
# first stopped. TEACHER_SETTINGS and STUDENT_SETTINGS append `--set` arguments to each run (a dry run:
# --set training.epochs=1).
set -euo pipefail
export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax
dataset=${1:-fer2013}
out=${OUT:-runs/stage8-out}
mkdir -p "$out"
source tools/gpu_setup.sh

train() {
    [ -f "$1/report.json" ] && return
    local output=$1
    shift
    python3 -m keras_fer.cli train "$@" --data "/tmp/$dataset" --output "$output" 2>&1 | tee -a "$out/stage8.log"
}
teacher_run=runs/$dataset-teacher student_run=runs/$dataset-stage8  # one pair per dataset: a warm machine keeps runs/
# The teacher without class weights and mixing heads: the ablation (README, "Does the method work?") found
# both cost accuracy, and the shipped models' own recipes dropped the class weights for it.
teacher=(--set model.width=64 --set model.stem=small --set model.spatial_kernel_size=7 --set model.uncertainty_mixing=false
    --set loss.weighting=none --set training.mixed_precision=mixed_bfloat16 --set training.epochs=40
    --set training.monitor=val_accuracy --time-limit "${TEACHER_SECONDS:-300}")
student=(--time-limit "${STUDENT_SECONDS:-140}")
case $dataset in
    fer2013)
        train "$teacher_run" fer2013 "${teacher[@]}" ${TEACHER_SETTINGS:-}
        train "$student_run" saved_models/fer2013/stage7.yaml --set model.weights=keras_fer/assets/fer2013.keras \
            --teachers "$teacher_run/model.keras" keras_fer/assets/fer2013.keras "${student[@]}" ${STUDENT_SETTINGS:-} ;;
    ferplus)
        train "$teacher_run" ferplus --set model.preset=fer2013 --set data.options.label_mode=probability \
            "${teacher[@]}" ${TEACHER_SETTINGS:-}
        train "$student_run" saved_models/ferplus/distil.yaml --set model.weights=keras_fer/assets/ferplus.keras \
            --teachers "$teacher_run/model.keras" keras_fer/assets/ferplus.keras "${student[@]}" ${STUDENT_SETTINGS:-} ;;
    *)
        echo "stage8_gpu.sh: expected fer2013 or ferplus. Received: $dataset" >&2
        exit 2 ;;
esac
cp "$student_run/model.keras" "$out/"
tar czf "$out/runs.tgz" --exclude=model.keras --exclude=backup "$teacher_run" "$student_run"
