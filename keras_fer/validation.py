"""The checks that arguments and config values share: integers and numbers that are not bools."""

import math

import numpy as np


def is_int(value, minimum=None, numpy=False):
    """Whether `value` is an integer (never a bool), at least `minimum` when given.

    Python ints only, unless `numpy` also admits NumPy integers (for values
    that are not stored in a layer's or a config's serialized form).

    Example:

    >>> is_int(3, minimum=1), is_int(True), is_int(np.int64(2)), is_int(np.int64(2), numpy=True)
    (True, False, False, True)
    """
    kinds = (int, np.integer) if numpy else int
    return isinstance(value, kinds) and not isinstance(value, (bool, np.bool_)) and (minimum is None or value >= minimum)


def is_number(value, minimum=None, maximum=None):
    """Whether `value` is a finite int or float (never a bool) in `[minimum, maximum]` where given.

    Example:

    >>> is_number(0.5, 0, 1), is_number(False), is_number(float("nan")), is_number(2, maximum=1)
    (True, False, False, False)
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return math.isfinite(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


def is_odd_size(value):
    """Whether `value` is a positive odd int: the rule for convolution kernel sides such as CBAM's spatial kernel.

    Example:

    >>> is_odd_size(3), is_odd_size(4), is_odd_size(-1)
    (True, False, False)
    """
    return is_int(value, minimum=1) and value % 2 == 1
