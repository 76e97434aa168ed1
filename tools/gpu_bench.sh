#!/usr/bin/env bash
# Issue 26's GPU figures: training img/s of the fer2013 and paper presets on the lent GPU machine (JAX, no
# TensorFlow), plain and as shipped (CBAM + mixing), XLA on: batch 64 in float32 and mixed bfloat16, batch 256
# in mixed bfloat16; written to $OUT/gpu_bench.log. One device call of at most about 9 minutes, on its own or
# before the study or teacher scripts on the same warm machine. It needs Keras there, from the machine or from
# the carried wheels (tools/gpu_prepare.sh, as for tools/gpu_study.sh):
#     bash tools/gpu_bench.sh
# A dry run here: PRESETS=tiny bash tools/gpu_bench.sh
set -euo pipefail
export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false
out=${OUT:-runs/gpu-bench-out}
mkdir -p "$out"
if ! python3 -c "import keras" 2>/dev/null; then
    source tools/gpu_setup.sh
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
{
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    python3 -c "import jax, keras; print('jax', jax.__version__, 'keras', keras.__version__, jax.devices())"
    for setting in "64 float32" "64 mixed_bfloat16" "256 mixed_bfloat16"; do
        read -r batch policy <<<"$setting"
        precision=()
        [ "$policy" = float32 ] || precision=(--mixed-precision "$policy")
        # shellcheck disable=SC2086
        timeout 170 python3 benchmarks/train_throughput.py --presets ${PRESETS:-fer2013 paper} --xla on --batch-size "$batch" \
            --rounds 3 --steps 10 --variants cbam+mixing "${precision[@]}" || echo "batch $batch $policy: failed or timed out"
    done
} 2>&1 | tee "$out/gpu_bench.log"
