import keras
from keras import ops

from keras_fer.validation import is_int


@keras.saving.register_keras_serializable(package="keras_fer")
class UncertaintyMixing(keras.layers.Layer):
    """Relative uncertainty mixing of per-sample features (RUL).

    Use it against label noise: in training, every sample `i` of the batch is
    paired with a partner `j = perm(i)` of a random permutation and its feature
    is replaced by `z_i = a_i * mu_i + (1 - a_i) * mu_j`, where the weight
    `a_i = u_i / (u_i + u_j)` compares the two samples' uncertainties
    `u = mean(exp(log_var))`. The sample that is more uncertain keeps more of
    its own feature, so its loss is attenuated, as in RUL's code. The loss is
    then taken against the mixed target `0.5 * y_i + 0.5 * y_j`, which
    `mix_targets()` returns for the pairing of the last training call. At
    inference the layer returns `mu` unchanged.

    The weights are computed as `sigmoid(log u_i - log u_j)` with
    `log u = logsumexp(log_var) - log(dim)` in float32, so they neither
    overflow nor lose precision under `mixed_float16`.

    `keras_fer.models.FERModel` calls `mix_targets()` in `compute_loss()`, so
    a model built with this layer trains with plain `model.fit(x, y)`.

    Reference:
    - [Zhang et al., Relative Uncertainty Learning for Facial Expression
        Recognition, NeurIPS 2021](
        https://proceedings.neurips.cc/paper/2021/hash/9332c513ef44b682e9347822c2e457ac-Abstract.html)

    Args:
        seed: optional int, seed of the random permutation.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: list `[mu, log_var]` of two tensors of shape `(batch, dim)`:
            the features and their per-dimension log variances.
        training: Python bool, whether to mix (`True`) or return `mu`.

    Returns:
        A tensor of shape `(batch, dim)`: mixed features in training, `mu`
        otherwise.

    Example:

    >>> mixing = UncertaintyMixing(seed=1)
    >>> mu = keras.random.normal((4, 8))
    >>> log_var = keras.random.normal((4, 8))
    >>> features = mixing([mu, log_var], training=True)
    >>> targets = mixing.mix_targets(keras.ops.eye(4))
    >>> tuple(features.shape), tuple(targets.shape)
    ((4, 8), (4, 4))
    """

    def __init__(self, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if seed is not None and not is_int(seed):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._partner = None

    def build(self, input_shape):
        pair = len(input_shape) == 2 and all(isinstance(shape, (list, tuple)) and len(shape) == 2 for shape in input_shape)
        if not pair or tuple(input_shape[0]) != tuple(input_shape[1]):
            raise ValueError(
                f"`UncertaintyMixing` expects `[mu, log_var]`, two tensors of the same shape (batch, dim). Received: input_shape={input_shape}"
            )

    def call(self, inputs, training=None):
        mu, log_var = inputs
        if not training:
            self._partner = None
            return mu
        batch_size = ops.shape(mu)[0]
        partner = keras.random.shuffle(ops.arange(batch_size), seed=self.seed_generator)
        weight = ops.cast(mixing_weights(log_var, partner)[:, None], mu.dtype)
        self._partner = partner
        return weight * mu + (1.0 - weight) * ops.take(mu, partner, axis=0)

    @property
    def partner(self):
        """Each sample's partner index `perm(i)` in the last training call, or `None` after an inference call."""
        return self._partner

    def mix_targets(self, targets):
        """Targets `0.5 * y_i + 0.5 * y_perm(i)` for the last training call.

        Args:
            targets: float tensor `(batch, num_classes)`, one-hot or soft.

        Returns:
            The mixed targets, same shape as `targets`.
        """
        if self._partner is None:
            raise RuntimeError(f"`{self.name}.mix_targets()` needs a pairing: call the layer with `training=True` first.")
        return 0.5 * targets + 0.5 * ops.take(targets, self._partner, axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def log_uncertainty(log_var):
    """`log(mean(exp(log_var), axis=-1))`, computed stably in float32."""
    log_var = ops.cast(log_var, "float32")
    dim = ops.cast(ops.shape(log_var)[-1], "float32")
    return ops.logsumexp(log_var, axis=-1) - ops.log(dim)


def mixing_weights(log_var, partner):
    """Weights `u_i / (u_i + u_partner(i))` of each sample's own feature."""
    log_u = log_uncertainty(log_var)
    return ops.sigmoid(log_u - ops.take(log_u, partner, axis=0))
