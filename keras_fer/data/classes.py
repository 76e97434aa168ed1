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
