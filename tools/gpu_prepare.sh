#!/usr/bin/env bash
# Here, once, with ../shared beside the checkout: what the GPU scripts need on the lent machine (the FER2013
# images packed by tools/carry_data.py, the FER+ label files, the Keras wheels the machine lacks), cut into
# call-sized parts in the git-ignored .carry/call-1, .carry/call-2, ... Each device call carries the working
# tree and at most 64 MiB in all; with the two shipped models tracked (26 MB) the data does not fit in one
# call beside them. So the first calls carry one part each and only deliver it (tools/gpu_setup.sh keeps it
# in /tmp/carry while the machine stays warm, 30 s after a call); the call with the last part runs:
#     bash tools/gpu_prepare.sh                       # here; prints the calls to make
#     bash tools/stage8_gpu.sh ferplus                # there, carry [".carry/call-1"]: delivers part 1
#     bash tools/stage8_gpu.sh ferplus                # there at once, carry [".carry/call-2"]: trains
set -euo pipefail
shared=${SHARED:-../shared/data}
bundle=.carry/bundle
mkdir -p "$bundle"
# Each piece is written under a temporary name and moved into place: an interrupted prepare leaves none half-made.
if [ ! -f "$bundle/fer2013.xz" ]; then
    python tools/carry_data.py pack "$shared/fer2013" "$bundle/.fer2013.xz" && mv "$bundle/.fer2013.xz" "$bundle/fer2013.xz"
fi
if [ ! -f "$bundle/ferplus_labels.tar.xz" ]; then
    tar cJf "$bundle/.labels.tar.xz" -C "$shared/ferplus" FER2013Train/label.csv FER2013Valid/label.csv
    mv "$bundle/.labels.tar.xz" "$bundle/ferplus_labels.tar.xz"
fi
if [ "$(ls "$bundle"/keras-*.whl "$bundle"/namex-*.whl "$bundle"/optree-*.whl 2>/dev/null | wc -l)" -ne 3 ]; then
    rm -rf "$bundle/.wheels" "$bundle"/*.whl
    pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$bundle/.wheels" \
        "keras==$(python -c 'import keras; print(keras.__version__)')" namex optree
    mv "$bundle"/.wheels/*.whl "$bundle/" && rmdir "$bundle/.wheels"
fi
# Room in one call: 64 MiB less what travels anyway (tracked and untracked-not-ignored files) and 2 MiB spare.
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}' || true)
[ -n "$tree" ] || { echo "gpu_prepare.sh: could not measure the working tree (run it from the repository root)" >&2; exit 1; }
room=$((64 * 1024 * 1024 - tree - 2 * 1024 * 1024))
[ "$room" -gt $((4 * 1024 * 1024)) ] || { echo "gpu_prepare.sh: the working tree ($tree bytes) leaves no room for data" >&2; exit 1; }
rm -rf .carry/call-* .carry/parts && mkdir -p .carry/parts
tar cf - -C "$bundle" . | split -b "$room" -d -a 2 - .carry/parts/bundle.tar.
parts=(.carry/parts/bundle.tar.*)
checksum=$(cat "${parts[@]}" | sha256sum | cut -d' ' -f1)
for index in "${!parts[@]}"; do
    call=.carry/call-$((index + 1))
    mkdir -p "$call" && mv "${parts[$index]}" "$call/"
    printf '%s %s\n' "${#parts[@]}" "$checksum" >"$call/parts"
done
rmdir .carry/parts
echo "working tree $((tree / 1024 / 1024)) MiB; ${#parts[@]} calls, one part each (at most $((room / 1024 / 1024)) MiB):"
for index in "${!parts[@]}"; do echo "  carry [\".carry/call-$((index + 1))\"]"; done
