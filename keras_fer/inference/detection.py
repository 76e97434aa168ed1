"""Face detection with OpenCV's Haar cascade (shipped in `opencv-python-headless`)."""

import numpy as np


class HaarFaceDetector:
    """Frontal faces with OpenCV's `haarcascade_frontalface_default.xml`.

    Any object with `detect(rgb_image) -> [(x, y, width, height), ...]` can
    replace it in `keras_fer.Recognizer(detector=...)`.

    Args:
        scale_factor, min_neighbors: `cv2.CascadeClassifier.detectMultiScale`
            settings.
        min_size: smallest face side in pixels.
    """

    def __init__(self, scale_factor=1.1, min_neighbors=5, min_size=24):
        import cv2

        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV could not read its Haar cascade {path}; install opencv-python-headless<5.")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    def detect(self, image):
        """Boxes `(x, y, width, height)` of the faces in an RGB or gray uint8 image."""
        import cv2

        gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        boxes = self.cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(self.min_size, self.min_size)
        )
        return [tuple(int(v) for v in box) for box in boxes]
