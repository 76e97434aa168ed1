"""Where a model looks: CBAM spatial attention and Grad-CAM heatmaps of face crops."""

import keras
import numpy as np
from PIL import Image, ImageDraw

from keras_fer.backend import check_tensorflow_backend
from keras_fer.layers import CBAMBlock

GRAD_CAM = "Grad-CAM (--explain, Recognizer.explain)"  # what check_tensorflow_backend names


class Explainer:
    """Heatmaps of a keras-fer model's last stage for batches of faces.

    - attention: the spatial attention map of the last `CBAMBlock` (values in
      `[0, 1]`, 1 = kept), `None` for models without CBAM;
    - Grad-CAM (Selvaraju et al., ICCV 2017) of the predicted class on the
      output of the last residual block (its last ReLU), scaled to `[0, 1]`.

    The last stage is 1/16 of the side the stem sees (3x3 for the `fer2013`
    preset's 48x48, 4x4 with `internal_size` 64x64), so the maps are coarse.

    Args:
        model: a Keras model from `keras_fer.models` (a `classifier` Dense
            layer gives the class scores).

    Example:

    ```python
    explainer = Explainer(keras.models.load_model("model.keras"))
    probabilities, attention, gradcam = explainer(faces)  # faces: (n, 48, 48, 1) in [0, 255]
    ```
    """

    def __init__(self, model):
        check_tensorflow_backend(GRAD_CAM)
        layers = model.layers
        features = [layer for layer in layers if isinstance(layer, keras.layers.ReLU) and len(layer.output.shape) == 4][-1]
        cbams = [layer for layer in layers if isinstance(layer, CBAMBlock)]
        self.cbam = cbams[-1] if cbams else None
        scores = model.get_layer("classifier").output if "classifier" in {layer.name for layer in layers} else model.output
        self.body = keras.Model(model.input, [features.output] + ([self.cbam.input] if self.cbam else []))
        self.head = keras.Model(features.output, [scores, model.output])

    def __call__(self, images):
        """`(probabilities, attention, gradcam)` for float images `(n, H, W, C)` in `[0, 255]`.

        `attention` and `gradcam` are `(n, h, w)` at the last stage's
        resolution; `attention` is `None` without CBAM.
        """
        import tensorflow as tf

        outputs = self.body(tf.convert_to_tensor(images, "float32"), training=False)
        features, *block_input = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        with tf.GradientTape() as tape:
            tape.watch(features)
            scores, probabilities = self.head(features, training=False)
            predicted = tf.argmax(probabilities, axis=-1)
            chosen = tf.gather(scores, predicted, batch_dims=1)
        gradients = tape.gradient(chosen, features)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        gradcam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1)).numpy()
        gradcam /= np.maximum(gradcam.max(axis=(1, 2), keepdims=True), 1e-12)
        attention = np.asarray(self.cbam.spatial_attention(block_input[0]))[..., 0] if self.cbam else None
        return np.asarray(probabilities), attention, gradcam


def resize_map(heatmap, size):
    """A `(h, w)` map resized bilinearly to `size = (width, height)`."""
    return np.asarray(Image.fromarray(np.asarray(heatmap, "float32"), mode="F").resize(size, Image.BILINEAR))


def overlay(rgb, heatmap, alpha=0.5):
    """The heatmap, stretched to its own range, coloured and blended onto an RGB uint8 image."""
    from matplotlib import colormaps

    low, high = float(np.min(heatmap)), float(np.max(heatmap))
    stretched = (heatmap - low) / (high - low) if high > low else np.zeros_like(heatmap)
    colours = colormaps["jet"](resize_map(stretched, (rgb.shape[1], rgb.shape[0])))[..., :3] * 255
    return np.clip((1 - alpha) * rgb + alpha * colours, 0, 255).astype("uint8")


def explanation_image(face, size=144):
    """A strip for one explained face: the crop, its attention overlay and its Grad-CAM overlay, labelled."""
    panels = [("face", face["face"])]
    if face["attention"] is not None:
        panels.append(("CBAM attention", overlay(face["face"], face["attention"])))
    panels.append((f"Grad-CAM: {face['label']}", overlay(face["face"], face["gradcam"])))
    strip = Image.new("RGB", (size * len(panels), size + 18), "white")
    draw = ImageDraw.Draw(strip)
    for index, (title, pixels) in enumerate(panels):
        strip.paste(Image.fromarray(pixels).resize((size, size), Image.BILINEAR), (index * size, 18))
        draw.text((index * size + 4, 3), title, fill="black")
    return strip
