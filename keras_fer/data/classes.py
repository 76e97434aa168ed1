"""The canonical expression vocabulary that every keras-fer loader maps onto."""

EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
EXPRESSIONS_WITH_CONTEMPT = EXPRESSIONS + ("contempt",)
