import keras
from keras import ops

from keras_fer.layers.batch_normalization import BatchNormalization
from keras_fer.validation import is_int, is_odd_size


@keras.saving.register_keras_serializable(package="keras_fer")
class CBAMBlock(keras.layers.Layer):
    """Convolutional Block Attention Module: channel, then spatial attention.

    Re-weights a channels-last feature map first per channel, then per
    position, and returns a tensor of the same shape. Place it after the last
    conv + batch norm of a residual block, before the residual addition.

    Channel attention passes the global average pool and the global max pool
    of the input through one shared MLP (`channels -> hidden -> channels`, ReLU
    between, `hidden = max(channels // reduction_ratio, 1)`), sums the two,
    and multiplies the sigmoid of the sum onto each channel. Spatial attention
    concatenates the mean and max over channels, applies a
    `spatial_kernel_size` convolution to one channel (no bias) and batch
    normalization, and multiplies the sigmoid onto each position.

    Reference:
    - [Woo et al., CBAM: Convolutional Block Attention Module, ECCV 2018](
        https://arxiv.org/abs/1807.06521)

    Args:
        reduction_ratio: positive int, how much narrower the hidden layer of
            the channel MLP is than the input. Defaults to `16`.
        spatial_kernel_size: positive odd int, side of the spatial attention
            convolution. Defaults to `7`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: 4-D tensor `(batch, height, width, channels)`.
        training: Python bool, whether the batch normalization of the spatial
            attention uses batch statistics.

    Returns:
        A tensor with the shape and dtype of `inputs`.

    Example:

    >>> x = keras.random.normal((2, 16, 16, 32))
    >>> y = CBAMBlock(reduction_ratio=8)(x)
    >>> tuple(y.shape)
    (2, 16, 16, 32)
    """

    def __init__(self, reduction_ratio: int = 16, spatial_kernel_size: int = 7, **kwargs) -> None:
        super().__init__(**kwargs)
        if not is_int(reduction_ratio, minimum=1):
            raise ValueError(f"`reduction_ratio` must be a positive integer. Received: reduction_ratio={reduction_ratio}")
        if not is_odd_size(spatial_kernel_size):
            raise ValueError(f"`spatial_kernel_size` must be a positive odd integer. Received: spatial_kernel_size={spatial_kernel_size}")
        self.reduction_ratio = reduction_ratio
        self.spatial_kernel_size = spatial_kernel_size

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"`CBAMBlock` expects a 4-D channels-last input with a known number of channels. Received: input_shape={input_shape}")
        channels = input_shape[-1]
        hidden = max(channels // self.reduction_ratio, 1)
        self.channel_hidden = keras.layers.Dense(hidden, activation="relu", dtype=self.dtype_policy, name="channel_hidden")
        self.channel_output = keras.layers.Dense(channels, dtype=self.dtype_policy, name="channel_output")
        self.spatial_conv = keras.layers.Conv2D(
            1,
            self.spatial_kernel_size,
            padding="same",
            use_bias=False,
            dtype=self.dtype_policy,
            name="spatial_conv",
        )
        self.spatial_norm = BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=self.dtype_policy, name="spatial_norm")
        self.channel_hidden.build((None, channels))
        self.channel_output.build((None, hidden))
        self.spatial_conv.build((None, None, None, 2))
        self.spatial_norm.build((None, None, None, 1))

    def call(self, inputs, training=None):
        x = inputs * self._channel_attention(inputs)
        return x * self._spatial_attention(x, training=training)

    def spatial_attention(self, inputs):
        """The map `(batch, height, width, 1)` in `[0, 1]` that the block multiplies onto `inputs` at inference."""
        return self._spatial_attention(inputs * self._channel_attention(inputs), training=False)

    def _channel_attention(self, inputs):
        average = ops.mean(inputs, axis=(1, 2))
        maximum = ops.max(inputs, axis=(1, 2))
        logits = self._channel_mlp(average) + self._channel_mlp(maximum)
        return ops.expand_dims(ops.expand_dims(ops.sigmoid(logits), 1), 1)

    def _channel_mlp(self, pooled):
        return self.channel_output(self.channel_hidden(pooled))

    def _spatial_attention(self, inputs, training=None):
        kernel = ops.cast(self.spatial_conv.kernel, inputs.dtype)
        average = ops.mean(inputs, axis=-1, keepdims=True)
        maximum = ops.max(inputs, axis=-1, keepdims=True)
        if training:
            # The paper's conv over concat([mean, max]) along channels: one
            # conv and its gradients, 2% of the `fer2013` step faster than two.
            logits = ops.conv(ops.concatenate([average, maximum], axis=-1), kernel, padding="same")
        else:
            # At inference, the sum of one conv per pooled map (the same
            # kernel, split). Same result; but in an int8 TFLite model
            # CONCATENATION and REDUCE_MAX must share one scale with their
            # input, and the converter gave the channel-attended features the
            # narrow range of the pooled maps: 19% of them were clipped and
            # int8 top-1 agreement with Keras fell to 95.9% on FER2013 (97.8%
            # with this form).
            logits = ops.conv(average, kernel[:, :, :1], padding="same") + ops.conv(maximum, kernel[:, :, 1:], padding="same")
        return ops.sigmoid(self.spatial_norm(logits, training=training))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "reduction_ratio": self.reduction_ratio,
            "spatial_kernel_size": self.spatial_kernel_size,
        }
