"""Presets with metadata, shipped weights, and fine-tuning from them."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from keras_fer.cli import main
from keras_fer.data.synthetic import make_faces
from keras_fer.models import PRESETS, WEIGHTS, copy_weights, from_preset, list_presets
from tests.testing import tiny_resnet


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_metadata_matches_the_built_model(name):
    model, metadata = from_preset(name), list_presets()[name]
    assert model.count_params() == metadata["parameters"]
    assert (None, *metadata["input_shape"]) == model.input_shape
    assert metadata["num_classes"] == model.output_shape[-1]
    assert metadata["description"]


def test_list_presets_names_the_shipped_weights():
    assert {name: metadata["weights"] for name, metadata in list_presets().items()} == {"paper": [], "fer2013": ["fer2013", "ferplus"], "tiny": []}
    assert all(weights.path.is_file() for weights in WEIGHTS.values())


@pytest.mark.parametrize("weights, classes", [("fer2013", 7), ("ferplus", 8)])
def test_shipped_weights_give_the_shipped_model(weights, classes):
    faces = make_faces(2, 48, seed=0).images.astype("float32")
    shipped = keras.models.load_model(WEIGHTS[weights].path)
    model = from_preset("fer2013", weights=weights)
    assert model.output_shape == (None, classes)
    np.testing.assert_allclose(model.predict(faces, verbose=0), shipped.predict(faces, verbose=0), atol=1e-5)


def test_other_classes_get_a_new_classifier_on_the_shipped_backbone():
    shipped = keras.models.load_model(WEIGHTS["fer2013"].path)
    model = from_preset("fer2013", weights="fer2013", num_classes=8)
    assert model.output_shape == (None, 8)
    for layer in model.layers:
        if layer.weights and layer.name != "classifier":
            for mine, theirs in zip(layer.get_weights(), shipped.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(mine, theirs)


def test_weights_that_do_not_fit_are_errors_naming_what():
    with pytest.raises(ValueError, match=r"Unknown weights for preset 'tiny'. Valid weights: \[\]. Received: weights='fer2013'"):
        from_preset("tiny", weights="fer2013")
    with pytest.raises(ValueError, match=r"preset 'fer2013'. Valid weights: \['fer2013', 'ferplus'\]. Received: weights='ferplus2'"):
        from_preset("fer2013", weights="ferplus2")
    with pytest.raises(
        ValueError, match=r"weights 'fer2013' do not fit resnet18_fer2013: layer 'stem_conv' holds \[\(3, 3, 1, 32\)\], the model needs"
    ):
        from_preset("fer2013", weights="fer2013", width=16)
    with pytest.raises(
        ValueError, match=r"the model needs \[.*\]\. The weights were trained with spatial_kernel_size=3: leave that unset, or set so\.$"
    ):
        from_preset("fer2013", weights="fer2013", spatial_kernel_size=7)
    with pytest.raises(ValueError, match=r"trained with width=32, uncertainty_mixing=True: leave those unset, or set so\.$"):
        from_preset("fer2013", weights="fer2013", width=16, uncertainty_mixing=False, dropout=0.2)


def test_copy_weights_between_same_named_layers():
    source, target = tiny_resnet(), tiny_resnet(seed=2, num_classes=4)
    copy_weights(source, target)
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    features = keras.Model(target.input, target.get_layer("mu_bn").output)
    source_features = keras.Model(source.input, source.get_layer("mu_bn").output)
    np.testing.assert_allclose(features(images), source_features(images), atol=1e-6)
    with pytest.raises(ValueError, match="have no layer 'stage1_block1_cbam'"):
        copy_weights(tiny_resnet(attention=None), tiny_resnet(), "the plain model")


def test_fine_tuning_the_shipped_model_on_a_folder_of_faces_is_one_command(tmp_path, capsys):
    faces = make_faces(2, 48, seed=0)
    for split in ("train", "val"):
        for index, (image, label) in enumerate(zip(faces.images, faces.labels)):
            folder = tmp_path / "faces" / split / faces.class_names[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[..., 0]).save(folder / f"{index}.png")
    arguments = ["train", "fer2013", "--data", str(tmp_path / "faces"), "--output", str(tmp_path / "run")]
    settings = ["data.dataset=folder", "model.weights=fer2013", "training.epochs=1", "training.batch_size=7", "training.jit_compile=false"]
    assert main([*arguments, *[item for setting in settings for item in ("--set", setting)]]) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["num_examples"] == 14
    tuned = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert tuned.get_layer("stage1_block1_cbam").spatial_conv.kernel.shape == (3, 3, 2, 1)
