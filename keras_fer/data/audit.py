"""Data audit: class counts, pixel-identical duplicates, constant images."""

import collections
import hashlib


def audit(splits):
    """Audits the splits of a dataset before anyone trains on it.

    Args:
        splits: dict of split name -> `FERDataset`, all with the same
            class names, e.g. `{"train": ..., "val": ...}`.

    Returns:
        A JSON-serialisable dict:
        - `class_counts`: per split, per class name, the number of images;
        - `duplicate_groups`: groups of two or more pixel-identical images,
          each a list of `[split, source, class name]`;
        - `duplicates_within_split` / `duplicates_across_splits`: how many
          groups stay inside one split / span several;
        - `conflicting_label_groups`: the groups whose images have different
          labels;
        - `constant_images`: `[split, source, pixel value]` of images whose
          pixels are all equal (blank, e.g. all black).

    Example:

    >>> import numpy as np
    >>> from keras_fer.data.dataset import FERDataset
    >>> images = np.zeros((3, 2, 2, 1), "uint8")
    >>> images[2] = [[[1], [2]], [[3], [4]]]
    >>> data = FERDataset(images, np.array([0, 1, 1], "int32"), ("a", "b"), ("x", "y", "z"))
    >>> report = audit({"train": data})
    >>> report["conflicting_label_groups"], report["constant_images"]
    ([[['train', 'x', 'a'], ['train', 'y', 'b']]], [['train', 'x', 0], ['train', 'y', 0]])
    """
    class_names = _common_class_names(splits)
    groups = collections.defaultdict(list)
    constant = []
    for split, dataset in splits.items():
        sources = dataset.sources or tuple(str(i) for i in range(dataset.num_examples))
        for image, label, source in zip(dataset.images, dataset.labels, sources):
            groups[hashlib.blake2b(image.tobytes(), digest_size=16).digest()].append([split, source, class_names[int(label)]])
            if image.min() == image.max():
                constant.append([split, source, int(image.flat[0])])
    duplicates = [members for members in groups.values() if len(members) > 1]
    across = [members for members in duplicates if len({m[0] for m in members}) > 1]
    return {
        "class_counts": {split: dict(zip(class_names, dataset.class_counts)) for split, dataset in splits.items()},
        "duplicate_groups": duplicates,
        "duplicates_within_split": len(duplicates) - len(across),
        "duplicates_across_splits": len(across),
        "conflicting_label_groups": [m for m in duplicates if len({entry[2] for entry in m}) > 1],
        "constant_images": constant,
    }


def _common_class_names(splits):
    names = {tuple(dataset.class_names) for dataset in splits.values()}
    if len(names) != 1:
        raise ValueError(f"All splits must share their class names. Received: {sorted(names)}")
    if any(dataset.labels.ndim != 1 for dataset in splits.values()):
        raise ValueError("`audit` needs integer labels; soft (probability) labels are not supported yet.")
    return names.pop()
