import keras

from keras_fer.layers import UncertaintyMixing
from keras_fer.losses.targets import to_distribution

SPARSE_LOSSES = ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")


@keras.saving.register_keras_serializable(package="keras_fer")
class FERModel(keras.Model):
    """A functional Keras model that trains `UncertaintyMixing` with `fit`.

    Build it like any functional model, `FERModel(inputs, outputs)`. It
    behaves as `keras.Model` except in one place: when the graph holds an
    `UncertaintyMixing` layer, `compute_loss` replaces the targets of a
    training batch with the mixed targets `0.5 * y_i + 0.5 * y_perm(i)` that
    match the features the layer mixed in the same forward pass. So one model
    serves both uses:

    - `model.fit(images, labels)`: labels may be integers, one-hot or soft
      distributions; the forward pass mixes features, the loss sees the
      matching mixed targets (compile with a loss that accepts distributions,
      such as `ClassBalancedLoss` or `"categorical_crossentropy"`).
      Training metrics compare the mixed predictions with the original labels.
    - `model.predict(images)`, `evaluate`, `export`: no mixing; `predict`
      needs no labels and returns class probabilities, `evaluate` takes the
      same label formats as `fit`.

    Example:

    >>> import numpy as np
    >>> from keras_fer.models import resnet18
    >>> model = resnet18(input_shape=(16, 16, 1), num_classes=3, width=4,
    ...                  blocks_per_stage=(1, 1), stem="small", feature_dim=8)
    >>> model.compile("adam", "categorical_crossentropy")
    >>> history = model.fit(np.zeros((4, 16, 16, 1)), np.array([0, 1, 2, 0]),
    ...                     verbose=0)
    >>> model.predict(np.zeros((2, 16, 16, 1)), verbose=0).shape
    (2, 3)
    """

    @property
    def mixing_layer(self):
        """The model's `UncertaintyMixing` layer, or `None`."""
        mixings = [layer for layer in self._flatten_layers() if isinstance(layer, UncertaintyMixing)]
        if len(mixings) > 1:
            raise ValueError(
                "`FERModel` supports one `UncertaintyMixing` layer. "
                f"Received: {[layer.name for layer in mixings]}"
            )
        return mixings[0] if mixings else None

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mixing = self.mixing_layer
        if y is not None and mixing is not None:
            _check_loss_takes_distributions(self.loss)
            y = to_distribution(y, y_pred)
            if training:
                y = mixing.mix_targets(y)
        return super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )


def _check_loss_takes_distributions(loss):
    name = loss if isinstance(loss, str) else type(loss).__name__
    if name in SPARSE_LOSSES:
        raise ValueError(
            "A model with `UncertaintyMixing` trains on mixed target "
            "distributions, which sparse losses cannot take. Use "
            "`keras_fer.losses.ClassBalancedLoss` or "
            f"'categorical_crossentropy'. Received: loss={loss!r}"
        )
