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
        ValueError,
        match=r"needs \[.*\]\. The weights were trained with spatial_kernel_size=3: leave that unset, set so, or skip .*\(.*model\.skip_mismatch\)",
    ):
        from_preset("fer2013", weights="fer2013", spatial_kernel_size=7)
    with pytest.raises(
        ValueError, match=r"trained with width=32, uncertainty_mixing=True: leave those unset, set so, or skip the layers that differ"
    ):
        from_preset("fer2013", weights="fer2013", width=16, uncertainty_mixing=False, dropout=0.2)


def test_skip_mismatch_starts_only_the_layers_of_another_shape_from_new_weights():
    # The mixing heads take the flattened last feature map: at 64x64 their first dense is 8x8x64 wide, at 48x48 6x6x64.
    with pytest.warns(UserWarning, match=r"weights 'fer2013': 2 layers of another shape start from new weights: mu_dense, log_var_dense$"):
        model = from_preset("fer2013", weights="fer2013", input_shape=(64, 64, 1), skip_mismatch=True, seed=3)
    shipped = from_preset("fer2013", weights="fer2013")
    for layer in model.layers:
        if layer.name not in ("mu_dense", "log_var_dense"):
            for weight, theirs in zip(layer.weights, shipped.get_layer(layer.name).weights):
                np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), keras.ops.convert_to_numpy(theirs), err_msg=weight.path)
    # The skipped heads hold new Glorot-uniform kernels of the 64x64 shape: within sqrt(6 / (fan_in + fan_out)), std limit / sqrt(3).
    kernel = keras.ops.convert_to_numpy(model.get_layer("mu_dense").kernel)
    limit = np.sqrt(6 / (8 * 8 * 64 + 64))
    assert kernel.shape == (8 * 8 * 64, 64) and np.abs(kernel).max() <= limit
    assert kernel.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)
    # Another feature size: the heads, their batch norms and the classifier keep their new weights, and copy_weights names them.
    heads = ["mu_dense", "log_var_dense", "mu_bn", "log_var_bn", "classifier"]
    with pytest.warns(UserWarning, match=f"^the source model: 5 layers of another shape start from new weights: {', '.join(heads)}$"):
        assert copy_weights(tiny_resnet(), tiny_resnet(num_classes=4, feature_dim=4), skip_mismatch=True) == heads
    # Layers that one side lacks: the model's start from new weights, the weights' go unused, and the warning names them.
    plain, with_attention = tiny_resnet(attention=None), tiny_resnet(seed=2)
    with pytest.warns(UserWarning, match=r"^the plain model: 2 layers they lack start from new weights: stage1_block1_cbam, stage2_block1_cbam$"):
        assert copy_weights(plain, with_attention, "the plain model", skip_mismatch=True) == ["stage1_block1_cbam", "stage2_block1_cbam"]
    target = tiny_resnet(attention=None)
    with pytest.warns(UserWarning, match=r"^cbam: 2 of their layers are not in the model and go unused: stage1_block1_cbam, stage2_block1_cbam$"):
        assert copy_weights(with_attention, target, "cbam", skip_mismatch=True) == []
    for name in ("stem_conv", "mu_dense", "classifier"):
        np.testing.assert_array_equal(target.get_layer(name).get_weights()[0], with_attention.get_layer(name).get_weights()[0])


ARCHITECTURE_CHANGES = {
    "no-mixing": ({"uncertainty_mixing": False}, r"layer 'classifier' holds \[\(8, 3\), \(3,\)\], the model needs \[\(16, 3\), \(3,\)\]"),
    "no-attention": ({"attention": None}, "they hold a layer 'stage1_block1_cbam' that the model lacks"),
    "fewer-stages": ({"blocks_per_stage": (1,)}, r"layer 'mu_input_bn' holds \[\(16,\), \(16,\)\], the model needs \[\(8,\), \(8,\)\]"),
    "more-blocks": ({"blocks_per_stage": (1, 2)}, "they have no layer 'stage2_block2_conv1_conv'"),
}


@pytest.mark.parametrize("change", sorted(ARCHITECTURE_CHANGES))
def test_weights_of_another_architecture_are_errors_naming_the_first_layer_that_differs(change, tmp_path):
    tiny_resnet().save(tmp_path / "source.keras")
    overrides, message = ARCHITECTURE_CHANGES[change]
    with pytest.raises(ValueError, match=f"^the saved weights do not fit resnet18: {message}\\.$"):
        copy_weights(keras.models.load_model(tmp_path / "source.keras"), tiny_resnet(**overrides), "the saved weights")


def test_weights_of_another_number_of_classes_only_get_a_new_classifier(tmp_path):
    tiny_resnet().save(tmp_path / "source.keras")
    source, target = keras.models.load_model(tmp_path / "source.keras"), tiny_resnet(num_classes=5)
    assert copy_weights(source, target, "the saved weights") == ["classifier"]
    assert target.get_layer("classifier").kernel.shape == (8, 5)
    for layer in target.layers:
        if layer.weights and layer.name != "classifier":
            for mine, theirs in zip(layer.get_weights(), source.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(mine, theirs)


def test_shipped_weights_refuse_overrides_that_change_the_architecture():
    # They built a model silently, blocks or classifier left random: 0.251 (no attention), 0.204 (fewer blocks) and 0.087 (no mixing)
    # accuracy on FER2013 faces against 0.677 as shipped.
    with pytest.raises(
        ValueError,
        match=r"^weights 'fer2013' do not fit resnet18_fer2013: they hold a layer 'stage1_block1_cbam' that the model lacks\. "
        r"The weights were trained with attention='cbam', blocks_per_stage=\(2, 2, 2, 2\): leave those unset",
    ):
        from_preset("fer2013", weights="fer2013", num_classes=8, attention=None, blocks_per_stage=(1, 1, 1, 1))


def test_a_config_that_changes_the_architecture_of_shipped_weights_is_an_error_naming_the_setting():
    from keras_fer.training import load_config
    from keras_fer.training.run import build_model

    config = load_config("fer2013", ["model.weights=fer2013", "model.uncertainty_mixing=false"])
    with pytest.raises(
        ValueError, match=r"^model.weights: weights 'fer2013' do not fit .* 'classifier' .* trained with uncertainty_mixing=True: leave that unset"
    ):
        build_model(config.model, 7, 0)


def test_model_skip_mismatch_in_a_config_loads_a_weights_file_of_another_input_size(tmp_path):
    from keras_fer.training import load_config
    from keras_fer.training.run import build_model

    source = from_preset("tiny", num_classes=7)  # 32x32
    source.save_weights(tmp_path / "tiny.weights.h5")
    settings = ["model.input_shape=[40, 40, 1]", f"model.weights={tmp_path / 'tiny.weights.h5'}"]
    with pytest.raises(ValueError, match=r"model.weights: .* does not fit the resnet18_tiny model of this config: .*mu_dense"):
        build_model(load_config("synthetic", settings).model, 7, 0)
    with pytest.warns(UserWarning, match="mu_dense"):
        model = build_model(load_config("synthetic", [*settings, "model.skip_mismatch=true"]).model, 7, 0)
    np.testing.assert_array_equal(model.get_layer("stem_conv").get_weights()[0], source.get_layer("stem_conv").get_weights()[0])
    assert model.get_layer("mu_dense").kernel.shape[0] != source.get_layer("mu_dense").kernel.shape[0]


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
