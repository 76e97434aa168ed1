# Sourced by the scripts that run on the lent GPU machine (JAX, no TensorFlow, no network). Gathers the parts
# of .carry that this and earlier calls carried (tools/gpu_prepare.sh) in /tmp/carry; until the last part has
# come it stops the calling script (exit 0: that call only delivered). Then it installs the carried Keras
# wheels unless Keras is there, puts them and the checkout on PYTHONPATH, and unpacks the FER2013 folders to
# /tmp/fer2013 and FER+ (the same PNGs under its own label files) to /tmp/ferplus, each beside its final
# place first, so that a call cut off mid-unpack leaves no half folder for the next call to train on.
carried=/tmp/carry
mkdir -p "$carried"
for part in .carry/call-*/bundle.tar.*; do
    if [ -f "$part" ] && [ ! -f "$carried/$(basename "$part")" ]; then
        cp "$part" "$carried/.part" && mv "$carried/.part" "$carried/$(basename "$part")"
    fi
done
if [ ! -d "$carried/bundle" ]; then
    if ! ls .carry/call-*/parts >/dev/null 2>&1; then
        echo "gpu_setup.sh: no part of .carry came with this call and none is in $carried yet; carry .carry/call-1 (tools/gpu_prepare.sh)" >&2
        exit 1
    fi
    read -r total checksum < <(cat .carry/call-*/parts | head -1)
    have=$(find "$carried" -maxdepth 1 -name 'bundle.tar.*' | wc -l)
    if [ "$have" -lt "$total" ]; then
        echo "gpu_setup.sh: $have of $total parts of .carry are here; call again at once with the next .carry/call-N"
        exit 0
    fi
    [ "$(cat "$carried"/bundle.tar.* | sha256sum | cut -d' ' -f1)" = "$checksum" ] || { echo "gpu_setup.sh: the parts do not add up to what gpu_prepare.sh cut" >&2; exit 1; }
    rm -rf "$carried/bundle.part" && mkdir "$carried/bundle.part"
    cat "$carried"/bundle.tar.* | tar xf - -C "$carried/bundle.part"
    mv "$carried/bundle.part" "$carried/bundle"
fi
python3 -c "import keras" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$carried"/bundle/*.whl
export PYTHONPATH=/tmp/site:$PWD
if [ ! -d /tmp/fer2013 ]; then
    rm -rf /tmp/fer2013.part
    python3 tools/carry_data.py unpack "$carried/bundle/fer2013.xz" /tmp/fer2013.part
    mv /tmp/fer2013.part /tmp/fer2013
fi
if [ ! -d /tmp/ferplus ]; then
    rm -rf /tmp/ferplus.part && mkdir -p /tmp/ferplus.part
    tar xJf "$carried/bundle/ferplus_labels.tar.xz" -C /tmp/ferplus.part
    for pair in FER2013Train:train FER2013Valid:val; do
        find "/tmp/fer2013/${pair#*:}" -name '*.png' -exec ln -s -t "/tmp/ferplus.part/${pair%:*}/" {} +
    done
    mv /tmp/ferplus.part /tmp/ferplus
fi
