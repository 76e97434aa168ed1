# Sourced by the scripts that run on the lent GPU machine (JAX, no TensorFlow, no network): installs the
# carried Keras wheels unless Keras is there, puts them and the checkout on PYTHONPATH, and unpacks the
# carried FER2013 folders to /tmp/fer2013 beside it first, so that a call cut off mid-unpack leaves no half
# folder for the next call to train on.
python3 -c "import keras" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/*.whl
export PYTHONPATH=/tmp/site:$PWD
if [ ! -d /tmp/fer2013 ]; then
    rm -rf /tmp/fer2013.part
    python3 tools/carry_data.py unpack .carry/fer2013.xz /tmp/fer2013.part
    mv /tmp/fer2013.part /tmp/fer2013
fi
