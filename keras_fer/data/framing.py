"""Where the face lies in a training crop: the framing that detection and alignment reproduce.

`FER2013_CROP` is the one definition of FER2013's framing, shared by
`Recognizer.analyze`, `keras-fer predict`, `explain`, `stream` and the
metadata of exported models. It was measured by running
`keras_fer.inference.BlazeFaceDetector("short")` on the 3,579 FER2013
PublicTest faces (each upscaled to 192 px on a gray canvas; 3,577 found):
medians of where the eyes and the detector's box lie in FER2013's own
crops. FER2013's faces are not aligned themselves: the line between their
eyes tilts by -14.6 to +11.8 degrees (10th to 90th percentile).
"""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FaceCrop:
    """Where a face lies in a square training crop, as fractions of the crop's side.

    Attributes:
        eye_distance: distance between the eye centres.
        eye_center: `(x, y)` of the midpoint between the eyes.
        box_side: side of BlazeFace's box around the face.
        box_center: `(x, y)` of the centre of that box.
    """

    eye_distance: float
    eye_center: tuple
    box_side: float
    box_center: tuple

    def as_dict(self):
        return asdict(self)


FER2013_CROP = FaceCrop(eye_distance=0.367, eye_center=(0.496, 0.396), box_side=0.859, box_center=(0.5, 0.586))
