import numpy as np
import pytest
from PIL import Image

from keras_fer import Recognizer
from keras_fer.inference.explain import Explainer, explanation_image, overlay
from tests.test_cbam_block import numpy_cbam_parts, randomise_weights
from tests.testing import BoxDetector, random_images, tiny_resnet


def numerical_gradcam(explainer, features, eps=1e-2):
    """Grad-CAM with the class-score gradient taken by central differences."""
    features = np.asarray(features, "float64")
    cams = []
    for sample in features:
        scores, probabilities = (np.asarray(out) for out in explainer.head(sample[None].astype("float32")))
        predicted = int(np.argmax(probabilities[0]))
        basis = np.eye(sample.size).reshape(sample.size, *sample.shape) * eps
        up = np.asarray(explainer.head((sample + basis).astype("float32"))[0])[:, predicted]
        down = np.asarray(explainer.head((sample - basis).astype("float32"))[0])[:, predicted]
        gradient = ((up - down) / (2 * eps)).reshape(sample.shape)
        cam = np.maximum((sample * gradient.mean(axis=(0, 1))).sum(-1), 0)
        cams.append(cam / cam.max())
    return np.stack(cams)


def test_gradcam_matches_a_finite_difference_reference():
    model = tiny_resnet()
    explainer = Explainer(model)
    images = random_images(2)
    probabilities, attention, gradcam = explainer(images)
    np.testing.assert_allclose(probabilities, model.predict(images, verbose=0), atol=1e-5)
    features = explainer.body(images)[0]
    assert gradcam.shape == (2, 8, 8) and attention.shape == (2, 8, 8)
    np.testing.assert_allclose(gradcam, numerical_gradcam(explainer, features), atol=2e-3)


def test_attention_is_the_last_cbam_map():
    model = tiny_resnet()
    cbam = model.get_layer("stage2_block1_cbam")
    randomise_weights(cbam)
    explainer = Explainer(model)
    images = random_images(2, seed=3)
    _, attention, _ = explainer(images)
    block_input = np.asarray(explainer.body(images)[1], "float64")
    np.testing.assert_allclose(attention, numpy_cbam_parts(block_input, cbam, False)[1][..., 0], atol=1e-5)
    assert Explainer(tiny_resnet(attention=None))(images)[1] is None


def test_recognizer_explain_gives_maps_at_the_crop_size(tmp_path):
    tiny_resnet(input_shape=(32, 32, 1), num_classes=7).save(tmp_path / "m.keras")
    photo = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype="uint8")
    recognizer = Recognizer.from_file(tmp_path / "m.keras", detector=BoxDetector([(100, 20, 60, 60), (10, 30, 40, 40)]))
    faces = recognizer.explain(photo)
    analyzed = recognizer.analyze(photo)
    assert [face["box"] for face in faces] == [face["box"] for face in analyzed] == [(10, 30, 40, 40), (100, 20, 60, 60)]
    for explained, face in zip(faces, analyzed):
        assert explained["scores"] == pytest.approx(face["scores"], abs=1e-4) and explained["label"] == face["label"]
    assert faces[1]["face"].shape == (72, 72, 3) and faces[1]["gradcam"].shape == faces[1]["attention"].shape == (72, 72)
    recognizer.detector = BoxDetector([])  # boxes given: the detector is not asked
    given = recognizer.explain(photo, boxes=[(100, 20, 60, 60), (10, 30, 40, 40)])
    assert [face["box"] for face in given] == [(10, 30, 40, 40), (100, 20, 60, 60)]
    np.testing.assert_allclose(given[1]["gradcam"], faces[1]["gradcam"], atol=1e-6)
    assert recognizer.explain(photo, boxes=[(-50, -50, 20, 20), (200, 0, 10, 10)]) == []  # no pixel in the photo: no face
    assert 0 <= faces[1]["gradcam"].min() and faces[1]["gradcam"].max() <= 1
    strip = explanation_image(faces[0], size=64)
    assert strip.size == (192, 82)
    blended = overlay(np.zeros((10, 10, 3), "uint8"), np.eye(10))
    assert blended.dtype == "uint8" and blended[0, 0].tolist() != blended[0, 1].tolist()


def test_explain_needs_a_keras_model(tmp_path):
    from keras_fer.inference.classifiers import Classifier

    classifier = Classifier(lambda faces: None, (32, 32, 1), ["a", "b"], tmp_path / "m.tflite")
    with pytest.raises(ValueError, match="Explanations need a .keras model; .*m.tflite is not one"):
        Recognizer(classifier, detector=BoxDetector([])).explain(Image.new("RGB", (40, 40)))
