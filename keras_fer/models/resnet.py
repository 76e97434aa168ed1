import keras

from keras_fer.layers import BatchNormalization, CBAMBlock, PhiloxDropout, UncertaintyMixing
from keras_fer.models.fer_model import FERModel
from keras_fer.validation import is_int, is_number, is_odd_size

STEMS = ("imagenet", "compact", "small")
ATTENTIONS = ("cbam", None)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_MEAN = 0.449
GRAY_STD = 0.226
BATCH_NORM = {"momentum": 0.9, "epsilon": 1e-5}
HEAD_BATCH_NORM = {"momentum": 0.9, "epsilon": 2e-5}


def resnet18(
    input_shape=(224, 224, 3),
    num_classes=7,
    attention="cbam",
    spatial_kernel_size=7,
    uncertainty_mixing=True,
    stem="imagenet",
    width=64,
    blocks_per_stage=(2, 2, 2, 2),
    feature_dim=64,
    dropout=0.4,
    seed=None,
    name="resnet18",
    internal_size=None,
):
    """A ResNet18 for facial expressions, with CBAM and uncertainty mixing.

    The model takes raw pixels in `[0, 255]` (channels last, 1 or 3
    channels) and returns class probabilities. It normalises pixels itself:
    ImageNet mean/std for RGB, their channel averages (mean 0.449, std 0.226)
    for grayscale. Every BasicBlock applies `CBAMBlock` after its second
    conv + batch norm when `attention="cbam"`. With `uncertainty_mixing`, two
    heads compute `mu` and `log_var` from the last feature map (batch norm,
    dropout, flatten, dense, batch norm, as in RUL), `UncertaintyMixing` mixes
    them in training and a dense layer classifies; without it, global average
    pooling and dropout lead to the classifier, as in torchvision's resnet18.

    The returned `FERModel` trains with `model.fit(images, labels)` (mixing
    active, targets mixed to match) and predicts with `model.predict(images)`
    (no mixing). See `keras_fer.models.FERModel`.

    Args:
        input_shape: `(height, width, channels)`, channels 1 or 3.
        num_classes: number of expression classes, at least 2.
        attention: `"cbam"` or `None`.
        spatial_kernel_size: positive odd int, side of CBAM's spatial
            attention conv (`CBAMBlock` checks it): 7 as in the paper. 3
            makes the trained int8 TFLite `fer2013` model 0.33 ms/face
            faster on one CPU core, 1.88 against 2.21 ms (DEVELOPERS.md,
            "int8 latency").
        uncertainty_mixing: bool, whether to add the RUL heads and mixing.
        stem: `"imagenet"` (7x7/2 conv + 3x3/2 max-pool, for 224 px),
            `"compact"` (3x3/2 conv, no pool: 48 px inputs on a budget) or
            `"small"` (3x3/1 conv, no pool, for 48 px inputs).
        width: filters of the first stage; each later stage doubles them.
        blocks_per_stage: BasicBlocks in each stage.
        feature_dim: width of the `mu` and `log_var` features.
        dropout: dropout rate before the features (mixing) or the classifier.
        seed: optional int seed of the mixing permutation.
        name: model name.
        internal_size: `(height, width)` the model resizes its input to
            (bilinear, layer `"internal_resize"`) before everything else, or
            `None`. A model trained on 48x48 faces upsampled to 64x64 keeps
            taking 48x48 faces: what it sees from a photo's face is then what
            it saw in training, and the stride-2 stem keeps more of the face.
            At least the input's size: it upsamples.

    Returns:
        A `keras_fer.models.FERModel`.

    Example:

    >>> model = resnet18(input_shape=(48, 48, 1), stem="small", width=16)
    >>> model.output_shape
    (None, 7)
    """
    _validate(locals())
    if internal_size is not None and (
        not isinstance(internal_size, (list, tuple))
        or len(internal_size) != 2
        or not all(is_int(side) and side >= size for side, size in zip(internal_size, input_shape[:2]))
    ):
        raise ValueError(
            f"`internal_size` must be None or (height, width), integers no smaller than the input's {tuple(input_shape[:2])} "
            f"(it upsamples; bilinear resizing down would alias). Received: internal_size={internal_size!r}"
        )
    images = keras.Input(shape=tuple(input_shape), name="images")
    x = images
    if internal_size is not None:  # float32 under mixed precision too: pixels, as the training faces had them
        x = keras.layers.Resizing(*internal_size, interpolation="bilinear", dtype="float32", name="internal_resize")(x)
    x = apply_pixel_normalization(x)
    x = apply_stem(x, stem, width)
    for stage, num_blocks in enumerate(blocks_per_stage):
        for block in range(num_blocks):
            x = apply_basic_block(
                x,
                filters=width * 2**stage,
                strides=2 if stage > 0 and block == 0 else 1,
                attention=attention,
                spatial_kernel_size=spatial_kernel_size,
                name=f"stage{stage + 1}_block{block + 1}",
            )
    if uncertainty_mixing:
        features = apply_uncertainty_mixing_head(x, feature_dim, dropout, seed)
    else:
        features = apply_pooling_head(x, dropout)
    logits = keras.layers.Dense(num_classes, name="classifier")(features)
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return FERModel(images, probabilities, name=name)


def apply_pixel_normalization(x):
    """Maps pixels in `[0, 255]` to zero mean, unit variance per channel."""
    if x.shape[-1] == 3:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = (GRAY_MEAN,), (GRAY_STD,)
    scale = [1.0 / (255.0 * s) for s in std]
    offset = [-m / s for m, s in zip(mean, std)]
    return keras.layers.Rescaling(scale, offset, name="pixel_normalization")(x)


def apply_stem(x, stem, width):
    """The ResNet stem: `"imagenet"` downsamples 4x, `"compact"` 2x, `"small"` 1x."""
    if stem == "imagenet":
        x = apply_conv_norm(x, width, 7, strides=2, name="stem")
        x = keras.layers.ReLU(name="stem_relu")(x)
        return keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    x = apply_conv_norm(x, width, 3, strides=2 if stem == "compact" else 1, name="stem")
    return keras.layers.ReLU(name="stem_relu")(x)


def apply_basic_block(x, filters, strides, attention, spatial_kernel_size, name):
    """A ResNet BasicBlock, with CBAM before the residual addition."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = apply_conv_norm(x, filters, 1, strides, name=f"{name}_shortcut")
    x = apply_conv_norm(x, filters, 3, strides, name=f"{name}_conv1")
    x = keras.layers.ReLU(name=f"{name}_relu1")(x)
    x = apply_conv_norm(x, filters, 3, 1, name=f"{name}_conv2")
    if attention == "cbam":
        x = CBAMBlock(spatial_kernel_size=spatial_kernel_size, name=f"{name}_cbam")(x)
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def apply_conv_norm(x, filters, kernel_size, strides, name):
    """Conv (no bias) + batch norm with PyTorch's defaults."""
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return BatchNormalization(**BATCH_NORM, name=f"{name}_bn")(x)


def apply_uncertainty_mixing_head(x, feature_dim, dropout, seed):
    """RUL's `mu` and `log_var` heads followed by `UncertaintyMixing`."""
    mu = apply_feature_head(x, feature_dim, dropout, name="mu")
    log_var = apply_feature_head(x, feature_dim, dropout, name="log_var")
    return UncertaintyMixing(seed=seed, name="uncertainty_mixing")([mu, log_var])


def apply_feature_head(x, feature_dim, dropout, name):
    """Batch norm (no affine), dropout, flatten, dense, batch norm."""
    x = BatchNormalization(center=False, scale=False, **HEAD_BATCH_NORM, name=f"{name}_input_bn")(x)
    x = PhiloxDropout(dropout, name=f"{name}_dropout")(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = keras.layers.Dense(feature_dim, name=f"{name}_dense")(x)
    return BatchNormalization(**HEAD_BATCH_NORM, name=f"{name}_bn")(x)


def apply_pooling_head(x, dropout):
    """Global average pooling and dropout, as torchvision's resnet18."""
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return PhiloxDropout(dropout, name="dropout")(x)


def _validate(arguments):
    """Raises a `ValueError` naming the first of `resnet18`'s `arguments` that breaks its rule in `RULES`."""
    for argument, (valid, expected) in RULES.items():
        value = arguments[argument]
        if not valid(value):
            raise ValueError(f"`{argument}` must be {expected}. Received: {argument}={value!r}")


def _is_input_shape(value):
    return isinstance(value, (list, tuple)) and len(value) == 3 and all(is_int(size, minimum=1) for size in value) and value[-1] in (1, 3)


def _is_sizes(value):
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(is_int(size, minimum=1) for size in value)


RULES = {
    "input_shape": (_is_input_shape, "(height, width, channels): positive integers, with 1 or 3 channels"),
    "num_classes": (lambda value: is_int(value, minimum=2), "an integer >= 2"),
    "attention": (lambda value: isinstance(value, (str, type(None))) and value in ATTENTIONS, f"one of {ATTENTIONS}"),
    "spatial_kernel_size": (is_odd_size, "a positive odd integer"),
    "uncertainty_mixing": (lambda value: isinstance(value, bool), "a bool"),
    "stem": (lambda value: isinstance(value, str) and value in STEMS, f"one of {STEMS}"),
    "width": (lambda value: is_int(value, minimum=1), "an integer >= 1"),
    "blocks_per_stage": (_is_sizes, "a non-empty sequence of positive integers"),
    "feature_dim": (lambda value: is_int(value, minimum=1), "an integer >= 1"),
    "dropout": (lambda value: is_number(value, minimum=0) and value < 1, "a number in [0, 1)"),
    "seed": (lambda value: value is None or is_int(value), "an integer or None"),
    "name": (lambda value: isinstance(value, str) and value != "", "a non-empty string"),
}
