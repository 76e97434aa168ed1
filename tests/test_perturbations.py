"""Robustness perturbations against hand-computed images."""

import numpy as np
import pytest

from keras_fer.data.perturbations import PERTURBATIONS, blur, brightness, contrast, framing, rotation


def grid(size=4, channels=1):
    return np.arange(size * size * channels, dtype="uint8").reshape(1, size, size, channels) * 7


def test_brightness_and_contrast_clip_to_the_pixel_range():
    faces = np.array([[[[0], [100], [250]]]], "uint8")
    assert brightness(faces, 10)[..., 0].tolist() == [[[10, 110, 255]]]
    assert brightness(faces, -50)[..., 0].tolist() == [[[0, 50, 200]]]
    # mean 116.67: 116.67 + 2 * (x - 116.67)
    assert contrast(faces, 2)[..., 0].tolist() == [[[0, 83, 255]]]
    assert contrast(faces, 0)[..., 0].tolist() == [[[117, 117, 117]]]


@pytest.mark.parametrize("channels", [1, 3])
def test_a_quarter_turn_is_numpys_rot90_and_no_change_is_identity(channels):
    faces = grid(4, channels)
    np.testing.assert_array_equal(rotation(faces, 90), np.rot90(faces, 1, axes=(1, 2)))
    for perturbation, neutral in [(rotation, 0), (framing, 1), (blur, 0), (brightness, 0), (contrast, 1)]:
        np.testing.assert_array_equal(perturbation(faces, neutral), faces)


def test_tight_framing_enlarges_the_centre_and_loose_framing_shrinks_it():
    face = np.zeros((1, 16, 16, 1), "uint8")
    face[:, 4:12, 4:12] = 200  # the central half
    tight = framing(face, 0.5)
    assert (tight[0, 2:14, 2:14] == 200).all()
    loose = framing(face, 2.0)
    bright = loose[0, ..., 0] > 100
    assert 12 <= bright.sum() <= 20 and bright[6:10, 6:10].all()  # about a 4x4 centre: a quarter of the side


def test_blur_spreads_a_point_and_keeps_its_light():
    face = np.zeros((1, 15, 15, 1), "uint8")
    face[0, 7, 7] = 255
    blurred = blur(face, 1.5)[0, ..., 0].astype(int)
    assert blurred[7, 7] < 255 and blurred[7, 8] > 0 and blurred[0, 0] == 0
    assert abs(blurred.sum() - 255) < 20
    assert np.abs(blurred - blurred.T).max() <= 1  # PIL approximates the Gaussian with box blurs


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_bad_amounts_and_faces_are_errors_naming_them(name):
    with pytest.raises(ValueError, match=r"must be a number in \[.*Received: \w+=nan"):
        PERTURBATIONS[name](grid(), float("nan"))
    with pytest.raises(ValueError, match=r"`faces` must be uint8 \(n, height, width, 1 or 3\). Received: float64 \(4, 4\)"):
        PERTURBATIONS[name](np.zeros((4, 4)), 1)
