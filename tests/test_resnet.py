import re
import runpy
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_fer.layers import CBAMBlock, PhiloxDropout
from keras_fer.losses import ClassBalancedLoss
from keras_fer.losses.class_balanced_loss import class_balanced_weights
from keras_fer.models import PRESETS, FERModel, from_preset, resnet18
from tests.testing import fit_with_finite_loss, mixing_partner, numpy_categorical_crossentropy, random_images, run_model_saving_test, tiny_resnet

LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1])


def trainable_parameters(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def test_plain_imagenet_resnet18_has_torchvision_parameter_count():
    model = resnet18(input_shape=(224, 224, 3), num_classes=1000, attention=None, uncertainty_mixing=False, stem="imagenet")
    assert trainable_parameters(model) == 11_689_512


def test_cbam_adds_its_parameters_per_block():
    plain = tiny_resnet(attention=None)
    with_cbam = tiny_resnet(attention="cbam")
    per_block = [(c * 1 + 1) + (1 * c + c) + 7 * 7 * 2 + 2 for c in (8, 16)]
    assert trainable_parameters(with_cbam) - trainable_parameters(plain) == sum(per_block)


def test_spatial_kernel_size_reaches_every_cbam_block():
    model = tiny_resnet(spatial_kernel_size=3)
    blocks = [layer for layer in model.layers if isinstance(layer, CBAMBlock)]
    assert len(blocks) == 2
    assert all(block.spatial_conv.kernel.shape == (3, 3, 2, 1) for block in blocks)
    # Each block's spatial conv loses (7 * 7 - 3 * 3) * 2 weights.
    assert trainable_parameters(tiny_resnet()) - trainable_parameters(model) == 2 * 40 * 2


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_build_with_their_input_shape(name):
    model = from_preset(name)
    assert model.input_shape == (None, *PRESETS[name].arguments["input_shape"])
    assert model.output_shape == (None, 7)
    assert isinstance(model, FERModel)


def test_preset_overrides_and_unknown_preset():
    assert from_preset("tiny", num_classes=8).output_shape == (None, 8)
    with pytest.raises(ValueError, match="Valid presets: \\['fer2013', 'paper', 'tiny'\\]"):
        from_preset("huge")
    with pytest.raises(ValueError, match=re.escape("Unknown preset. Valid presets: ['fer2013', 'paper', 'tiny']. Received: name=['tiny']")):
        from_preset(["tiny"])
    with pytest.raises(ValueError, match=re.escape("`skip_mismatch` must be a bool. Received: skip_mismatch='yes'")):
        from_preset("tiny", skip_mismatch="yes")
    with pytest.raises(ValueError, match=re.escape("`**overrides` must be `resnet18` arguments: ['attention', ") + ".* Received: \\['widht'\\]$"):
        from_preset("tiny", widht=8)


@pytest.mark.parametrize("uncertainty_mixing", [True, False])
def test_every_dropout_draws_with_philox(uncertainty_mixing):
    model = tiny_resnet(uncertainty_mixing=uncertainty_mixing)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(dropouts) == (2 if uncertainty_mixing else 1)
    assert all(isinstance(layer, PhiloxDropout) for layer in dropouts)


def test_stems_downsample_as_specified():
    small = tiny_resnet(stem="small")
    compact = tiny_resnet(stem="compact")
    imagenet = tiny_resnet(stem="imagenet", input_shape=(32, 32, 3))
    assert small.get_layer("stem_relu").output.shape[1:3] == (16, 16)
    assert compact.get_layer("stem_relu").output.shape[1:3] == (8, 8)
    assert imagenet.get_layer("stem_pool").output.shape[1:3] == (8, 8)


def test_internal_size_resizes_the_input_before_everything_else(tmp_path):
    arguments = {"stem": "compact", "width": 8, "blocks_per_stage": (1, 1, 1, 1), "attention": None, "uncertainty_mixing": False, "num_classes": 3}
    model = resnet18(input_shape=(24, 24, 1), internal_size=(32, 32), seed=0, **arguments)
    plain = resnet18(input_shape=(32, 32, 1), seed=0, **arguments)
    plain.set_weights(model.get_weights())
    images = np.random.default_rng(0).integers(0, 256, (2, 24, 24, 1)).astype("float32")
    upsampled = keras.ops.convert_to_numpy(keras.ops.image.resize(images, (32, 32), interpolation="bilinear"))
    assert model.input_shape == (None, 24, 24, 1) and model.get_layer("internal_resize").output.shape == (None, 32, 32, 1)
    np.testing.assert_allclose(model.predict(images, verbose=0), plain.predict(upsampled, verbose=0), atol=1e-6)
    model.save(tmp_path / "resized.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "resized.keras").predict(images, verbose=0), model.predict(images, verbose=0))
    for wrong in ((64,), 64, (16, 32), "64"):
        with pytest.raises(
            ValueError, match=f"integers no smaller than the input's \\(24, 24\\) .* Received: internal_size={re.escape(repr(wrong))}$"
        ):
            resnet18(input_shape=(24, 24, 1), internal_size=wrong, **arguments)


BAD_ARGUMENTS = [
    ("input_shape", 16, "(height, width, channels): positive integers, with 1 or 3 channels"),
    ("input_shape", (0, 16, 1), "(height, width, channels): positive integers, with 1 or 3 channels"),
    ("input_shape", (16, 16, 2), "(height, width, channels): positive integers, with 1 or 3 channels"),
    ("input_shape", (16, 16, True), "(height, width, channels): positive integers, with 1 or 3 channels"),
    ("num_classes", 1, "an integer >= 2"),
    ("attention", "CBAM", "one of ('cbam', None)"),
    ("attention", ["cbam"], "one of ('cbam', None)"),
    ("spatial_kernel_size", 4, "a positive odd integer"),
    ("uncertainty_mixing", "no", "a bool"),
    ("uncertainty_mixing", 0, "a bool"),
    ("stem", None, "one of ('imagenet', 'compact', 'small')"),
    ("width", 8.0, "an integer >= 1"),
    ("blocks_per_stage", 2, "a non-empty sequence of positive integers"),
    ("blocks_per_stage", (), "a non-empty sequence of positive integers"),
    ("blocks_per_stage", (1, 0), "a non-empty sequence of positive integers"),
    ("feature_dim", 0, "an integer >= 1"),
    ("dropout", True, "a number in [0, 1)"),
    ("dropout", 1.0, "a number in [0, 1)"),
    ("seed", "1", "an integer or None"),
    ("name", "", "a non-empty string"),
]


@pytest.mark.parametrize("argument, value, expected", BAD_ARGUMENTS, ids=[f"{argument}={value!r}" for argument, value, _ in BAD_ARGUMENTS])
def test_each_bad_argument_is_a_value_error_naming_it(argument, value, expected):
    with pytest.raises(ValueError, match=f"^{re.escape(f'`{argument}` must be {expected}. Received: {argument}={value!r}')}$"):
        tiny_resnet(**{argument: value})


def test_a_model_trained_on_upsampled_faces_moves_the_upsampling_inside(tmp_path):
    # tools/internal_size.py: how the shipped models trained at 64x64 on 48x48 faces take 48x48 faces.
    from keras_fer.training import load_config

    tool = runpy.run_path(str(Path(__file__).resolve().parents[1] / "tools" / "internal_size.py"))
    config = load_config("synthetic", ["model.input_shape=[40, 40, 1]", "model.uncertainty_mixing=false", "model.spatial_kernel_size=3"])
    source = from_preset("tiny", input_shape=(40, 40, 1), uncertainty_mixing=False, spatial_kernel_size=3, seed=1)
    model = tool["with_internal_size"](config, source, 32)
    faces = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 1)).astype("float32")
    upsampled = keras.ops.convert_to_numpy(keras.ops.image.resize(faces, (40, 40), interpolation="bilinear"))
    assert model.input_shape == (None, 32, 32, 1) and len(model.weights) == len(source.weights)
    np.testing.assert_allclose(model.predict(faces, verbose=0), source.predict(upsampled, verbose=0), atol=1e-6)


def test_averaged_weights_are_the_mean_of_each_weight_and_other_architectures_are_refused(tmp_path, monkeypatch, capsys):
    # tools/average_weights.py: the uniform "soup" of runs tried for the FER+ card.
    tool = runpy.run_path(str(Path(__file__).resolve().parents[1] / "tools" / "average_weights.py"))
    models = [tiny_resnet(seed=seed) for seed in (1, 2, 3)]
    soup = tool["average_weights"](models)
    for averaged, *weights in zip(soup.weights, *(model.weights for model in models)):
        expected = np.mean([keras.ops.convert_to_numpy(weight) for weight in weights], axis=0)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(averaged), expected, rtol=1e-6, atol=1e-7)
    assert soup is not models[0] and not np.allclose(soup.weights[0], models[0].weights[0])
    with pytest.raises(ValueError, match="is not of .* architecture: its weights' names or shapes differ"):
        tool["average_weights"]([models[0], tiny_resnet(width=4)])
    # The file to write must be new: a user's file is never overwritten.
    paths = [tmp_path / "a.keras", tmp_path / "b.keras"]
    for model, path in zip(models, paths):
        model.save(path)
    before = paths[1].read_bytes()
    monkeypatch.setattr("sys.argv", ["average_weights.py", str(paths[0]), str(paths[1]), str(paths[1])])
    with pytest.raises(SystemExit) as exit_info:
        tool["main"]()
    assert exit_info.value.code == 2 and paths[1].read_bytes() == before
    assert f"the last path must be a new .keras file. Received: {paths[1]}" in capsys.readouterr().err
    # A config whose training faces cannot be read is one line naming it; nothing is written.
    monkeypatch.setattr("sys.argv", ["average_weights.py", str(paths[0]), str(paths[1]), str(tmp_path / "x.keras"), "--recalibrate", "nope"])
    with pytest.raises(SystemExit):
        tool["main"]()
    assert "--recalibrate nope: " in capsys.readouterr().err and not (tmp_path / "x.keras").exists()
    # --recalibrate: the statistics are re-estimated on the config's training faces (the synthetic set here), the rest is the mean.
    out = tmp_path / "soup.keras"
    monkeypatch.setattr("sys.argv", ["average_weights.py", str(paths[0]), str(paths[1]), str(out), "--recalibrate", "synthetic"])
    tool["main"]()
    assert "batch-norm statistics re-estimated over" in capsys.readouterr().out
    written, plain = keras.saving.load_model(out), tool["average_weights"](models[:2])
    for averaged, expected in zip(written.weights, plain.weights):
        close = np.allclose(keras.ops.convert_to_numpy(averaged), keras.ops.convert_to_numpy(expected), rtol=1e-6, atol=1e-7)
        assert close != ("moving_" in averaged.path), averaged.path


def test_pixel_normalization_uses_imagenet_statistics():
    model = tiny_resnet(input_shape=(16, 16, 3))
    pixels = np.array([[[[0.0, 127.5, 255.0]]]], "float32")
    normalised = model.get_layer("pixel_normalization")(pixels)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(normalised[0, 0, 0], (pixels[0, 0, 0] / 255 - mean) / std, rtol=1e-5)


@pytest.mark.parametrize("label_format", ["integer", "one_hot", "soft"])
def test_fit_with_mixing_accepts_each_label_format(label_format):
    labels = {
        "integer": LABELS,
        "one_hot": np.eye(3)[LABELS],
        "soft": np.random.default_rng(0).dirichlet(np.ones(3), len(LABELS)),
    }[label_format]
    model = tiny_resnet()
    model.compile("adam", ClassBalancedLoss([3, 3, 2]))
    before = [w.numpy().copy() for w in model.trainable_weights]
    fit_with_finite_loss(model, random_images(8), labels, batch_size=4)
    changed = [not np.allclose(a, b.numpy()) for a, b in zip(before, model.trainable_weights)]
    assert all(changed)


def test_training_loss_uses_targets_mixed_like_features():
    model = tiny_resnet()
    model.compile("adam", "categorical_crossentropy")
    images = random_images(8)
    probabilities = model(images, training=True)
    partner = mixing_partner(model.mixing_layer)
    targets = np.eye(3)[LABELS]
    expected = numpy_categorical_crossentropy(0.5 * targets + 0.5 * targets[partner], probabilities).mean()
    loss = model.compute_loss(x=images, y=LABELS, y_pred=probabilities, training=True)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    assert np.any(partner != np.arange(8))


def test_evaluation_loss_uses_original_targets():
    model = tiny_resnet()
    model.compile("adam", "categorical_crossentropy")
    images = random_images(8)
    probabilities = model(images, training=False)
    expected = numpy_categorical_crossentropy(np.eye(3)[LABELS], probabilities).mean()
    loss = model.compute_loss(x=images, y=LABELS, y_pred=probabilities, training=False)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_predict_needs_no_labels_and_does_not_mix():
    model = tiny_resnet()
    images = random_images(8)
    first = model.predict(images, verbose=0)
    np.testing.assert_allclose(first.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(first, model.predict(images, verbose=0))
    np.testing.assert_allclose(first, model(images, training=False), rtol=1e-6)


def test_fit_with_xla_and_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    model = tiny_resnet()
    assert model.get_layer("stage1_block1_cbam").compute_dtype == "float16"
    assert model.output.dtype == "float32"
    model.compile("adam", ClassBalancedLoss([3, 3, 2]), jit_compile=True)
    fit_with_finite_loss(model, random_images(8), LABELS, batch_size=4, epochs=2)


def test_plain_model_trains_with_sparse_loss_and_round_trips(tmp_path):
    model = tiny_resnet(attention=None, uncertainty_mixing=False)
    assert model.mixing_layer is None
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    fit_with_finite_loss(model, random_images(8), LABELS)
    loaded = run_model_saving_test(model, random_images(4, seed=1), tmp_path)
    assert isinstance(loaded, FERModel) and loaded.mixing_layer is None


def _add_up_reference(per_sample, labels, partner, weights=None):
    """`0.5 * mean(w_i L(y_i)) + 0.5 * mean(w_j L(y_j))` in NumPy, `per_sample(labels)` giving `L` per sample."""
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, "float64")
    return 0.5 * np.mean(weights * per_sample(labels)) + 0.5 * np.mean(weights[partner] * per_sample(labels[partner]))


@pytest.mark.parametrize(
    "loss, per_sample",
    [
        ("sparse_categorical_crossentropy", lambda p: lambda y: -np.log(p[np.arange(len(y)), y])),
        (keras.losses.SparseCategoricalCrossentropy(), lambda p: lambda y: -np.log(p[np.arange(len(y)), y])),
        ("categorical_crossentropy", lambda p: lambda y: -np.log(p[np.arange(len(y)), y])),
        (ClassBalancedLoss([3, 3, 2]), lambda p: lambda y: np.asarray(class_balanced_weights([3, 3, 2]))[y] * -np.log(p[np.arange(len(y)), y])),
        ("mean_squared_error", lambda p: lambda y: np.mean((np.eye(3)[y] - p) ** 2, axis=-1)),
    ],
    ids=["sparse-name", "sparse-object", "categorical", "class-balanced", "mse"],
)
def test_mixing_trains_with_the_add_up_loss_of_any_keras_loss(loss, per_sample):
    model = tiny_resnet()
    model.compile("adam", loss)
    images = random_images(8)
    y_pred = model(images, training=True)
    partner = keras.ops.convert_to_numpy(model.mixing_layer.partner)
    probabilities = keras.ops.convert_to_numpy(y_pred).astype("float64")
    computed = float(model.compute_loss(images, LABELS, y_pred, training=True))
    assert computed == pytest.approx(_add_up_reference(per_sample(probabilities), LABELS, partner), rel=1e-5)
    weights = np.arange(1.0, 9.0)
    computed = float(model.compute_loss(images, LABELS, y_pred, sample_weight=weights, training=True))
    assert computed == pytest.approx(_add_up_reference(per_sample(probabilities), LABELS, partner, weights), rel=1e-5)
    fit_with_finite_loss(model, images, LABELS, batch_size=4)


def test_add_up_loss_equals_the_mixed_target_loss_for_cross_entropy():
    model = tiny_resnet()
    model.compile("adam", "sparse_categorical_crossentropy")
    images = random_images(8)
    y_pred = model(images, training=True)
    mixed = model.mixing_layer.mix_targets(keras.ops.one_hot(LABELS, 3))
    expected = keras.losses.categorical_crossentropy(mixed, y_pred)
    computed = model.compute_loss(images, LABELS, y_pred, training=True)
    assert float(computed) == pytest.approx(float(keras.ops.mean(expected)), rel=1e-5)


def test_evaluation_takes_labels_in_the_loss_format():
    model = tiny_resnet()
    model.compile("adam", "sparse_categorical_crossentropy")
    sparse = model.evaluate(random_images(8), LABELS, verbose=0)
    model.compile("adam", "categorical_crossentropy")
    assert model.evaluate(random_images(8), LABELS, verbose=0) == pytest.approx(sparse, rel=1e-5)


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"input_shape": (16, 16, 2)}, "1 or 3 channels"),
        ({"input_shape": (16, 16)}, "1 or 3 channels"),
        ({"attention": "se"}, "attention='se'"),
        ({"stem": "tiny"}, "stem='tiny'"),
        ({"spatial_kernel_size": 4}, "spatial_kernel_size=4"),
        ({"spatial_kernel_size": 0}, "spatial_kernel_size=0"),
        ({"num_classes": 1}, "num_classes=1"),
        ({"width": 0}, "width=0"),
        ({"feature_dim": 2.0}, "feature_dim=2.0"),
        ({"blocks_per_stage": ()}, "blocks_per_stage=()"),
        ({"blocks_per_stage": (2, 0)}, "blocks_per_stage=\\(2, 0\\)"),
        ({"dropout": 1.0}, "dropout=1.0"),
    ],
)
def test_invalid_arguments_raise(arguments, message):
    with pytest.raises(ValueError, match=message):
        tiny_resnet(**arguments)


def test_evaluate_mixing_model_with_integer_labels():
    model = tiny_resnet()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    images = random_images(8)
    expected = numpy_categorical_crossentropy(np.eye(3)[LABELS], model.predict(images, verbose=0)).mean()
    results = model.evaluate(images, LABELS, batch_size=8, return_dict=True, verbose=0)
    np.testing.assert_allclose(results["loss"], expected, rtol=1e-5)
