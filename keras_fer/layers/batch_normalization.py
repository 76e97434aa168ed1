import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_fer")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training step on a CPU is one TensorFlow kernel.

    Same arguments, weights and results as `keras.layers.BatchNormalization`,
    and the same class name, so weights files saved from models built with
    Keras' layer load into models built with this one and back (Keras keys
    a functional model's layers in `.keras` and `.weights.h5` files by
    their class name).

    Keras 3 computes a training-mode batch norm from separate ops (the
    moments, then scale and shift), each with its own pass over the feature
    map and its own gradient ops. On the TensorFlow backend, without a GPU,
    this layer computes the normalized output and the batch moments of a
    4-D channels-last input in one `FusedBatchNormV3` kernel (oneDNN's on
    x86), whose gradient is one kernel too. On a 2-core AMD EPYC
    (TensorFlow 2.21) Keras' ops took 11% of the `fer2013` preset's kernel
    time per training step and this layer 5%, and the step ran 1.05-1.21x
    faster (`benchmarks/train_step_profile.py`).
    The moving statistics are updated as Keras does, with the biased batch
    variance (the kernel returns the unbiased one; it is scaled back).

    Inference, other ranks and axes, masks, `renorm`, `synchronized`, a
    frozen layer, GPUs (where XLA fuses Keras' ops, and cuDNN's kernel
    refuses an epsilon under 1e-5) and other backends run Keras' own code,
    so exported models hold the same ops as with Keras' layer.

    Args:
        **kwargs: the arguments of `keras.layers.BatchNormalization`.

    Call arguments:
        inputs: a tensor of any rank.
        training: Python bool, whether to normalize with the batch's
            statistics (and update the moving ones) or the moving ones.
        mask: optional, as in `keras.layers.BatchNormalization`.

    Returns:
        A tensor with the shape and dtype of `inputs`.

    Example:

    >>> import numpy as np
    >>> layer = BatchNormalization(momentum=0.0)
    >>> x = np.array([[[[1.0, 2.0]]], [[[3.0, 6.0]]]], "float32")
    >>> outputs = layer(x, training=True)
    >>> keras.ops.convert_to_numpy(layer.moving_variance).tolist()
    [1.0, 4.0]
    """

    def call(self, inputs, training=None, mask=None):
        if not self._fused(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        # As Keras' layer, compute in float32 whatever the dtype policy.
        x = ops.cast(inputs, "float32")
        channels = x.shape[-1]
        gamma = ops.cast(self.gamma, "float32") if self.scale else ops.ones((channels,), "float32")
        beta = ops.cast(self.beta, "float32") if self.center else ops.zeros((channels,), "float32")
        empty = ops.zeros((0,), "float32")
        outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=empty, variance=empty, epsilon=self.epsilon, data_format="NHWC", is_training=True
        )
        count = ops.cast(ops.size(x) // channels, "float32")
        variance = variance * ops.maximum(count - 1.0, 0.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        # Grappler fuses FusedBatchNormV3 and a following ReLU into one oneDNN
        # kernel whose ReLU turns NaN into 0: a network with NaN weights would
        # then train on with a finite loss. Adding the batch mean times 0
        # (NaN where a channel holds a NaN, as Keras' output) keeps them apart,
        # for 2-3% of the step (`benchmarks/train_step_profile.py`).
        outputs = outputs + 0.0 * tf.stop_gradient(mean)
        return ops.cast(outputs, self.compute_dtype)

    def _fused(self, inputs, training, mask):
        """Whether this call takes the fused kernel (see the class docstring)."""
        if keras.backend.backend() != "tensorflow" or not (training and self.trainable) or mask is not None:
            return False
        if self.renorm or self.synchronized or len(inputs.shape) != 4 or self.axis not in (-1, 3) or inputs.shape[-1] is None:
            return False
        import tensorflow as tf

        return not tf.config.list_logical_devices("GPU")
