"""Optimizers with the learning-rate schedules of FER recipes."""

import keras

SCHEDULES = ("constant", "exponential", "cosine", "step")
OPTIMIZERS = ("adam", "adamw", "sgd")


def make_optimizer(
    name="adam",
    learning_rate=1e-3,
    weight_decay=0.0,
    momentum=0.9,
    schedule="constant",
    decay_rate=0.9,
    decay_epochs=1,
    warmup_epochs=0,
    epochs=1,
    steps_per_epoch=1,
    ema_momentum=None,
):
    """A Keras optimizer whose learning rate follows a per-epoch schedule.

    Schedules (all stepped per batch from the optimizer's iteration count,
    so a resumed run continues where it stopped):
    - `"constant"`: `learning_rate` throughout;
    - `"exponential"`: times `decay_rate` every `decay_epochs` epochs (RUL's
      recipe: 0.9 every epoch);
    - `"step"`: the same as a staircase, meant for `decay_rate=0.1`;
    - `"cosine"`: cosine decay to 0 over `epochs`.
    `warmup_epochs` > 0 ramps linearly from 0 first (cosine only).

    Keras 3 optimizers apply one learning rate to every variable, so RUL's
    10x learning rate for the classifier is not reproduced.

    Args:
        name: `"adam"`, `"adamw"` or `"sgd"` (Nesterov, `momentum`).
        learning_rate: the initial (peak) learning rate.
        weight_decay: decoupled weight decay (Keras applies it as AdamW does,
            for every optimizer), 0 for none.
        momentum: SGD momentum.
        schedule, decay_rate, decay_epochs, warmup_epochs: see above.
        epochs, steps_per_epoch: length of the training.
        ema_momentum: `None` for plain weights, or a float in `[0, 1]` to
            keep an exponential moving average of the weights (Keras'
            `use_ema`), `average = m * average + (1 - m) * weights` after
            every step: 0.999 averages over about the last 1,000 steps.
            `keras_fer.training.fit` validates and saves the averaged weights.

    Returns:
        A `keras.optimizers.Optimizer`.

    Example:

    >>> optimizer = make_optimizer(schedule="exponential", steps_per_epoch=10)
    >>> round(float(optimizer.learning_rate), 6)
    0.001
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}. Received: schedule={schedule!r}")
    if ema_momentum is not None and not 0.0 <= ema_momentum <= 1.0:
        raise ValueError(f"`ema_momentum` must be None or in [0, 1]. Received: ema_momentum={ema_momentum!r}")
    rate = _schedule(schedule, learning_rate, decay_rate, decay_epochs, warmup_epochs, epochs, steps_per_epoch)
    weight_decay = weight_decay or None
    ema = {"use_ema": ema_momentum is not None, "ema_momentum": 0.99 if ema_momentum is None else ema_momentum}
    if name == "adam":
        return keras.optimizers.Adam(rate, weight_decay=weight_decay, **ema)
    if name == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=weight_decay or 0.004, **ema)
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=momentum, nesterov=True, weight_decay=weight_decay, **ema)
    raise ValueError(f"`name` must be one of {OPTIMIZERS}. Received: name={name!r}")


def _schedule(schedule, learning_rate, decay_rate, decay_epochs, warmup_epochs, epochs, steps_per_epoch):
    if schedule == "constant":
        return learning_rate
    if schedule in ("exponential", "step"):
        return keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=decay_epochs * steps_per_epoch, decay_rate=decay_rate, staircase=True
        )
    warmup_steps = warmup_epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup_steps else learning_rate,
        decay_steps=max(epochs * steps_per_epoch - warmup_steps, 1),
        warmup_target=learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def shorten_schedule(optimizer, epochs, steps_per_epoch):
    """Makes `optimizer`'s cosine schedule end after `epochs` epochs of `steps_per_epoch` instead of the planned length.

    For a run that learns, after its first epoch, that fewer epochs fit its
    time (`training.time_limit`): the decay then still reaches 0 at the
    run's last step. The constant, exponential and step schedules do not
    depend on the run's length and are left as they are.

    Returns:
        Whether the schedule changed: a compiled train step holds the old
        length as a constant, so it must be traced again
        (`model.make_train_function(force=True)`).

    Example:

    >>> optimizer = make_optimizer(schedule="cosine", epochs=10, steps_per_epoch=5)
    >>> _ = optimizer.iterations.assign(10)  # after 2 epochs: 0.9 of the peak on the 10-epoch cosine
    >>> round(float(optimizer.learning_rate), 6)
    0.000905
    >>> shorten_schedule(optimizer, 4, 5)  # halfway through 4 epochs
    True
    >>> round(float(optimizer.learning_rate), 6)
    0.0005
    """
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's
    # Keras 3 keeps the schedule an optimizer was made with in `_learning_rate` (no public accessor).
    schedule = getattr(optimizer, "_learning_rate", None)
    if not isinstance(schedule, keras.optimizers.schedules.CosineDecay):
        return False
    decay_steps = max(epochs * steps_per_epoch - schedule.warmup_steps, 1)
    changed = decay_steps != schedule.decay_steps
    schedule.decay_steps = decay_steps
    return changed
