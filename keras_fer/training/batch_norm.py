"""Batch-normalization statistics re-estimated for the weights a model has now."""

import keras


def recalibrate_batch_norm(model, batches, max_batches=None):
    """Re-estimates every `BatchNormalization` layer's moving mean and variance.

    During training each layer keeps a moving average of the statistics of
    the last few batches (about 10 at momentum 0.9), taken on augmented
    images and on weights that have moved on since. Averaged weights
    (`optimizer.ema_momentum`) never produced those statistics at all.
    This runs the model in training mode over `batches` and sets each
    layer's statistics to the mean, over the batches, of the batch mean and
    variance. Only those statistics change (and random-number states: in
    training mode dropout and mixing draw numbers); the layers' momentum is
    restored afterwards. Layers nested in other layers (CBAM's) count.

    Args:
        model: a built Keras model.
        batches: an iterable of image batches or `(images, labels)` pairs,
            e.g. `dataset.batches(64)` of the training split, without
            augmentation.
        max_batches: stop after this many batches, `None` for all.

    Returns:
        The number of batches used (0 when the model has no
        `BatchNormalization` layer: nothing to do, `batches` is not read).

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization()])
    >>> recalibrate_batch_norm(model, [np.array([[0.0, 1.0], [2.0, 5.0]])])
    1
    >>> keras.ops.convert_to_numpy(model.layers[0].moving_mean).tolist()
    [1.0, 3.0]
    """
    return _recalibrate(model, batches, max_batches, forward=None)


def _recalibrate(model, batches, max_batches, forward):
    """`recalibrate_batch_norm` with the training-mode call `forward` of `_forward(model)`, made here when `None`."""
    layers = [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    statistics = [variable for layer in layers for variable in (layer.moving_mean, layer.moving_variance)]
    sums, count = None, 0
    try:
        # At momentum 0 a training-mode call leaves each layer's moving
        # statistics equal to the batch's; they are summed here.
        for layer in layers:
            layer.momentum = 0.0
        forward = forward or _forward(model)
        for batch in batches:
            if max_batches is not None and count >= max_batches:
                break
            forward(batch[0] if isinstance(batch, (tuple, list)) else batch)
            values = [keras.ops.convert_to_numpy(variable) for variable in statistics]
            sums = values if sums is None else [total + value for total, value in zip(sums, values)]
            count += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if not count:
        raise ValueError("`batches` held no batch: the statistics cannot be re-estimated from nothing.")
    for variable, total in zip(statistics, sums):
        variable.assign(total / count)
    return count


def _forward(model):
    """`model(images, training=True)`, as a graph on TensorFlow and compiled on JAX.

    The graph holds the momentum the layers had when it was traced, so it is
    traced inside `_recalibrate` (momentum 0) and only ever called there.
    """
    if keras.backend.backend() == "jax":
        return _jax_forward(model)
    if keras.backend.backend() != "tensorflow":
        return lambda images: model(images, training=True)
    import tensorflow as tf

    return tf.function(lambda images: model(images, training=True), reduce_retracing=True, autograph=False)


def _jax_forward(model):
    """`model(images, training=True)` as one `jax.jit` function: called op by op, JAX compiles each op on its own.

    The model's variables go in and the updated non-trainable ones (moving
    statistics, random-number states) come out; they are assigned back.
    """
    import jax

    step = jax.jit(lambda trainable, non_trainable, images: model.stateless_call(trainable, non_trainable, images, training=True)[1])

    def forward(images):
        updated = step([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables], images)
        for variable, value in zip(model.non_trainable_variables, updated):
            variable.assign(value)

    return forward


class RecalibrateBatchNorm(keras.callbacks.Callback):
    """Re-estimates the batch-normalization statistics before each evaluation (`fit`'s `recalibrate_batch_norm`).

    One traced forward pass serves every epoch: tracing a fresh one each time
    cost more than the batches it ran.

    Args:
        make_batches: a function returning a fresh iterable of training
            batches (`images` or `(images, labels)`) each time.
        max_batches: how many of them to run (`None`: all).
    """

    def __init__(self, make_batches, max_batches):
        super().__init__()
        self.make_batches, self.max_batches = make_batches, max_batches
        self.forward = None

    def on_test_begin(self, logs=None):
        self.forward = self.forward or _forward(self.model)
        _recalibrate(self.model, self.make_batches(), self.max_batches, self.forward)
