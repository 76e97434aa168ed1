import keras
from keras import ops

from keras_fer.layers import UncertaintyMixing
from keras_fer.losses.targets import to_distribution

SPARSE_LOSSES = ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")  # they take class indices


@keras.saving.register_keras_serializable(package="keras_fer")
class FERModel(keras.Model):
    """A functional Keras model that trains `UncertaintyMixing` with `fit`.

    Build it like any functional model, `FERModel(inputs, outputs)`. It
    behaves as `keras.Model` except in one place: when the graph holds an
    `UncertaintyMixing` layer, the loss of a training batch is RUL's add-up
    loss `0.5 * L(y_i, p_i) + 0.5 * L(y_perm(i), p_i)`, where `perm` is the
    pairing the layer mixed the features with in the same forward pass. It
    works with any Keras loss `L`, sparse or not; for losses linear in the
    target (cross-entropy, `ClassBalancedLoss`) it equals `L` against the
    mixed target `0.5 * y_i + 0.5 * y_perm(i)`, and with `ClassBalancedLoss`
    each half is weighted by its own label's class weight. A sample weight
    goes with its label: the second half takes the partner's. So one model
    serves both uses:

    - `model.fit(images, labels)`: compiled with `"sparse_categorical_crossentropy"`
      labels are class indices; with any other loss they may be integers
      (made one-hot), one-hot or soft distributions. The forward pass mixes
      features and the loss sees both labels of each mixed sample.
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
            raise ValueError(f"`FERModel` supports one `UncertaintyMixing` layer. Received: {[layer.name for layer in mixings]}")
        return mixings[0] if mixings else None

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mixing = self.mixing_layer
        if y is None or mixing is None:
            return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if not _takes_class_indices(self.loss):
            y = to_distribution(y, y_pred)
        partner = mixing.partner if training else None
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if partner is None:
            return loss
        partner_weight = None if sample_weight is None else ops.take(sample_weight, partner, axis=0)
        partner_loss = super().compute_loss(x=x, y=ops.take(y, partner, axis=0), y_pred=y_pred, sample_weight=partner_weight, training=training)
        return 0.5 * loss + 0.5 * partner_loss


def _takes_class_indices(loss):
    """Whether `loss` (a compiled loss: name, function or `Loss`) is one of Keras' sparse losses."""
    name = loss if isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__)
    return name in SPARSE_LOSSES
