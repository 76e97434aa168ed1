#!/usr/bin/env bash
# The full-size study grids (ablation_fer2013_gpu, label_noise_ferplus_gpu) on the lent GPU machine, which
# has JAX but no TensorFlow and gets only the working tree plus 64 MiB (DEVELOPERS.md, "Training on the lent
# GPU machine").
#
# Here, once, with ../shared beside the checkout (about 50 MiB into the git-ignored .carry/, cut into parts
# that each fit in one call beside the working tree: tools/gpu_prepare.sh):
#     bash tools/gpu_study.sh prepare
# There, by the device tool with timeout_s 600, once per part, one call at once after the other, carrying
# [".carry/call-1"], then [".carry/call-2"], ...; the call with the last part runs the studies:
#     bash tools/gpu_study.sh
# Both studies train with `keras-fer study --jobs $JOBS` (default 8 processes sharing the GPU, 2 CPU threads
# each) until $BUDGET seconds (default 520) have passed, then stop; $OUT gets studies.tgz (each study's
# results.csv, predictions.csv, labels.csv, summary, and each cell's config, history and report) and the log.
# A second call on the still-warm machine resumes both studies where the first stopped. ABLATION_SETTINGS
# and NOISE_SETTINGS append arguments to each `keras-fer study` (a dry run: --variants full --seeds 0
# --set training.epochs=1). Back here, unpack studies.tgz and write the summaries with
#     keras-fer study ablation_fer2013_gpu --summary-only --results saved_models/studies/ablation_fer2013_gpu
set -euo pipefail

if [ "${1:-}" = prepare ]; then
    exec bash tools/gpu_prepare.sh
fi

export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false
out=${OUT:-runs/gpu-study-out}
deadline=$((SECONDS + ${BUDGET:-520}))
mkdir -p "$out" runs/gpu
source tools/gpu_setup.sh  # also /tmp/ferplus

study() {
    local name=$1 left=$((deadline - SECONDS))
    shift
    [ "$left" -gt 30 ] || return 0
    timeout "$left" python3 -m keras_fer.cli study "$name" --jobs "${JOBS:-8}" --threads 2 \
        --output "runs/gpu/$name" --results "runs/gpu/$name/results" "$@" 2>&1 | tee -a "$out/gpu_study.log" || true
}
study ablation_fer2013_gpu --data /tmp/fer2013 --set evaluate.ferplus.path=/tmp/ferplus ${ABLATION_SETTINGS:-}
study label_noise_ferplus_gpu --data /tmp/ferplus ${NOISE_SETTINGS:-}
tar czf "$out/studies.tgz" --exclude=model.keras --exclude=backup --exclude=.locks --exclude='*.png' runs/gpu
