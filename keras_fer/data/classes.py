"""The canonical expression vocabulary, and each dataset's native label order.

Every loader maps its dataset's labels onto `EXPRESSIONS` (7 classes, the
order of FER2013) or `EXPRESSIONS_WITH_CONTEMPT` (8 classes) through the
native orders below, so the same class has the same index everywhere.
"""

EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
EXPRESSIONS_WITH_CONTEMPT = EXPRESSIONS + ("contempt",)

FER2013_ORDER = EXPRESSIONS
FERPLUS_VOTE_ORDER = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt", "unknown", "NF")
RAFDB_ORDER = ("surprise", "fear", "disgust", "happy", "sad", "angry", "neutral")
AFFECTNET_ORDER = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry", "contempt", "none", "uncertain", "no face")


def class_names_for(num_classes):
    """The canonical names of a model's `num_classes` outputs (7, 8, or generic)."""
    for names in (EXPRESSIONS, EXPRESSIONS_WITH_CONTEMPT):
        if len(names) == num_classes:
            return names
    return tuple(f"class_{index}" for index in range(num_classes))


def to_basic_classes(probabilities, class_names):
    """Probabilities over `EXPRESSIONS` from probabilities over `class_names`, which must hold all 7.

    For a model with more classes (the 8 with contempt): the other classes'
    probabilities are dropped and each row is renormalised, so it is the
    model's distribution given that the face shows one of the 7 basic
    expressions.

    Example:

    >>> import numpy as np
    >>> to_basic_classes(np.array([[0.1, 0, 0, 0.4, 0, 0, 0, 0.5]]), EXPRESSIONS_WITH_CONTEMPT).astype(float).round(2).tolist()
    [[0.2, 0.0, 0.0, 0.8, 0.0, 0.0, 0.0]]
    """
    import numpy as np

    missing = [name for name in EXPRESSIONS if name not in class_names]
    if missing:
        raise ValueError(f"The model's classes lack {missing}: they cannot be mapped to the 7 basic expressions. Received: {tuple(class_names)}")
    probabilities = np.asarray(probabilities, "float32")[:, [list(class_names).index(name) for name in EXPRESSIONS]]
    return probabilities / np.maximum(probabilities.sum(axis=1, keepdims=True), np.finfo("float32").tiny)
