from keras import ops


def to_distribution(y_true, y_pred):
    """`y_true` as per-class target distributions shaped like `y_pred`.

    Integer labels `(batch,)` or `(batch, 1)` become one-hot vectors;
    distributions `(batch, num_classes)` (one-hot, soft, mixed) pass through.
    """
    num_classes = y_pred.shape[-1]
    rank, predicted_rank = len(y_true.shape), len(y_pred.shape)
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
    return ops.one_hot(ops.cast(y_true, "int32"), num_classes, dtype=y_pred.dtype)
