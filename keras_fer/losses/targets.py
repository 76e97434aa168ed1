from keras import ops


def to_distribution(y_true, y_pred):
    """`y_true` as per-class target distributions shaped like `y_pred`.

    Integer labels `(batch,)` or `(batch, 1)` become one-hot vectors;
    distributions `(batch, num_classes)` (one-hot, soft, mixed) pass through.
    A label outside `[0, num_classes)` or with a fraction becomes a row of
    NaN, so its loss is NaN (as Keras' sparse cross-entropy gives on JAX)
    rather than 0: a model with 7 outputs and RAF-DB's labels 1-7 would
    otherwise never learn class 7, silently.
    """
    num_classes = y_pred.shape[-1]
    rank, predicted_rank = len(y_true.shape), len(y_pred.shape)
    if y_true.shape[0] is not None and y_pred.shape[0] is not None and y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"Targets and predictions must have the same batch size. Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
    if rank == predicted_rank and y_true.shape[-1] == num_classes:
        return ops.cast(y_true, y_pred.dtype)
    if rank == predicted_rank and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    elif rank != predicted_rank - 1:
        raise ValueError(
            "Targets must be integer labels (batch,) or (batch, 1), or "
            f"distributions (batch, {num_classes}). Received: y_true.shape="
            f"{y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    labels = ops.cast(y_true, "float32")
    valid = ops.logical_and(ops.logical_and(labels >= 0, labels < num_classes), labels == ops.floor(labels))
    one_hot = ops.one_hot(ops.cast(labels, "int32"), num_classes, dtype=y_pred.dtype)
    return ops.where(ops.expand_dims(valid, -1), one_hot, ops.cast(float("nan"), y_pred.dtype))
